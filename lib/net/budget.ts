/**
 * The counter under every limit of a listener (`limits.ts`): connections, turns, body bytes.
 *
 * @module
 */

/**
 * A count shared by all peers and split per peer, each part capped (`Infinity`: uncapped).
 * A "peer" is any key: an address, or a member's certificate (`limits.ts`).
 */
export class Budget {
  #total = 0;
  readonly #perPeer = new Map<string, number>();
  constructor(readonly max: number, readonly maxPerPeer: number) {}
  /** Takes `n` for `peer`, or says which limit refuses it (then nothing is taken). */
  take(peer: string, n: number): "ok" | "peer" | "total" {
    const mine = this.#perPeer.get(peer) ?? 0;
    if (mine + n > this.maxPerPeer) return "peer";
    if (this.#total + n > this.max) return "total";
    this.#total += n;
    this.#perPeer.set(peer, mine + n);
    return "ok";
  }
  /** Gives back `n` that `peer` took. */
  give(peer: string, n: number): void {
    this.#total -= n;
    const left = (this.#perPeer.get(peer) ?? 0) - n;
    if (left > 0) this.#perPeer.set(peer, left);
    else this.#perPeer.delete(peer);
  }
  /** What `peer` holds. */
  count(peer: string): number {
    return this.#perPeer.get(peer) ?? 0;
  }
  /** What all peers hold together. */
  get total(): number {
    return this.#total;
  }
}
