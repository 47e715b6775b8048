/**
 * How many gossip connections one client certificate may hold open to a member at once.
 *
 * Every accepted gossip connection costs its member a TLS state, socket buffers and a file
 * descriptor (some 76 KB of RSS under Node). An honest member holds one to each member it sends
 * to, two for a moment while it dials again after a lost connection; a member certificate (a
 * member turned hostile, or a stolen key) could otherwise make a member hold as many as the
 * listener lets one member's certificate open (64). Past the bound the transport closes one of
 * that certificate's older connections, never the new one: a member whose old connections went
 * stale (its process restarted, its network was cut) is never locked out by them. It closes
 * first those nothing arrived on yet, oldest first, then the least recently heard-from:
 * connections opened and left silent make room for each other, not for the member's own
 * connection, which carries frames.
 *
 * @module
 */
import { monotonicNow } from "../lib/cluster/monotonic_now.ts";
import { CountedLog } from "./counted_log.ts";

/**
 * The default bound on one certificate's inbound gossip connections: one in use, one while its
 * member dials again, and room for a member reached under two addresses.
 */
export const MAX_INBOUND_PER_CERTIFICATE = 4;

/** A connection as the limit sees it: two marks of one increasing counter (or clock). */
export interface Counted {
  /** When the connection was accepted. */
  readonly opened: number;
  /** When a frame or ping last arrived on it; 0 while none has. */
  readonly seen: number;
}

/** Negative when `a` is to be closed before `b`: silent ones first (oldest first), then heard. */
function closingOrder(a: Counted, b: Counted): number {
  if ((a.seen === 0) !== (b.seen === 0)) return a.seen === 0 ? -1 : 1;
  return a.seen === 0 ? a.opened - b.opened : a.seen - b.seen;
}

/**
 * The connections of each client certificate (by fingerprint), and the closings to log: at
 * most one line per certificate per `RATE_LOG_MS` (`frame_rate.ts`), with the count since the last.
 * `now` is injected (ms) for tests.
 */
export class InboundLimit<C extends Counted> {
  readonly max: number;
  readonly #byCertificate = new Map<string, Set<C>>();
  readonly #closings: CountedLog;

  /** @param max connections kept per certificate (at least 1) */
  constructor(max: number = MAX_INBOUND_PER_CERTIFICATE, now: () => number = monotonicNow) {
    this.max = Math.max(1, Math.floor(max));
    this.#closings = new CountedLog(undefined, now);
  }

  /**
   * Counts `conn` under `fingerprint` and returns those of the certificate's connections to
   * close so that at most {@link max} stay, never `conn` itself: those nothing arrived on yet,
   * oldest first, then the least recently heard-from. The
   * caller closes them and calls {@link remove} for each (or lets their close event do it).
   */
  add(fingerprint: string, conn: C): C[] {
    let set = this.#byCertificate.get(fingerprint);
    if (!set) this.#byCertificate.set(fingerprint, set = new Set());
    set.add(conn);
    if (set.size <= this.max) return [];
    const others = [...set].filter((c) => c !== conn).sort(closingOrder);
    const excess = others.slice(0, set.size - this.max);
    for (const c of excess) set.delete(c);
    return excess;
  }

  /** Stops counting `conn` (closed). Unknown connections are ignored. */
  remove(fingerprint: string, conn: C): void {
    const set = this.#byCertificate.get(fingerprint);
    if (!set?.delete(conn)) return;
    if (set.size === 0) this.#byCertificate.delete(fingerprint);
  }

  /** Connections counted under `fingerprint` now. */
  count(fingerprint: string): number {
    return this.#byCertificate.get(fingerprint)?.size ?? 0;
  }

  /**
   * Notes `n` connections of `fingerprint` closed over the bound. Returns how many to report in
   * a log line now (those since the last line), or 0 while the certificate's last line is
   * younger than `RATE_LOG_MS` (`frame_rate.ts`): the rest is reported by a later call or by {@link due}.
   */
  closed(fingerprint: string, n: number): number {
    return this.#closings.add(fingerprint, n);
  }

  /**
   * The closings not reported yet of certificates whose last line is `RATE_LOG_MS` (`frame_rate.ts`) old,
   * as `[fingerprint, count]`; certificates with nothing left to report are forgotten.
   */
  due(): [string, number][] {
    return this.#closings.due();
  }
}
