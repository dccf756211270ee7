/**
 * Test-only (the API's and the console's fuzz tests): a seeded PRNG, so that
 * a failure, which names the seed, reproduces with HERALD_FUZZ_SEED, and the
 * odd values both try.
 */

/** HERALD_FUZZ_SEED, or the fixed default both fuzz tests run with. */
export const FUZZ_SEED = Number(process.env.HERALD_FUZZ_SEED ?? 20261130);

function mulberry32(seed: number) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** One sequence of its own from `seed`: a whole number below `max`, an item of `items`, true with probability `p`. */
export function seededRandom(seed: number) {
  const random = mulberry32(seed);
  const int = (max: number) => Math.floor(random() * max);
  const pick = <T>(items: readonly T[]): T => items[int(items.length)] as T;
  const chance = (p: number) => random() < p;
  return { int, pick, chance };
}

/** Numbers a parser may read as more (or other) than text, and broken percent-escapes: odd values both fuzz tests try. */
export const ODD_NUMBERS_AND_ESCAPES = ["0", "-1", "1e309", "NaN", "true", "%", "%ZZ", "%00"];
