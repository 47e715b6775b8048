/**
 * A small seeded pseudo-random generator (sfc32, seeded through splitmix32) and the sampling
 * helpers the engine needs. Not for cryptography.
 *
 * @module
 */
import type { Random } from "../lib/cluster/random.ts";

function splitmix32(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x9e3779b9) >>> 0;
    let z = s;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
    return (z ^ (z >>> 16)) >>> 0;
  };
}

/**
 * Creates a deterministic generator from a 32-bit seed: the same seed gives the same sequence
 * in every runtime.
 */
export function createRandom(seed: number): Random {
  const init = splitmix32(seed);
  let a = init(), b = init(), c = init(), d = init();
  const next = (): number => {
    // sfc32: fast, 128-bit state, passes PractRand far beyond what a simulation needs.
    const t = (((a + b) >>> 0) + d) >>> 0;
    d = (d + 1) >>> 0;
    a = b ^ (b >>> 9);
    b = (c + (c << 3)) >>> 0;
    c = (c << 21) | (c >>> 11);
    c = (c + t) >>> 0;
    return t / 4294967296;
  };
  for (let i = 0; i < 12; i++) next();
  return { next, int: (n: number) => Math.floor(next() * n) };
}

/** A non-deterministic generator for production (seeded from `Math.random`). */
export function defaultRandom(): Random {
  return createRandom(Math.floor(Math.random() * 4294967296));
}

/**
 * Picks up to `k` distinct items of the `n` slots of `at` (a slot may be empty) that satisfy
 * `accept`, uniformly at random, in O(k) expected time when most slots qualify (random probes,
 * then a scan from a random offset for sparse pools).
 */
export function pickRandom<T>(
  n: number,
  at: (i: number) => T | undefined,
  k: number,
  random: Random,
  accept: (item: T) => boolean,
): T[] {
  const out: T[] = [];
  if (k <= 0 || n === 0) return out;
  const tries = 3 * k + 3;
  for (let t = 0; t < tries && out.length < k; t++) {
    const item = at(random.int(n));
    if (item !== undefined && accept(item) && !out.includes(item)) out.push(item);
  }
  if (out.length < k) {
    // Sparse pool (most members dead or excluded): fall back to a scan from a random offset.
    const start = random.int(n);
    for (let i = 0; i < n && out.length < k; i++) {
      const item = at((start + i) % n);
      if (item !== undefined && accept(item) && !out.includes(item)) out.push(item);
    }
  }
  return out;
}

/**
 * A random order of `0 … n − 1`, produced one index at a time in O(1) memory: a 4-round Feistel
 * network keyed from `random` permutes the smallest power of 4 at least `n` (under 4n), and the
 * values beyond `n` are skipped. The prober walks its members in such an order, a fresh one per
 * round (memberlist shuffles a copy of its node list instead: N entries per member).
 */
export class RandomOrder {
  readonly #n: number;
  readonly #half: number;
  readonly #mask: number;
  readonly #domain: number;
  readonly #keys: number[];
  #i = 0;
  /** Indexes produced so far. */
  produced = 0;

  constructor(n: number, random: Random) {
    this.#n = n;
    let half = 1;
    while (4 ** half < n) half++;
    this.#half = half;
    this.#mask = (1 << half) - 1;
    this.#domain = 4 ** half;
    this.#keys = [0, 1, 2, 3].map(() => Math.floor(random.next() * 4294967296) >>> 0);
  }

  /** Size of the order (its `n`). */
  get size(): number {
    return this.#n;
  }

  /** The next index, or `-1` once all `n` were produced. */
  next(): number {
    while (this.#i < this.#domain) {
      const v = this.#permute(this.#i++);
      if (v < this.#n) {
        this.produced++;
        return v;
      }
    }
    return -1;
  }

  #permute(x: number): number {
    const half = this.#half;
    const mask = this.#mask;
    let l = x >>> half;
    let r = x & mask;
    for (const key of this.#keys) {
      let z = Math.imul(r ^ key, 0x9e3779b1);
      z ^= z >>> 15;
      z = Math.imul(z, 0x85ebca6b);
      z ^= z >>> 13;
      const next = (l ^ z) & mask;
      l = r;
      r = next;
    }
    return l * (mask + 1) + r;
  }
}
