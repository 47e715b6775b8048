/**
 * How frames read on gossip connections are handed to the engine: under each sender's rate
 * (`frame_rate.ts`: a frame over it is dropped and the connection goes unread a while, so TCP
 * slows the sender), its handling budget (a large frame waits, read but not handed on, while
 * its sender's budget refills), and per-turn bounds ({@link TURN_FRAMES}, {@link TURN_HANDLING_MS}),
 * the connection held (not read) meanwhile, so one busy connection never holds the event loop
 * from the others and the engine's timers.
 *
 * Separate from accepting connections (ws_inbound.ts): this applies as well to the connections
 * we dialled that their listener shares, and it is where a flood of frames is bounded.
 *
 * @module
 */
import { Buffer } from "node:buffer";
import { setImmediate } from "node:timers";
import type { RawData } from "ws";
import { monotonicNow } from "../lib/cluster/monotonic_now.ts";
import { CountedLog } from "./counted_log.ts";
import {
  HandlingBudget,
  type InboundRate,
  PeerRateLimiter,
  SMALL_FRAME_BYTES,
} from "./frame_rate.ts";
import type { Inbound, WsContext } from "./ws_context.ts";

/**
 * Frames one inbound connection hands the engine in one turn of the event loop before it is
 * paused until the next turn. One read of a TLS socket can deliver hundreds of small frames at
 * once (a sender's burst budget is 768 frames under `local`); handled in one go they hold the
 * event loop, and the acks of every other connection and the engine's timers wait behind them.
 * Past this count the connection's socket is paused and resumed in the next turn, after the
 * poll for I/O. The rest of the read in progress is still handed on (ws parses a read at once):
 * a turn takes at most this many frames plus one read's (16 KiB under Node, 64 KiB under Deno).
 */
export const TURN_FRAMES = 64;
/**
 * Handling time (ms) one turn of the event loop may spend on frames before a large frame (over
 * {@link SMALL_FRAME_BYTES}) waits for a later turn, after the poll for I/O: the probes and acks
 * of other connections are then read between two large frames, not after all of them.
 */
export const TURN_HANDLING_MS = 20;
/**
 * The shortest time a connection over its sender's budget goes unread, in ms. Resumed as soon
 * as one frame's worth had refilled (2.6 ms under `local`), it was read again at once: each
 * resume parsed a whole TLS read of which all frames but one were dropped, and a flooded member
 * spent its CPU parsing frames it then dropped (some 15 000 a second). Only a sender over its
 * bound waits this long; an honest member never meets the bound.
 */
export const THROTTLE_PAUSE_MS = 100;

/** One transport's pacing of the frames it reads (see {@link createFramePacing}). */
export interface FramePacing {
  /** Hands on a frame read on `conn` (still read: see `reading`), now or later, or drops it. */
  take(conn: Inbound, data: RawData, isBinary: boolean): void;
  /** The pacing's part of a sweep: the rate and budget bookkeeping. */
  sweep(): void;
  /** Logs the frames dropped over each sender's rate since its last line, where one is due. */
  logDropped(): void;
}

/**
 * The pacing of the frames of `ctx`'s transport: `inboundRate` is its option of that name
 * (none: frames are handed on as they come, bounded per turn only); `reading(conn)`: whether
 * frames read on `conn` are still handed on (it was not cut or closed).
 */
export function createFramePacing(
  ctx: WsContext,
  inboundRate: InboundRate | undefined,
  reading: (conn: Inbound) => boolean,
): FramePacing {
  const log = ctx.log;
  const s = ctx.stats;
  const limiter = inboundRate ? new PeerRateLimiter(inboundRate) : undefined;
  const perSecond = inboundRate?.handlingMsPerSecond;
  const budget = perSecond !== undefined && perSecond > 0
    ? new HandlingBudget(perSecond, inboundRate?.handlingBurstMs ?? perSecond)
    : undefined;
  /** Time spent handing frames on in this turn (ms); reset at its end. */
  let turnMs = 0;
  let turnEnding = false;
  /** Frames dropped per sender since its last log line. */
  const overLimit = new CountedLog();
  /** Connections that handed frames on in this turn; their counts are reset at its end. */
  const counted = new Set<Inbound>();
  const endTurn = () => {
    turnEnding = false;
    turnMs = 0;
    for (const conn of counted) conn.turnFrames = 0;
    counted.clear();
  };
  const inTurn = () => {
    if (turnEnding) return;
    turnEnding = true;
    setImmediate(endTurn);
  };

  function take(conn: Inbound, data: RawData, isBinary: boolean): void {
    // binaryType stays "nodebuffer", so `data` is one Buffer; the rest is for completeness.
    const bytes = Buffer.isBuffer(data)
      ? data
      : Array.isArray(data)
      ? Buffer.concat(data)
      : Buffer.from(data);
    s.framesReceived++;
    s.bytesReceived += bytes.byteLength;
    const wait = limiter?.take(conn.fingerprint, bytes.byteLength) ?? 0;
    if (wait > 0) return throttle(conn, wait);
    inTurn();
    counted.add(conn);
    conn.turnFrames = (conn.turnFrames ?? 0) + 1;
    if (conn.turnFrames === TURN_FRAMES) hold(conn, 0);
    if (budget && (conn.waiting || (bytes.byteLength > SMALL_FRAME_BYTES && !mayHandle(conn)))) {
      // Read, but handed on later: the connection is not read meanwhile (TCP slows the sender).
      (conn.waiting ??= []).push({ data: bytes, isBinary });
      conn.ws.pause();
      return scheduleDrain(conn);
    }
    handle(conn, bytes, isBinary);
  }

  /** Hands one frame to the engine, and charges the time it took to its sender. */
  function handle(conn: Inbound, bytes: Buffer, isBinary: boolean): void {
    const t0 = performance.now();
    try {
      ctx.handlers.message(conn.from, isBinary ? bytes : bytes.toString("utf8"), conn.fingerprint);
    } catch (err) {
      log.error("Gossip message handler failed", { from: conn.from, err });
    }
    const ms = performance.now() - t0;
    turnMs += ms;
    budget?.charge(conn.fingerprint, ms);
  }

  /** Whether a large frame of `conn` may be handled now: its sender's budget and the turn's. */
  function mayHandle(conn: Inbound): boolean {
    return turnMs < TURN_HANDLING_MS && budget!.wait(conn.fingerprint) === 0;
  }

  /**
   * Hands on `conn`'s waiting frames when its sender's budget has refilled, in later turns
   * (after a poll for I/O) while the turn's is spent; then reads the connection again.
   */
  function scheduleDrain(conn: Inbound): void {
    if (conn.draining) return;
    conn.draining = true;
    const wait = budget!.wait(conn.fingerprint);
    if (wait > 0) {
      const timer = setTimeout(drain, wait, conn);
      (timer as { unref?: () => void }).unref?.();
    } else {
      // Immediates set in this turn's check phase run in it: the second waits for the next.
      setImmediate(() => setImmediate(drain, conn));
    }
  }

  function drain(conn: Inbound): void {
    conn.draining = false;
    const waiting = conn.waiting;
    if (!waiting) return;
    if (!reading(conn)) return void (conn.waiting = undefined);
    while (waiting.length > 0) {
      if (!mayHandle(conn)) return scheduleDrain(conn);
      inTurn();
      const { data, isBinary } = waiting.shift()!;
      handle(conn, data, isBinary);
    }
    conn.waiting = undefined;
    if (!conn.paused) conn.ws.resume();
  }

  /**
   * Drops a frame over its sender's bound and stops reading the connection until the budget
   * has refilled, at least {@link THROTTLE_PAUSE_MS} and at most a second at a time: TCP flow
   * control then slows the sender.
   */
  function throttle(conn: Inbound, waitMs: number): void {
    s.rateLimited++;
    const now = monotonicNow();
    const dropped = overLimit.add(conn.fingerprint, 1);
    if (dropped > 0) {
      log.warn("Gossip frames over the sender's rate limit dropped", {
        from: conn.from,
        fingerprint: conn.fingerprint,
        dropped,
        frames_per_second: limiter!.rate.framesPerSecond,
        bytes_per_second: limiter!.rate.bytesPerSecond,
      });
    }
    // The rest of the read in progress arrives paused: one pause for all of it.
    if (conn.paused && (conn.heldUntil ?? 0) > now) return;
    hold(conn, Math.min(Math.max(waitMs, THROTTLE_PAUSE_MS), 1000));
  }

  /**
   * Stops reading `conn` for `ms`, or until the next turn of the event loop when `ms` is 0
   * (after the poll for I/O: other connections' frames and due timers go first). A pause that
   * ends sooner than the one in force changes nothing.
   */
  function hold(conn: Inbound, ms: number): void {
    const until = monotonicNow() + ms;
    if (conn.paused && until <= (conn.heldUntil ?? 0)) return;
    const hold = conn.holds = (conn.holds ?? 0) + 1;
    conn.paused = true;
    conn.heldUntil = until;
    conn.ws.pause();
    const resume = () => {
      if (conn.holds !== hold) return; // a longer pause replaced this one
      conn.paused = false;
      if (reading(conn) && !conn.waiting) conn.ws.resume();
    };
    if (ms === 0) return void setImmediate(resume);
    const timer = setTimeout(resume, ms);
    (timer as { unref?: () => void }).unref?.();
  }

  return {
    take,
    sweep(): void {
      limiter?.sweep();
      budget?.sweep();
    },
    logDropped(): void {
      for (const [fingerprint, dropped] of overLimit.due()) {
        log.warn("Gossip frames over the sender's rate limit dropped", { fingerprint, dropped });
      }
    },
  };
}
