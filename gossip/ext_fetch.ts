/**
 * Fetches a member's full extension list when gossip brings a digest we have not seen: one
 * request per digest at a time, to the member that runs it, then (on failure) to the member that
 * passed the digest on, then to another live member running it; verified against the digest
 * before it is trusted.
 *
 * @module
 */
import type { TimerHandle } from "../lib/cluster/clock.ts";
import { isLive } from "../lib/cluster/membership.ts";
import { extensionDigest } from "../lib/cluster/extensions.ts";
import type { MemberEntry } from "./members.ts";
import type { ExtMsg, ExtReqMsg } from "./messages.ts";
import type { EngineHost } from "./host.ts";
import { pickRandom } from "./random.ts";

interface Pending {
  readonly digest: string;
  tries: number;
  address: string;
  /** The member that passed the digest on, asked after the first failure (it may hold the list). */
  via: string | undefined;
  timer: TimerHandle | undefined;
}

/** What the fetcher needs from the engine. */
export interface FetchHost extends EngineHost {
  /** How long a list request may take, ms. */
  readonly timeoutMs: number;
}

/** Attempts per digest before waiting for the next sighting. */
const MAX_TRIES = 3;

/** Extension-list fetching for one member. */
export class ExtensionFetcher {
  readonly #h: FetchHost;
  readonly #bySeq = new Map<number, Pending>();
  readonly #byDigest = new Map<string, Pending>();
  /** Lists fetched (diagnostics). */
  fetched = 0;

  constructor(host: FetchHost) {
    this.#h = host;
  }

  /**
   * `entry` runs a digest whose list we lack: fetch it unless a fetch is under way. `via` is the
   * address that told us (a member that admitted `entry` holds its list before `entry` listens).
   */
  want(entry: MemberEntry, via?: string): void {
    const digest = entry.wire.ed;
    if (this.#byDigest.has(digest) || this.#h.state.extensions.lists.has(digest)) return;
    const p: Pending = {
      digest,
      tries: 0,
      address: entry.address,
      via: via !== entry.address ? via : undefined,
      timer: undefined,
    };
    this.#byDigest.set(digest, p);
    this.#request(p);
  }

  /** Answers a request with our list when the digest is ours (or one we hold). */
  handleRequest(msg: ExtReqMsg, from: string): void {
    const list = this.#h.state.extensions.lists.get(msg.d);
    const reply: ExtMsg = list
      ? { t: "ext", f: this.#h.name, s: msg.s, d: msg.d, l: list }
      : { t: "ext", f: this.#h.name, s: msg.s, d: msg.d };
    this.#h.send(from, reply, true);
  }

  /** A reply arrived. */
  handleReply(msg: ExtMsg): void {
    const p = this.#bySeq.get(msg.s);
    if (!p || p.digest !== msg.d) return;
    this.#bySeq.delete(msg.s);
    if (p.timer !== undefined) this.#h.clock.clearTimeout(p.timer);
    if (!msg.l) return this.#retry(p);
    // Never trust a list that does not hash to the digest it claims.
    if (extensionDigest(msg.l) !== msg.d) {
      this.#h.logger.warn("Dropping an extension list that does not match its digest", {
        digest: msg.d,
        from: msg.f,
      });
      return this.#retry(p);
    }
    this.#byDigest.delete(p.digest);
    this.fetched++;
    this.#h.state.extensions.learn(msg.d, msg.l);
  }

  /** A push-pull brought lists: settle pending fetches for them. */
  learned(digest: string): void {
    const p = this.#byDigest.get(digest);
    if (!p) return;
    this.#byDigest.delete(digest);
    if (p.timer !== undefined) this.#h.clock.clearTimeout(p.timer);
  }

  /** The transport refused `address`: retry pending fetches aimed at it elsewhere. */
  handleRefused(address: string): void {
    for (const [seq, p] of this.#bySeq) {
      if (p.address !== address) continue;
      this.#bySeq.delete(seq);
      if (p.timer !== undefined) this.#h.clock.clearTimeout(p.timer);
      this.#retry(p);
    }
  }

  /** Cancels every timer. */
  stop(): void {
    for (const p of this.#byDigest.values()) {
      if (p.timer !== undefined) this.#h.clock.clearTimeout(p.timer);
    }
    this.#bySeq.clear();
    this.#byDigest.clear();
  }

  #request(p: Pending): void {
    const h = this.#h;
    p.tries++;
    const seq = h.nextSeq();
    this.#bySeq.set(seq, p);
    h.send(p.address, { t: "extq", f: h.name, s: seq, d: p.digest }, true);
    p.timer = h.clock.setTimeout(() => {
      p.timer = undefined;
      if (this.#bySeq.delete(seq)) this.#retry(p);
    }, h.timeoutMs);
  }

  #retry(p: Pending): void {
    if (this.#h.state.extensions.lists.has(p.digest)) {
      this.#byDigest.delete(p.digest);
      return;
    }
    if (p.tries >= MAX_TRIES) {
      // Give up for now; the next member seen with this digest starts a new fetch.
      this.#byDigest.delete(p.digest);
      return;
    }
    if (p.via !== undefined) {
      p.address = p.via;
      p.via = undefined;
      return this.#request(p);
    }
    // Ask another live member running that digest (the announcer may be gone).
    const self = this.#h.state.self;
    const table = this.#h.state.table;
    const holder = pickRandom(
      table.slots,
      (i) => table.at(i),
      1,
      this.#h.random,
      (e) => e !== self && e.wire.ed === p.digest && isLive(e.state),
    )[0];
    if (holder === undefined) {
      this.#byDigest.delete(p.digest);
      return;
    }
    p.address = holder.address;
    this.#request(p);
  }
}
