/**
 * One `abort` listener per AbortSignal, however many offloop operations wait on it.
 *
 * A service typically passes one long-lived signal (a shutdown signal, a request's signal) to
 * many calls at once. Each `addEventListener` on an AbortSignal counts towards Node's
 * max-listeners limit (10), past which Node prints a `MaxListenersExceededWarning` for what is
 * not a leak. So offloop adds one listener of its own per signal, keeps the callbacks waiting on
 * it in a set, and removes the listener again when the last one stops waiting.
 */

interface Watch {
  readonly callbacks: Set<() => void>;
  readonly listener: () => void;
}

const watches = new WeakMap<AbortSignal, Watch>();

/**
 * Calls `onAbort` once when `signal` aborts (at once, if it already has); returns the function
 * that stops waiting. Callbacks run in the order they were added.
 */
export function watchAbort(signal: AbortSignal, onAbort: () => void): () => void {
  if (signal.aborted) {
    onAbort();
    return noop;
  }
  let watch = watches.get(signal);
  if (watch === undefined) {
    const callbacks = new Set<() => void>();
    const listener = (): void => {
      watches.delete(signal);
      // A snapshot: a callback may stop another's wait, or start a new one (which sees `aborted`).
      // One that throws must not keep the others from running: its error is reported the way an
      // event listener's would be (as an uncaught exception), after the rest have run.
      for (const f of Array.from(callbacks)) {
        if (!callbacks.delete(f)) continue;
        try {
          f();
        } catch (error) {
          queueMicrotask(() => {
            throw error;
          });
        }
      }
    };
    watch = { callbacks, listener };
    watches.set(signal, watch);
    signal.addEventListener('abort', listener, { once: true });
  }
  // A wrapper per wait, so the same function may wait twice and each stop removes its own.
  const entry = (): void => onAbort();
  const w = watch;
  w.callbacks.add(entry);
  return () => {
    if (!w.callbacks.delete(entry) || w.callbacks.size > 0) return;
    if (watches.get(signal) === w) watches.delete(signal);
    signal.removeEventListener('abort', w.listener);
  };
}

function noop(): void {}
