/**
 * Answering the push-pull exchanges other members open: each opening is merged and answered
 * (digests alone when the tables agree, else the full state and a request for the opener's), a
 * few per gossip interval whoever opened them, with a bound on the answers one peer gets and on
 * the openings held waiting.
 *
 * Separate from the exchanges this member opens (push_pull.ts): an opening costs a merge and a
 * full state to answer for a few bytes sent, so this is where a peer's demands are bounded.
 *
 * @module
 */
import type { ReplicatedRecord } from "../lib/cluster/replicated_record.ts";
import type { EngineHost } from "./host.ts";
import { CHUNK_CHARS } from "./messages.ts";
import type { PushPullMsg } from "./messages.ts";
import { Paced } from "./paced.ts";
import type { Head, Payload } from "./push_pull_chunks.ts";
import type { RecordTable } from "./records.ts";

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

/** What answering needs of push-pull (push_pull.ts). */
export interface AnswerParts {
  readonly records: RecordTable;
  /** Merges `msg` (see push_pull_merge.ts). */
  merge(msg: PushPullMsg, sender: string | undefined): void;
  /** Sends `head` with `payload` to `to`, in as many frames as it takes. */
  ship(to: string, head: Head, payload: Payload): void;
  /** Every record, or `undefined` when there are none. */
  allRecords(): ReplicatedRecord[] | undefined;
}

/** The openings one member answers. */
export class OpeningAnswers {
  readonly #h: EngineHost;
  readonly #p: AnswerParts;
  /** Exchanges others opened, handled a few per gossip interval. */
  readonly #openings: Paced<{ from: string; msg: PushPullMsg; sender?: string }>;
  /** Answers given per peer in the current window (see {@link ANSWERS_PER_WINDOW}). */
  #answers = new Map<string, number>();
  #window = -Infinity;
  /** Openings dropped since creation: too many waiting, in count or in chars. */
  dropped = 0;

  constructor(host: EngineHost, parts: AnswerParts) {
    this.#h = host;
    this.#p = parts;
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

  /**
   * An exchange `from` opened (`sender`: the member the transport authenticated): answered in
   * its turn, merged without an answer when its peer had its share, dropped when too many wait.
   */
  open(from: string, msg: PushPullMsg, sender: string | undefined): void {
    const h = this.#h;
    // An answer may be the whole state (megabytes) for a few bytes asked: bounded per peer, and
    // counted as it arrives, so that no peer holds more than its share of the waiting places.
    if (!this.#mayAnswer(sender ?? from)) {
      h.logger.debug("Push-pull answer withheld: too many from this peer", { from });
      this.#p.merge(msg, sender);
      return;
    }
    if (!this.#openings.push({ from, msg, sender })) {
      this.dropped++;
      h.logger.debug("Push-pull opening dropped: too many waiting", { from });
    }
  }

  /** Drops the openings waiting; none is answered any more. */
  stop(): void {
    this.#openings.stop();
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
    const p = this.#p;
    // Merge first, so the reply already carries our refutation of anything they hold against us.
    p.merge(msg, sender);
    const rh = p.records.digest();
    // Records travel only when the tables differ (or the peer sent no digest: a join).
    const inSync = msg.rh === rh;
    const rc = inSync ? undefined : p.allRecords();
    const rw = msg.rh !== undefined && !inSync ? true : undefined;
    if (msg.st === undefined) {
      // Digest-only: answer with the digest alone when the tables agree, else with our full
      // state and a request for theirs.
      const sh = h.state.digest();
      if (sh === msg.sh) {
        p.ship(from, { t: "pp", f: h.name, s: msg.s, r: true, sh, rh, rw }, { rc });
      } else {
        const { st, x } = h.state.fullState();
        p.ship(from, { t: "pp", f: h.name, s: msg.s, r: true, sw: true, rh, rw }, { st, x, rc });
      }
    } else {
      const { st, x } = h.state.fullState();
      p.ship(from, { t: "pp", f: h.name, s: msg.s, r: true, rh, rw }, { st, x, rc });
    }
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
}
