/**
 * The random source injected into the gossip engine ({@link Random}), so that a seeded one
 * (`gossip/random.ts`) makes a simulation replay.
 *
 * @module
 */

/** A seeded pseudo-random source. */
export interface Random {
  /** A float in [0, 1). */
  next(): number;
  /** An integer in [0, n). */
  int(n: number): number;
}
