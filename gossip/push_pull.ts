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
 * @module
 */
import type { TimerHandle } from "../lib/cluster/clock.ts";
import type { ReplicatedRecord } from "../lib/cluster/replicated_record.ts";
import { extensionDigest } from "../lib/cluster/extensions.ts";
import type { MemberEntry } from "./members.ts";
import { CHUNK_CHARS } from "./messages.ts";
import { updateSize } from "./update_size.ts";
import type { PushPullMsg, StateEntry, Update } from "./messages.ts";
import { pickRandom } from "./random.ts";
import type { RecordTable } from "./records.ts";
import type { EngineHost } from "./host.ts";
import { SyncQueue } from "./sync_queue.ts";
import { Paced } from "./paced.ts";
import { Reconnector } from "./reconnect.ts";
import { chunkPayload, type Head, type Payload } from "./push_pull_chunks.ts";

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

/** Most dead members being revived at once (see {@link PushPull.revive}). */
const MAX_REVIVING = 64;

/** Most records per gossip message when a peer asked for all of them. */
const RECORDS_PER_MESSAGE = 1024;

/**
 * Most push-pull answers one peer gets per {@link ANSWER_WINDOW_MS}: a member exchanges with a
 * given peer about once per interval (a join, a sync after an admission, a periodic exchange,
 * a reconnect); a peer asking more often is served only that many times.
 */
export const ANSWERS_PER_WINDOW = 8;
/** The window of {@link ANSWERS_PER_WINDOW}, in ms. */
export const ANSWER_WINDOW_MS = 10_000;

/**
 * Most exchanges opened by others that a member handles (merges and answers) per gossip
 * interval, whoever opened them; the others wait (see paced.ts). At N=50 a full state costs a
 * few ms to merge and as much to answer: this bounds that work to a small part of each interval.
 */
export const OPENINGS_PER_INTERVAL = 4;
/**
 * Most openings waiting; one more is dropped, and its opener's exchange times out and is tried
 * again at its next one. At {@link OPENINGS_PER_INTERVAL} per interval the last waits 64
 * intervals (12.8 s on `lan`): about the request timeout, past which waiting is for nothing.
 */
export const MAX_WAITING_OPENINGS = 256;
/**
 * Most JSON chars of openings waiting (4 Mi chars: 16 × {@link CHUNK_CHARS}); one that would
 * take the total beyond it is dropped, as one beyond {@link MAX_WAITING_OPENINGS}. A waiting
 * opening holds its message, and a frame may be 384 KiB (`MAX_FRAME_BYTES`): bounded in count
 * alone, the openings of members' certificates could hold 96 MiB of JSON (more once parsed). An honest opening
 * carries at most one chunk of state (digests only when periodic), so 16 full ones still wait,
 * 4 intervals of answers; a full exchange dropped is tried again by its opener, and the member
 * it was meant for learns the same state from the ones answered.
 */
export const MAX_WAITING_OPENING_CHARS = 16 * CHUNK_CHARS;

/** Options of {@link PushPull.merge}. */
export interface MergeOptions {
  /** Gossip none of the member state or records (a joiner's starting view is news to nobody). */
  readonly quiet?: boolean;
  /**
   * The state an admitting member handed us: its records and member claims are taken as that
   * member holds them (`Trust.recordProblem`), not checked one by one (a joiner would otherwise
   * verify a signature per member: ≈ 0.1 s of CPU for 1000 members under Node, ≈ 0.9 s under
   * Deno).
   */
  readonly trusted?: boolean;
  /** The member the transport authenticated for the frame. */
  readonly sender?: string;
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
  /** Exchanges others opened, handled a few per gossip interval. */
  readonly #openings: Paced<{ from: string; msg: PushPullMsg; sender?: string }>;
  /** When each dead member was last tried on evidence it is back (see {@link revive}). */
  readonly #revived = new Map<string, number>();
  /** When each member held dead was last told so (see {@link #noticeHeldDead}). */
  readonly #noticed = new Map<string, number>();
  /** Answers given per peer in the current window (see {@link ANSWERS_PER_WINDOW}). */
  #answers = new Map<string, number>();
  #window = -Infinity;
  #stopped = false;
  /** Openings dropped since creation: too many waiting, in count or in chars. */
  openingsDropped = 0;

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
    this.#openings = new Paced(
      host.clock,
      {
        intervalMs: host.config.gossipIntervalMs,
        perInterval: OPENINGS_PER_INTERVAL,
        maxWaiting: MAX_WAITING_OPENINGS,
        maxWaitingSize: MAX_WAITING_OPENING_CHARS,
      },
      (o) => this.#answer(o.from, o.msg, o.sender),
      (o) => JSON.stringify(o.msg).length,
    );
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
   * Whether a member held dead may be contacted now on evidence it is back (see {@link revive}),
   * by the kind of contact `tried` notes: once per member per request timeout, at most
   * {@link MAX_REVIVING} at once. Notes the try.
   */
  #mayTry(tried: Map<string, number>, name: string, now: number): boolean {
    const timeout = this.#h.config.requestTimeoutMs;
    const last = tried.get(name);
    if (last !== undefined && now - last < timeout) return false;
    if (tried.size >= MAX_REVIVING) {
      for (const [n, at] of tried) if (now - at >= timeout) tried.delete(n);
      if (tried.size >= MAX_REVIVING) return false;
    }
    tried.set(name, now);
    return true;
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
   * at the next reconnect tick. At most one try per member per request timeout.
   */
  revive(entry: MemberEntry): void {
    const h = this.#h;
    const now = h.clock.now();
    if (!this.#mayTry(this.#revived, entry.name, now)) return;
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
    // An answer may be the whole state (megabytes) for a few bytes asked: bounded per peer, and
    // counted as it arrives, so that no peer holds more than its share of the waiting places.
    if (!this.#mayAnswer(sender ?? from)) {
      h.logger.debug("Push-pull answer withheld: too many from this peer", { from });
      this.merge(msg, { sender });
      return;
    }
    if (!this.#openings.push({ from, msg, sender })) {
      this.openingsDropped++;
      h.logger.debug("Push-pull opening dropped: too many waiting", { from });
    }
  }

  /** Merges an exchange another member opened and answers it. Never throws (see paced.ts). */
  #answer(from: string, msg: PushPullMsg, sender: string | undefined): void {
    try {
      this.#answerNow(from, msg, sender);
    } catch (err) {
      this.#h.logger.error("Failed to answer a push-pull", { from, err });
    }
  }

  #answerNow(from: string, msg: PushPullMsg, sender: string | undefined): void {
    const h = this.#h;
    // Merge first, so the reply already carries our refutation of anything they hold against us.
    this.merge(msg, { sender });
    const rh = this.#records.digest();
    // Records travel only when the tables differ (or the peer sent no digest: a join).
    const inSync = msg.rh === rh;
    const rc = inSync ? undefined : this.#allRecords();
    const rw = msg.rh !== undefined && !inSync ? true : undefined;
    if (msg.st === undefined) {
      // Digest-only: answer with the digest alone when the tables agree, else with our full
      // state and a request for theirs.
      const sh = h.state.digest();
      if (sh === msg.sh) {
        this.#ship(from, { t: "pp", f: h.name, s: msg.s, r: true, sh, rh, rw }, { rc });
      } else {
        const { st, x } = h.state.fullState();
        this.#ship(from, { t: "pp", f: h.name, s: msg.s, r: true, sw: true, rh, rw }, {
          st,
          x,
          rc,
        });
      }
    } else {
      const { st, x } = h.state.fullState();
      this.#ship(from, { t: "pp", f: h.name, s: msg.s, r: true, rh, rw }, { st, x, rc });
    }
  }

  /**
   * Sends `head` with `payload`, split when it is larger than {@link CHUNK_CHARS}: one-way
   * pushes of the first parts, then `head` with the last part.
   */
  #ship(to: string, head: Head, payload: Payload): void {
    const h = this.#h;
    for (const msg of chunkPayload(head, payload, h.name)) h.send(to, msg, true);
  }

  /** Whether `peer` may get one more answer in this window. */
  #mayAnswer(peer: string): boolean {
    const window = Math.floor(this.#h.clock.now() / ANSWER_WINDOW_MS);
    if (window !== this.#window) {
      this.#window = window;
      this.#answers = new Map();
    }
    const n = this.#answers.get(peer) ?? 0;
    if (n >= ANSWERS_PER_WINDOW) return false;
    this.#answers.set(peer, n + 1);
    return true;
  }

  /**
   * Merges a push-pull's records, lists and state (records first: evidence claims may need).
   * A list is learned only when a member runs it (in the table or in this state), so a peer
   * cannot fill the lists with ones nobody runs.
   */
  merge(msg: PushPullMsg, options: MergeOptions = {}): void {
    const h = this.#h;
    if (msg.rc) {
      this.#records.receiveAll(msg.rc, msg.f, options.trusted === true, options.quiet === true);
    }
    if (msg.x) {
      const used = new Set<string>();
      for (const e of msg.st ?? []) used.add(e.m.ed);
      const table = h.state.table;
      for (let i = 0; i < table.slots; i++) {
        const e = table.at(i);
        if (e) used.add(e.wire.ed);
      }
      for (const d in msg.x) {
        if (h.state.lists.has(d) || !used.has(d)) continue;
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
      if (options.quiet) h.state.mergeQuietly(msg.st, options.sender, options.trusted);
      else {
        h.state.merge(msg.st, options.sender);
        this.#noticeHeldDead(msg.st);
      }
    }
  }

  /**
   * Members the peer holds alive at the incarnation at which this member holds them dead: a
   * verdict from the other side of a partition that healed. Their `alive` cannot out-bid it, and
   * nobody else sends it to them any more (it was gossiped while they could not hear it): each
   * is sent it directly, so it refutes within a round trip rather than when it next happens to
   * talk to this member (up to a whole probe cycle). One small frame per member, at most one per
   * member per request timeout; a full exchange with each would cost O(N) each after a heal.
   */
  #noticeHeldDead(entries: readonly StateEntry[]): void {
    const h = this.#h;
    const now = h.clock.now();
    for (const e of entries) {
      if (e.k !== "alive" || e.n === h.name) continue;
      const cur = h.state.table.get(e.n);
      if (cur?.state !== "dead" || cur.incarnation !== e.i) continue;
      if (!this.#mayTry(this.#noticed, cur.name, now)) continue;
      h.logger.debug("A member held dead is alive to a peer: telling it", { member: cur.name });
      h.send(cur.address, {
        t: "gossip",
        f: h.name,
        pb: [{ k: "dead", n: cur.name, i: cur.incarnation, by: h.name }],
      });
    }
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
    this.#openings.stop();
    for (const [seq, p] of this.#pending) this.#settle(seq, p, false);
  }

  #settle(seq: number, p: Pending, ok: boolean, before?: () => void): void {
    this.#pending.delete(seq);
    if (p.timer !== undefined) this.#h.clock.clearTimeout(p.timer);
    before?.();
    p.done(ok);
  }

  /**
   * Sends every record to `address` as gossip updates (the peer asked with `rw`), in messages
   * of at most {@link CHUNK_CHARS} and {@link RECORDS_PER_MESSAGE} records.
   */
  #sendRecords(address: string): void {
    let pb: Update[] = [];
    let size = 0;
    const flush = () => {
      if (pb.length) this.#h.send(address, { t: "gossip", f: this.#h.name, pb }, true);
      pb = [];
      size = 0;
    };
    for (const r of this.#records.all()) {
      const u: Update = { k: "rec", r };
      const n = updateSize(u);
      if (pb.length >= RECORDS_PER_MESSAGE || (pb.length > 0 && size + n > CHUNK_CHARS)) flush();
      pb.push(u);
      size += n;
    }
    flush();
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
