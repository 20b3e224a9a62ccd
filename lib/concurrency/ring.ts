/**
 * A growable ring of (offset, state) pairs with strictly increasing offsets, for `CommitWindow`.
 * Appends at the tail and removals at the head are O(1) amortized (capacity doubles when full).
 */
export class OffsetRing {
  #offsets = new Float64Array(16);
  #states = new Uint8Array(16);
  #mask = 15;
  #head = 0;
  #size = 0;

  get size(): number {
    return this.#size;
  }

  push(offset: number, state: number): void {
    if (this.#size === this.#offsets.length) this.#grow();
    const slot = (this.#head + this.#size) & this.#mask;
    this.#offsets[slot] = offset;
    this.#states[slot] = state;
    this.#size++;
  }

  shift(): void {
    this.#head = (this.#head + 1) & this.#mask;
    this.#size--;
  }

  offsetAt(i: number): number {
    return this.#offsets[(this.#head + i) & this.#mask]!;
  }

  stateAt(i: number): number {
    return this.#states[(this.#head + i) & this.#mask]!;
  }

  setState(i: number, state: number): void {
    this.#states[(this.#head + i) & this.#mask] = state;
  }

  /**
   * Position of `offset` in the ring, or -1. Offsets are distinct increasing integers, so `offset`
   * sits at most `offset - first` places after the head and at most `last - offset` places before
   * the tail. Without gaps on one side that bound is exact (one probe, the common case); with gaps on
   * both sides it falls back to a binary search between the two bounds.
   */
  indexOf(offset: number): number {
    if (this.#size === 0) return -1;
    const first = this.offsetAt(0);
    const last = this.offsetAt(this.#size - 1);
    if (offset < first || offset > last) return -1;
    let hi = Math.min(offset - first, this.#size - 1);
    if (this.offsetAt(hi) === offset) return hi;
    let lo = Math.max(this.#size - 1 - (last - offset), 0);
    if (this.offsetAt(lo) === offset) return lo;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      const at = this.offsetAt(mid);
      if (at === offset) return mid;
      if (at < offset) lo = mid + 1;
      else hi = mid - 1;
    }
    return -1;
  }

  #grow(): void {
    const n = this.#offsets.length;
    const offsets = new Float64Array(n * 2);
    const states = new Uint8Array(n * 2);
    for (let i = 0; i < this.#size; i++) {
      offsets[i] = this.offsetAt(i);
      states[i] = this.stateAt(i);
    }
    this.#offsets = offsets;
    this.#states = states;
    this.#mask = n * 2 - 1;
    this.#head = 0;
  }
}
