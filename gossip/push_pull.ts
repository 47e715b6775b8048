/**
 * Anti-entropy: full-state push-pull exchanges with one member at a time, on join, periodically
 * and towards members that are down (reconnect), so that whatever gossip missed converges, a
 * healed partition merges back and a member that came back unheard is found again.
 *
 * A periodic exchange ships digests only: the member table's and the record table's. A peer
 * whose digests match answers with its digests alone, so a steady cluster exchanges no state;
 * on a mismatch it sends its full state and asks for the initiator's (`sw`, `rw`). A join (and a
 * reconnect) ships the whole state both ways at once.
 *
 * Full state larger than {@link CHUNK_CHARS} goes in several frames: one-way pushes (`o`) of
 * members, lists and records first, then the message itself with the rest, so the peer has
 * merged everything by the time it handles the message (frames of one connection arrive in
 * order). A cluster's state never outgrows the transport's frame limit.
 *
 * This file holds the exchanges this member opens; the ones others open are answered by
 * push_pull_answers.ts, and what either brings is merged by push_pull_merge.ts.
 *
 * @module
 */
import type { TimerHandle } from "../lib/cluster/clock.ts";
import type { ReplicatedRecord } from "../lib/cluster/replicated_record.ts";
import type { MemberEntry } from "./members.ts";
import type { PushPullMsg } from "./messages.ts";
import { pickRandom } from "./random.ts";
import type { RecordTable } from "./records.ts";
import { SyncQueue } from "./sync_queue.ts";
import { Reconnector } from "./reconnect.ts";
import { chunkPayload, type Head, type Payload, recordMessages } from "./push_pull_chunks.ts";
import { OpeningAnswers } from "./push_pull_answers.ts";
import { type MergeHost, type MergeOptions, mergePushPull } from "./push_pull_merge.ts";
import { TryLimit } from "./try_limit.ts";

/** What push-pull needs from the engine: what merging needs (see push_pull_merge.ts). */
export type PushPullHost = MergeHost;

interface Pending {
  readonly address: string;
  readonly done: (ok: boolean) => void;
  timer: TimerHandle | undefined;
}

/** Push-pull anti-entropy for one member. */
export class PushPull {
  readonly #h: PushPullHost;
  readonly #records: RecordTable;
  readonly #own: string;
  readonly #reconnect: Reconnector;
  readonly #pending = new Map<number, Pending>();
  /** Full exchanges under way, by address: a second join of one address shares the first. */
  readonly #full = new Map<string, Promise<boolean>>();
  /** Digest exchanges asked for by {@link syncSoon}, opened a few per gossip interval. */
  readonly #syncs: SyncQueue;
  /** Exchanges others opened (see push_pull_answers.ts). */
  readonly #answers: OpeningAnswers;
  /** Dead members tried on evidence they are back (see {@link revive}). */
  readonly #revived: TryLimit;
  /** Members held dead told so (see push_pull_merge.ts). */
  readonly #told: TryLimit;
  #stopped = false;

  /**
   * `own`: this member's address (never a target); `seeds`: the addresses joined at
   * {@link joinSeeds} and tried again at each reconnect interval while this member is alone.
   */
  constructor(
    host: PushPullHost,
    records: RecordTable,
    addresses: { own: string; seeds: readonly string[] },
  ) {
    this.#h = host;
    this.#records = records;
    this.#own = addresses.own;
    this.#reconnect = new Reconnector(host, addresses, {
      randomPeer: (accept) => this.#randomPeer(accept),
      exchanging: (address) => this.#full.has(address),
      exchange: (address) => void this.exchange(address, true),
    });
    this.#syncs = new SyncQueue(
      host.clock,
      host.config.gossipIntervalMs,
      (a) => void this.exchange(a, false),
    );
    this.#answers = new OpeningAnswers(host, {
      records,
      merge: (msg, sender) => this.merge(msg, { sender }),
      ship: (to, head, payload) => this.#ship(to, head, payload),
      allRecords: () => this.#allRecords(),
    });
    this.#revived = new TryLimit(host.config.requestTimeoutMs);
    this.#told = new TryLimit(host.config.requestTimeoutMs);
  }

  /** Openings dropped since creation: too many waiting, in count or in chars. */
  get openingsDropped(): number {
    return this.#answers.dropped;
  }

  /** This member's full state as a push-pull answer (what an admitting member hands a joiner). */
  exportState(): PushPullMsg {
    const { st, x } = this.#h.state.fullState();
    return { t: "pp", f: this.#h.name, s: 0, r: true, st, x, rc: this.#allRecords() };
  }

  /**
   * Exchanges full state with each of `addresses` (except this member's) at once; resolves
   * with how many answered within the request timeout.
   */
  join(addresses: readonly string[]): Promise<number> {
    const targets = addresses.filter((a) => a !== this.#own);
    if (this.#stopped || targets.length === 0) return Promise.resolve(0);
    return Promise.all(targets.map((a) => this.exchange(a, true))).then((oks) =>
      oks.filter(Boolean).length
    );
  }

  /** Joins the seeds, if any (in the background). */
  joinSeeds(): void {
    const seeds = this.#reconnect.seeds;
    if (seeds.length) void this.join(seeds);
  }

  /**
   * Compares digests with each of `addresses`, from one gossip interval from now (once the
   * bursts of what was just queued went out), a few per interval (see sync_queue.ts): a member
   * that holds the same tables answers with digests only, one that missed something converges
   * within seconds instead of at its next periodic exchange.
   */
  syncSoon(addresses: readonly string[]): void {
    if (this.#stopped) return;
    this.#syncs.add(addresses.filter((a) => a !== this.#own));
  }

  /** One periodic exchange (digests first) with a random live member. */
  periodic(): void {
    const peer = this.#randomPeer((e) => e.state === "alive");
    if (peer) void this.exchange(peer.address, false);
  }

  /** One reconnect tick (see reconnect.ts). */
  reconnect(): void {
    this.#reconnect.tick();
  }

  /** Stops trying `address` as a seed: its member was reaped (see reconnect.ts). */
  forgetSeed(address: string): void {
    this.#reconnect.forgetSeed(address);
  }

  /**
   * A frame came from `entry`, a member held dead: it is back (a healed partition, a restart).
   * Exchanges full state with it at once, as a reconnect would, so both sides learn within a
   * round trip what the other holds (each refutes what the other holds against it) instead of
   * at the next reconnect tick. At most one try per member per request timeout, and at most
   * `MAX_TRYING` members tried at once (see try_limit.ts).
   */
  revive(entry: MemberEntry): void {
    const h = this.#h;
    const now = h.clock.now();
    if (!this.#revived.mayTry(entry.name, now)) return;
    h.logger.debug("Heard from a member held dead: exchanging state", { member: entry.name });
    void this.exchange(entry.address, true);
  }

  /**
   * Starts an exchange with `address`: the full state when `full` (a join), digests otherwise.
   * Resolves `true` once answered, `false` on timeout, refusal or stop. A full exchange with an
   * address that one is already under way with shares that one's outcome: a restart's start
   * joins its seeds and then asks them again to know when one answered, and each full state
   * shipped twice cost both sides a merge of the whole table for nothing.
   */
  exchange(address: string, full: boolean): Promise<boolean> {
    if (!full || this.#stopped) return this.#exchange(address, full);
    let shared = this.#full.get(address);
    if (!shared) {
      // Forgotten as it settles, not a microtask later: a retry right after must send again.
      shared = this.#exchange(address, true, () => this.#full.delete(address));
      this.#full.set(address, shared);
    }
    return shared;
  }

  #exchange(address: string, full: boolean, settled?: () => void): Promise<boolean> {
    const h = this.#h;
    return new Promise((resolve) => {
      const done = (ok: boolean) => {
        settled?.();
        resolve(ok);
      };
      if (this.#stopped) return done(false);
      const seq = h.nextSeq();
      const pending: Pending = { address, done, timer: undefined };
      this.#pending.set(seq, pending);
      pending.timer = h.clock.setTimeout(() => {
        if (!this.#pending.delete(seq)) return;
        h.logger.debug("Push-pull timed out", { address });
        done(false);
      }, h.config.requestTimeoutMs);
      if (full) {
        const { st, x } = h.state.fullState();
        this.#ship(address, { t: "pp", f: h.name, s: seq, j: true }, {
          st,
          x,
          rc: this.#allRecords(),
        });
      } else {
        const sh = h.state.digest();
        h.send(address, { t: "pp", f: h.name, s: seq, sh, rh: this.#records.digest() }, true);
      }
    });
  }

  /**
   * Handles a push-pull message: an opening, an answer to ours, or a one-way push. `sender`:
   * the member the transport authenticated for it.
   */
  handle(from: string, msg: PushPullMsg, sender?: string): void {
    const h = this.#h;
    if (msg.o) {
      this.merge(msg, { sender });
      return;
    }
    if (msg.r) {
      const pending = this.#pending.get(msg.s);
      // An answer after the exchange timed out still carries the peer's state: a restarted
      // member asks every seed at once, and on a loaded machine every answer may come late.
      // Merged like a one-way push (any member may send one): dropping it left the member
      // deciding on stale state until the next exchange, seconds later.
      if (!pending) return this.merge(msg, { sender });
      this.#settle(msg.s, pending, true, () => {
        this.merge(msg, { sender });
        if (msg.sw) {
          const { st, x } = h.state.fullState();
          this.#ship(pending.address, { t: "pp", f: h.name, s: msg.s, o: true }, { st, x });
        }
        if (msg.rw) this.#sendRecords(pending.address);
      });
      return;
    }
    if (this.#stopped) return;
    this.#answers.open(from, msg, sender);
  }

  /**
   * Sends `head` with `payload`, split when it is larger than {@link CHUNK_CHARS}: one-way
   * pushes of the first parts, then `head` with the last part.
   */
  #ship(to: string, head: Head, payload: Payload): void {
    const h = this.#h;
    for (const msg of chunkPayload(head, payload, h.name)) h.send(to, msg, true);
  }

  /** Merges a push-pull's records, lists and state (see push_pull_merge.ts). */
  merge(msg: PushPullMsg, options: MergeOptions = {}): void {
    mergePushPull(this.#h, this.#records, this.#told, msg, options);
  }

  /** Nothing listens at `to`: its exchanges fail now rather than at their timeout. */
  handleRefused(to: string): void {
    for (const [seq, p] of this.#pending) {
      if (p.address === to) this.#settle(seq, p, false);
    }
  }

  /** Fails every exchange under way; later ones fail at once. */
  stop(): void {
    this.#stopped = true;
    this.#syncs.stop();
    this.#answers.stop();
    for (const [seq, p] of this.#pending) this.#settle(seq, p, false);
  }

  #settle(seq: number, p: Pending, ok: boolean, before?: () => void): void {
    this.#pending.delete(seq);
    if (p.timer !== undefined) this.#h.clock.clearTimeout(p.timer);
    before?.();
    p.done(ok);
  }

  /** Sends every record to `address` as gossip updates (the peer asked with `rw`). */
  #sendRecords(address: string): void {
    const h = this.#h;
    for (const msg of recordMessages(this.#records.all(), h.name)) h.send(address, msg, true);
  }

  /** Every record, or `undefined` (no field on the wire) when there are none. */
  #allRecords(): ReplicatedRecord[] | undefined {
    if (this.#records.size === 0) return undefined;
    const all = this.#records.all(); // without the expired ones, so possibly empty
    return all.length ? all : undefined;
  }

  #randomPeer(accept: (e: MemberEntry) => boolean): MemberEntry | undefined {
    const h = this.#h;
    const self = h.state.self;
    const table = h.state.table;
    return pickRandom(
      table.slots,
      (i) => table.at(i),
      1,
      h.random,
      (e) => e !== self && accept(e),
    )[0];
  }
}
