// A small seeded generator (mulberry32) for the benchmarks: the same seed gives the same
// corpus, kill schedule or query list on every run.
export type Rng = () => number;

/** mulberry32: small, fast, good enough for sampling. */
export function rng(seed: number): Rng {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
