/** `TaskGraph`: run named tasks once each, as soon as their dependencies are done, with bounded concurrency. */
import { abortError, invalidArg, shown } from '../errors.js';
import { checkConcurrency, checkSignal, onAbort } from './shared.js';

/** A task's body: gets its dependencies' results keyed by dependency name. */
export type GraphTaskFn = (
  deps: Readonly<Record<string, unknown>>,
  context: { signal: AbortSignal },
) => unknown;

export interface TaskGraphRunOptions {
  /** Most tasks running at once: an integer >= 1, or `Infinity` (the default). */
  concurrency?: number;
  /** Aborting it aborts running tasks' signals, starts no more, and makes `run` reject with an AbortError. */
  signal?: AbortSignal;
}

/** Outcome of a run: each task is in exactly one of the two maps, both in `add` order. */
export interface TaskGraphResult {
  /** Each succeeded task's result. */
  results: Map<string, unknown>;
  /** Each failed task's error; a task skipped because a dependency failed has a `DependencyError`. */
  errors: Map<string, unknown>;
}

/** The error of a task that never ran because one of its dependencies failed. */
export class DependencyError extends Error {
  /** The failed dependency of this task (the first failed one in the task's `deps` order). */
  readonly dependency: string;
  /** The task whose own body failed, at the root of the chain (equals `dependency` for a direct failure). */
  readonly origin: string;

  constructor(task: string, dependency: string, origin: string, cause: unknown) {
    const via = origin === dependency ? '' : ` (failed first: "${origin}")`;
    super(`task "${task}" not run: dependency "${dependency}" failed${via}`, { cause });
    this.name = 'DependencyError';
    this.dependency = dependency;
    this.origin = origin;
  }
}

interface Task {
  name: string;
  deps: readonly string[];
  fn: GraphTaskFn;
}

/**
 * A dependency graph of async tasks. `add` them, then `run` the graph (a graph can be run more
 * than once; each run calls every task once). Unknown dependencies and cycles are found at `run`.
 */
export class TaskGraph {
  readonly #tasks = new Map<string, Task>();

  /** Adds a task with no dependencies. */
  add(name: string, fn: GraphTaskFn): this;
  /** Adds a task that runs after every task named in `deps` has succeeded. */
  add(name: string, deps: readonly string[], fn: GraphTaskFn): this;
  add(name: string, depsOrFn: readonly string[] | GraphTaskFn, maybeFn?: GraphTaskFn): this {
    const deps = typeof depsOrFn === 'function' ? [] : depsOrFn;
    const fn = typeof depsOrFn === 'function' ? depsOrFn : maybeFn;
    if (typeof name !== 'string' || name === '') throw invalidArg('task name must be a non-empty string');
    if (this.#tasks.has(name)) throw invalidArg(`duplicate task name "${name}"`);
    if (depsOrFn === undefined) throw invalidArg(`task "${name}" needs a function: add(name, fn) or add(name, deps, fn)`);
    if (!Array.isArray(deps) || deps.some((d) => typeof d !== 'string')) {
      throw invalidArg(`deps of task "${name}" must be an array of task names, got ${shown(deps)}`);
    }
    if (typeof fn !== 'function') throw invalidArg(`task "${name}" needs a function`);
    this.#tasks.set(name, { name, deps: [...new Set(deps)], fn });
    return this;
  }

  /**
   * Runs every task once, each as soon as all its dependencies have succeeded, at most `concurrency`
   * at a time. A failed task fails all its dependents (transitively) with `DependencyError`s;
   * independent tasks still run. Resolves when every task has settled. Rejects with ERR_INVALID_ARG
   * for an unknown dependency or a cycle (before running anything), or with an AbortError.
   */
  async run(options: TaskGraphRunOptions | null = {}): Promise<TaskGraphResult> {
    if (options === null || typeof options !== 'object') throw invalidArg('options must be an object');
    const concurrency = checkConcurrency(options.concurrency ?? Number.POSITIVE_INFINITY, 'concurrency', true);
    const signal = checkSignal(options.signal);
    this.#validate();
    return new GraphRun([...this.#tasks.values()], concurrency, signal).start();
  }

  #validate(): void {
    for (const task of this.#tasks.values()) {
      for (const dep of task.deps) {
        if (!this.#tasks.has(dep)) throw invalidArg(`task "${task.name}" depends on unknown task "${dep}"`);
      }
    }
    // Iterative depth-first search (deep graphs must not overflow the call stack); a dependency
    // that is still on the path closes a cycle.
    const state = new Map<string, 'active' | 'done'>();
    for (const root of this.#tasks.keys()) {
      if (state.has(root)) continue;
      const path: string[] = [root];
      const nextDep: number[] = [0];
      state.set(root, 'active');
      while (path.length > 0) {
        const top = path.length - 1;
        const name = path[top]!;
        const dep = this.#tasks.get(name)!.deps[nextDep[top]!++];
        if (dep === undefined) {
          state.set(name, 'done');
          path.pop();
          nextDep.pop();
        } else if (state.get(dep) === 'active') {
          throw invalidArg(`cycle: ${[...path.slice(path.indexOf(dep)), dep].join(' -> ')}`);
        } else if (!state.has(dep)) {
          state.set(dep, 'active');
          path.push(dep);
          nextDep.push(0);
        }
      }
    }
  }
}

/** The state of one run; separate from the graph so runs don't share anything. */
class GraphRun {
  readonly #results = new Map<string, unknown>();
  readonly #errors = new Map<string, unknown>();
  readonly #waiting = new Map<string, number>();
  readonly #dependents = new Map<string, string[]>();
  readonly #byName = new Map<string, Task>();
  readonly #ready: string[] = [];
  readonly #controller = new AbortController();
  #running = 0;
  #settled = 0;
  #aborted: unknown;
  #finish: (() => void) | undefined;

  constructor(
    private readonly tasks: Task[],
    private readonly concurrency: number,
    private readonly signal: AbortSignal | undefined,
  ) {
    for (const task of tasks) {
      this.#byName.set(task.name, task);
      this.#waiting.set(task.name, task.deps.length);
      this.#dependents.set(task.name, []);
    }
    for (const task of tasks) for (const dep of task.deps) this.#dependents.get(dep)!.push(task.name);
  }

  async start(): Promise<TaskGraphResult> {
    const done = new Promise<void>((resolve) => (this.#finish = resolve));
    const stopListening = onAbort(this.signal, () => {
      this.#aborted = abortError(this.signal);
      this.#controller.abort(this.#aborted);
      this.#checkDone();
    });
    for (const task of this.tasks) if (task.deps.length === 0) this.#ready.push(task.name);
    this.#schedule();
    this.#checkDone();
    await done;
    stopListening();
    if (this.#aborted !== undefined) throw this.#aborted;
    // Report in `add` order, whatever order tasks finished in.
    const order = (m: Map<string, unknown>): Map<string, unknown> =>
      new Map(this.tasks.filter((t) => m.has(t.name)).map((t) => [t.name, m.get(t.name)]));
    return { results: order(this.#results), errors: order(this.#errors) };
  }

  #schedule(): void {
    while (this.#aborted === undefined && this.#running < this.concurrency && this.#ready.length > 0) {
      this.#launch(this.#byName.get(this.#ready.shift()!)!);
    }
  }

  #launch(task: Task): void {
    this.#running++;
    const deps: Record<string, unknown> = {};
    // Defined, not assigned, so a task named `__proto__` reaches its dependents too.
    for (const dep of task.deps) {
      Object.defineProperty(deps, dep, { value: this.#results.get(dep), writable: true, enumerable: true, configurable: true });
    }
    const signal = this.#controller.signal;
    (async () => task.fn(Object.freeze(deps), { signal }))().then(
      (value) => this.#settle(task.name, true, value),
      (error: unknown) => this.#settle(task.name, false, error),
    );
  }

  #settle(name: string, ok: boolean, value: unknown): void {
    this.#running--;
    this.#record(name, ok, value);
    this.#schedule();
    this.#checkDone();
  }

  /**
   * Records a task's outcome and releases (or fails) the dependents whose last dependency it was.
   * A worklist rather than recursion, so a long chain of failing dependents cannot overflow the stack.
   */
  #record(name: string, ok: boolean, value: unknown): void {
    const work: [string, boolean, unknown][] = [[name, ok, value]];
    for (let item = work.pop(); item; item = work.pop()) {
      const [task, succeeded, outcome] = item;
      (succeeded ? this.#results : this.#errors).set(task, outcome);
      this.#settled++;
      for (const child of this.#dependents.get(task)!) {
        const left = this.#waiting.get(child)! - 1;
        this.#waiting.set(child, left);
        if (left > 0) continue;
        // All deps settled: the outcome is decided by the deps alone, never by which settled first.
        const failed = this.#byName.get(child)!.deps.find((d) => this.#errors.has(d));
        if (failed === undefined) {
          this.#ready.push(child);
          continue;
        }
        const cause = this.#errors.get(failed);
        const origin = cause instanceof DependencyError ? cause.origin : failed;
        work.push([child, false, new DependencyError(child, failed, origin, cause)]);
      }
    }
  }

  #checkDone(): void {
    const finished = this.#settled === this.tasks.length || (this.#aborted !== undefined && this.#running === 0);
    if (finished) this.#finish?.();
  }
}
