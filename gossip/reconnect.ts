/**
 * Reconnecting: one push-pull per reconnect interval towards a member that is down, or a seed
 * nobody holds, so partitions heal (as serf does), a member that came back unheard is found
 * again, and a cluster restarted whole while split finds its other side. Push-pull owns the
 * exchanges; this owns which address is tried, and the seeds.
 *
 * @module
 */
import { isLive } from "../lib/cluster/membership.ts";
import type { MemberEntry } from "./members.ts";
import type { EngineHost } from "./host.ts";

/** What reconnecting needs from push-pull. */
export interface ReconnectExchanges {
  /** A random entry of the table, not this member's, that `accept` takes. */
  randomPeer(accept: (e: MemberEntry) => boolean): MemberEntry | undefined;
  /** Whether a full exchange with `address` is under way. */
  exchanging(address: string): boolean;
  /** Starts a full exchange with `address` (in the background). */
  exchange(address: string): void;
}

/** The reconnect ticks of one member, and its seeds. */
export class Reconnector {
  readonly #h: EngineHost;
  readonly #ops: ReconnectExchanges;
  readonly #own: string;
  /** Addresses tried while alone and, unheard, at reconnect ticks (see {@link forgetSeed}). */
  readonly #seeds: string[];
  /** When this member was created (ms, its clock): seeds unheard for a reconnect timeout go. */
  readonly #createdAt: number;
  /** The seed tried last while alone (see {@link tick}); -1 before the first. */
  #seedTurn = -1;

  /**
   * `own`: this member's address (never a target); `seeds`: the addresses joined at the start
   * (the members it remembered), tried again at reconnect ticks while alone, or while nobody in
   * the table holds their address.
   */
  constructor(
    host: EngineHost,
    addresses: { own: string; seeds: readonly string[] },
    exchanges: ReconnectExchanges,
  ) {
    this.#h = host;
    this.#ops = exchanges;
    this.#own = addresses.own;
    this.#seeds = [...new Set(addresses.seeds)].filter((a) => a !== addresses.own);
    this.#createdAt = host.clock.now();
  }

  /** The seeds still tried (see {@link forgetSeed}). */
  get seeds(): readonly string[] {
    return this.#seeds;
  }

  /**
   * One tick: tries one member that is down, so partitions heal (as serf does) and a member
   * that came back unheard is found; while alone, the next seed instead.
   *
   * Down is dead, or left but still a member: a member that stopped gracefully comes back by a
   * restart, and when every push-pull of that restart was lost it holds nobody to probe, so
   * only the others can find it again. Names no longer members are never tried.
   *
   * Alone, the seeds are tried in turn (from a random one), so each is tried within as many
   * ticks as there are seeds: a seed may be a member removed while this one was away, and
   * drawing at random could pick that one tick after tick. Not alone, the seeds nobody in the
   * table holds count as down members (see {@link #unheardSeeds}).
   */
  tick(): void {
    const h = this.#h;
    const table = h.state.table;
    if (table.live <= 1 && this.#seeds.length) {
      const n = this.#seeds.length;
      this.#seedTurn = this.#seedTurn < 0 ? h.random.int(n) : (this.#seedTurn + 1) % n;
      this.#tryAgain(this.#seeds[this.#seedTurn]);
      return;
    }
    const down = table.size - table.live;
    const unheard = this.#unheardSeeds();
    if (down + unheard.length === 0) return;
    // Each member tries with probability down/live, so the cluster as a whole tries about one
    // member that is down per interval instead of every member hammering every one of them.
    if (h.random.next() > (down + unheard.length) / Math.max(1, table.live)) return;
    const pick = h.random.int(down + unheard.length);
    if (pick < unheard.length) return this.#tryAgain(unheard[pick]);
    const peer = this.#ops.randomPeer((e) => !isLive(e.state) && h.state.isMember(e.name));
    if (peer) this.#tryAgain(peer.address);
  }

  /**
   * The seeds at whose address the table holds nobody: members this one remembered at its start
   * that it has not heard of since. A cluster restarted whole while split in two holds, on each
   * side, only the members of that side: without these, no reconnect tick would ever try the
   * other side. A seed that is gone for good costs a refused connection when drawn.
   */
  #unheardSeeds(): string[] {
    if (this.#seeds.length === 0) return [];
    const table = this.#h.state.table;
    const held = new Set<string>();
    for (let i = 0; i < table.slots; i++) {
      const e = table.at(i);
      if (e) held.add(e.address);
    }
    const unheard = this.#seeds.filter((a) => !held.has(a));
    if (
      unheard.length && this.#h.clock.now() - this.#createdAt >= this.#h.config.reconnectTimeoutMs
    ) {
      // Unheard for as long as a dead member is tried: gone for good (removed while this member
      // was down, or an address retired), as a reaped member is. The last seed stays for the
      // reconnect ticks of a member left alone (see forgetSeed).
      for (const a of unheard) this.forgetSeed(a);
      return [];
    }
    return unheard;
  }

  /**
   * Stops trying `address` as a seed: its member was reaped (dead or left past its timeout, or
   * removed), so the table no longer holds it and it would otherwise count as unheard for as long
   * as this member runs: a refused connection at about every reconnect tick cluster-wide.
   * While this member is alone it keeps at least its last seed, its only way back.
   */
  forgetSeed(address: string): void {
    const i = this.#seeds.indexOf(address);
    if (i < 0 || this.#seeds.length === 1) return;
    this.#seeds.splice(i, 1);
    if (this.#seedTurn >= i) this.#seedTurn--;
  }

  /**
   * A reconnect attempt at `address`, over a new connection: the one held may have outlived a
   * partition, and what goes on it then reaches the peer only at TCP's next retransmission, up
   * to tens of seconds after the path healed (memberlist dials a new TCP connection for every
   * push-pull). An attempt still under way keeps its connection.
   */
  #tryAgain(address: string): void {
    if (address === this.#own || this.#ops.exchanging(address)) return;
    this.#h.redial(address);
    this.#ops.exchange(address);
  }
}
