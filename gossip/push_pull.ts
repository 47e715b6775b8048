/**
 * Anti-entropy: full-state push-pull exchanges with one member at a time, on join, periodically
 * and towards dead members (reconnect), so that whatever gossip missed converges and a healed
 * partition merges back.
 *
 * A periodic exchange ships digests only: the member table's and the record table's. A peer
 * whose digests match answers with its digests alone, so a steady cluster exchanges no state;
 * on a mismatch it sends its full state and asks for the initiator's (`sw`, `rw`). A join (and a
 * reconnect) ships the whole state both ways at once.
 *
 * @module
 */
import type { ReplicatedRecord, TimerHandle } from "../lib/cluster/membership.ts";
import { extensionDigest } from "../lib/cluster/extensions.ts";
import type { MemberEntry } from "./members.ts";
import type { PushPullMsg, Update } from "./messages.ts";
import { pickRandom } from "./random.ts";
import type { RecordTable } from "./records.ts";
import type { EngineHost } from "./host.ts";

/** What push-pull needs from the engine. */
export interface PushPullHost extends EngineHost {
  /** A list arrived with a push-pull: a fetch of it under way can stop. */
  learned(digest: string): void;
}

interface Pending {
  readonly address: string;
  readonly done: (ok: boolean) => void;
  timer: TimerHandle | undefined;
}

/** Most records per gossip message when a peer asked for all of them. */
const RECORDS_PER_MESSAGE = 1024;

/** Push-pull anti-entropy for one member. */
export class PushPull {
  readonly #h: PushPullHost;
  readonly #records: RecordTable;
  readonly #seeds: readonly string[];
  readonly #own: string;
  readonly #pending = new Map<number, Pending>();
  readonly #syncs = new Set<TimerHandle>();
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
    this.#seeds = addresses.seeds;
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
    if (this.#seeds.length) void this.join(this.#seeds);
  }

  /**
   * One gossip interval from now (once the bursts of what was just queued went out), compares
   * digests with each of `addresses`: a member that holds the same tables answers with digests
   * only, one that missed something converges at once instead of at its next periodic exchange.
   */
  syncSoon(addresses: readonly string[]): void {
    const h = this.#h;
    if (this.#stopped) return;
    const targets = addresses.filter((a) => a !== this.#own);
    if (targets.length === 0) return;
    const timer = h.clock.setTimeout(() => {
      this.#syncs.delete(timer);
      for (const a of targets) void this.exchange(a, false);
    }, h.config.gossipIntervalMs);
    this.#syncs.add(timer);
  }

  /** One periodic exchange (digests first) with a random live member. */
  periodic(): void {
    const peer = this.#randomPeer((e) => e.state === "alive");
    if (peer) void this.exchange(peer.address, false);
  }

  /** Tries one dead member (or a seed while alone) so partitions heal, as serf does. */
  reconnect(): void {
    const h = this.#h;
    const table = h.state.table;
    if (table.live <= 1 && this.#seeds.length) {
      void this.join([this.#seeds[h.random.int(this.#seeds.length)]]);
      return;
    }
    if (table.dead === 0) return;
    // Each member tries with probability dead/live, so the cluster as a whole tries about one
    // dead member per interval instead of every member hammering every dead one.
    if (h.random.next() > table.dead / Math.max(1, table.live)) return;
    const peer = this.#randomPeer((e) => e.state === "dead");
    if (peer) void this.exchange(peer.address, true);
  }

  /**
   * Starts an exchange with `address`: the full state when `full` (a join), digests otherwise.
   * Resolves `true` once answered, `false` on timeout, refusal or stop.
   */
  exchange(address: string, full: boolean): Promise<boolean> {
    const h = this.#h;
    return new Promise((done) => {
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
        const rc = this.#allRecords();
        h.send(address, { t: "pp", f: h.name, s: seq, j: true, st, x, rc }, true);
      } else {
        const sh = h.state.digest();
        h.send(address, { t: "pp", f: h.name, s: seq, sh, rh: this.#recordsHash() }, true);
      }
    });
  }

  /** Handles a push-pull message: an opening, an answer to ours, or a one-way push. */
  handle(from: string, msg: PushPullMsg): void {
    const h = this.#h;
    if (msg.o) {
      this.merge(msg);
      return;
    }
    if (msg.r) {
      const pending = this.#pending.get(msg.s);
      if (!pending) return;
      this.#settle(msg.s, pending, true, () => {
        this.merge(msg);
        if (msg.sw) {
          const { st, x } = h.state.fullState();
          h.send(pending.address, { t: "pp", f: h.name, s: msg.s, o: true, st, x }, true);
        }
        if (msg.rw) this.#sendRecords(pending.address);
      });
      return;
    }
    // Merge first, so the reply already carries our refutation of anything they hold against us.
    this.merge(msg);
    const rh = this.#recordsHash();
    // Records travel only when the tables differ (or the peer sent no digest: a join).
    const inSync = msg.rh === rh;
    const rc = inSync ? undefined : this.#allRecords();
    const rw = msg.rh !== undefined && !inSync ? true : undefined;
    let reply: PushPullMsg;
    if (msg.st === undefined) {
      // Digest-only: answer with the digest alone when the tables agree, else with our full
      // state and a request for theirs.
      const sh = h.state.digest();
      if (sh === msg.sh) reply = { t: "pp", f: h.name, s: msg.s, r: true, sh, rc, rh, rw };
      else {
        const { st, x } = h.state.fullState();
        reply = { t: "pp", f: h.name, s: msg.s, r: true, st, x, sw: true, rc, rh, rw };
      }
    } else {
      const { st, x } = h.state.fullState();
      reply = { t: "pp", f: h.name, s: msg.s, r: true, st, x, rc, rh, rw };
    }
    h.send(from, reply, true);
  }

  /** Merges a push-pull's lists, state and records; `quiet`: gossip none of the state. */
  merge(msg: PushPullMsg, quiet = false): void {
    const h = this.#h;
    if (msg.x) {
      for (const d in msg.x) {
        if (h.state.lists.has(d)) continue;
        const list = msg.x[d];
        if (extensionDigest(list) !== d) {
          h.logger.warn("Dropping an extension list that does not match its digest", {
            digest: d,
            from: msg.f,
          });
          continue;
        }
        h.state.learnList(d, list);
        h.learned(d);
      }
    }
    if (msg.st) {
      if (quiet) h.state.mergeQuietly(msg.st);
      else h.state.merge(msg.st);
    }
    if (msg.rc) { for (const r of msg.rc) this.#records.receive(r, msg.f); }
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
    for (const t of this.#syncs) this.#h.clock.clearTimeout(t);
    this.#syncs.clear();
    for (const [seq, p] of this.#pending) this.#settle(seq, p, false);
  }

  #settle(seq: number, p: Pending, ok: boolean, before?: () => void): void {
    this.#pending.delete(seq);
    if (p.timer !== undefined) this.#h.clock.clearTimeout(p.timer);
    before?.();
    p.done(ok);
  }

  /** Digest of the record table: equal tables give equal digests whatever the order. */
  #recordsHash(): string {
    const ids = this.#records.all().map((r) => `${r.kind}\n${r.key}\n${r.version}\n${r.origin}`);
    return extensionDigest(ids.sort());
  }

  /** Sends every record to `address` as gossip updates (the peer asked with `rw`). */
  #sendRecords(address: string): void {
    const all = this.#records.all();
    for (let i = 0; i < all.length; i += RECORDS_PER_MESSAGE) {
      const pb: Update[] = all.slice(i, i + RECORDS_PER_MESSAGE).map((r) => ({ k: "rec", r }));
      this.#h.send(address, { t: "gossip", f: this.#h.name, pb }, true);
    }
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
    return pickRandom(h.state.table.list, 1, h.random, (e) => e !== self && accept(e))[0];
  }
}
