/**
 * The cost model behind inline-vs-offload: nanoseconds per element of each operation on one core,
 * measured on the development machine (see docs/DESIGN.md, "Inline or offload"). A call whose
 * estimate is below `inlineThresholdUs` runs on the calling thread: a pool round trip costs more.
 */
export const NS_PER_ELEMENT = Object.freeze({
  sum: 0.25,
  dot: 0.35,
  minmax: 0.3,
  reduce: 0.3,
  variance: 0.6,
  exactSum: 1.5,
  elementwise: 0.5,
  cumsum: 1.5,
  sort: 8,
  histogram: 1,
  /** matmul: per multiply-add. */
  matmul: 0.05,
  /** JSON operations: per input byte. */
  jsonParse: 2,
  jsonSelect: 1,
  jsonValidate: 0.7,
});

export function estimateUs(op: keyof typeof NS_PER_ELEMENT, elements: number): number {
  return (NS_PER_ELEMENT[op] * elements) / 1000;
}
