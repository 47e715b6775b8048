/**
 * A small seeded pseudo-random generator (sfc32, seeded through splitmix32) and the sampling
 * helpers the engine needs. Not for cryptography.
 *
 * @module
 */
import type { Random } from "../lib/cluster/membership.ts";

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

/** Shuffles `items` in place (Fisher–Yates) and returns it. */
export function shuffle<T>(items: T[], random: Random): T[] {
  for (let i = items.length - 1; i > 0; i--) {
    const j = random.int(i + 1);
    const tmp = items[i];
    items[i] = items[j];
    items[j] = tmp;
  }
  return items;
}

/**
 * Picks up to `k` distinct items of `items` that satisfy `accept`, uniformly at random, in
 * O(k) expected time when most items qualify (random probes, then a scan for sparse pools).
 */
export function pickRandom<T>(
  items: readonly T[],
  k: number,
  random: Random,
  accept: (item: T) => boolean,
): T[] {
  const out: T[] = [];
  const n = items.length;
  if (k <= 0 || n === 0) return out;
  const tries = 3 * k + 3;
  for (let t = 0; t < tries && out.length < k; t++) {
    const item = items[random.int(n)];
    if (accept(item) && !out.includes(item)) out.push(item);
  }
  if (out.length < k) {
    // Sparse pool (most members dead or excluded): fall back to a scan from a random offset.
    const start = random.int(n);
    for (let i = 0; i < n && out.length < k; i++) {
      const item = items[(start + i) % n];
      if (accept(item) && !out.includes(item)) out.push(item);
    }
  }
  return out;
}
