/**
 * How much one member may make another read from its gossip socket: a frame-rate and a
 * byte-rate bound per sender (per client certificate, over all its connections), sized from
 * the engine's own largest send rate so an honest member never meets it.
 *
 * memberlist and serf bound every message they take in; a member certificate (a member turned
 * hostile, or a stolen key) could otherwise make a member parse and handle frames as fast as
 * TLS carries them, until its probes and acks run late and the others suspect it. The
 * WebSocket transport asks {@link PeerRateLimiter.take} before it hands a frame to the engine:
 * a frame over the bound is dropped (counted, and logged at most once per
 * {@link RATE_LOG_MS}), and the sender's connection stops being read until its budget has
 * refilled, so TCP flow control slows the sender and the excess costs no decryption either.
 *
 * @module
 */
import { monotonicNow } from "../lib/cluster/monotonic_now.ts";
import { CHUNK_CHARS } from "./messages.ts";
import type { GossipConfig } from "./config.ts";

/** Inbound bounds per sender. Rates are sustained; bursts are the depth of the buckets. */
export interface InboundRate {
  /** Frames per second, sustained. */
  framesPerSecond: number;
  /** Frames taken at once after a quiet spell. */
  burstFrames: number;
  /** Payload bytes per second, sustained. */
  bytesPerSecond: number;
  /** Payload bytes taken at once after a quiet spell. */
  burstBytes: number;
  /**
   * Milliseconds per second the member may spend handling this sender's large frames (parse
   * and engine, measured), sustained; see {@link HandlingBudget}. @default unbounded
   */
  handlingMsPerSecond?: number;
  /** Handling milliseconds taken at once after a quiet spell. @default `handlingMsPerSecond` */
  handlingBurstMs?: number;
}

/** The most often a drop is logged (one line per sender, with the count since the last). */
export const RATE_LOG_MS = 10_000;

/** Headroom of the bound over the most an honest member sends. */
export const RATE_HEADROOM = 4;

/**
 * The most frames an honest member sends to one other member per second under `config`:
 * - gossip: a regular round every `gossipIntervalMs` plus at most `2 × pushRounds` immediate
 *   push rounds in the same interval, each round to distinct members, so at most
 *   `2 × pushRounds + 1` frames to one member per interval (local: 90/s, lan: 45/s);
 * - probes, per `probeIntervalMs`: its own ping, the ack to ours, a ping-req, and as one of
 *   our `indirectChecks` relays the pings, acks and nacks it forwards: `4 + 2 × indirectChecks`
 *   (local: 6/s, lan: 10/s).
 * Push-pull, record pushes and extension fetches are a few frames per push-pull interval (a
 * full state in {@link CHUNK_CHARS} chunks): the bursts cover them.
 */
export function honestFramesPerSecond(config: GossipConfig): number {
  const gossip = (2 * config.pushRounds + 1) * 1000 / config.gossipIntervalMs;
  const probes = (4 + 2 * config.indirectChecks) * 1000 / config.probeIntervalMs;
  return gossip + probes;
}

/**
 * The inbound bound for members running `config`: {@link RATE_HEADROOM} times
 * {@link honestFramesPerSecond} (local: 384 frames/s, lan: 220), with a burst of two seconds
 * of that (frames an outbound connection queued while it was dialled, at most a few seconds of
 * sending, are flushed at once when it opens). Bytes: each of those frames at the message
 * budget (`maxMessageBytes`, 1400) or 1 MiB/s, whichever is more, and a burst of 128 chunks
 * (32 Mi chars), more than a full state at the table bounds (`maxMembers`, `maxRecords`) in
 * one push-pull exchange. Handling time: {@link HANDLING_MS_PER_SECOND} of large frames, with a
 * burst of as much.
 */
export function inboundRateFor(config: GossipConfig): InboundRate {
  const framesPerSecond = Math.ceil(RATE_HEADROOM * honestFramesPerSecond(config));
  return {
    framesPerSecond,
    burstFrames: 2 * framesPerSecond,
    bytesPerSecond: Math.max(1024 * 1024, framesPerSecond * config.maxMessageBytes),
    burstBytes: 128 * CHUNK_CHARS,
    handlingMsPerSecond: HANDLING_MS_PER_SECOND,
    handlingBurstMs: HANDLING_MS_PER_SECOND,
  };
}

/**
 * Handling time a sender's large frames may take, in ms per second: a tenth of a core. Bytes
 * alone do not bound it: a frame of dense JSON (`[{},{},…]`) of 1 MiB parsed into some 350 000
 * objects, 100-300 ms of a loaded member's time, where a frame of state as long takes a
 * fraction of that; 24 of them handled at once held a member's event loop for seconds and every
 * other member declared it dead. (One frame is now at most `MAX_FRAME_BYTES`, 384 KiB, which
 * bounds a single parse; this budget bounds how many follow.) A sender over its budget is not read until it has refilled:
 * nothing is dropped, only slowed. A full state at the `lan` table bounds (4 096 members and
 * 8 192 records of 700 chars: 28 chunks, 6.8 Mi chars) decodes in 18-34 ms (load 5), within the
 * burst; at ten times that on a loaded machine it is all handed on within 3 s, inside the
 * push-pull's 10 s `requestTimeoutMs`. The merges' signature checks that wait for later turns
 * are not charged to the sender.
 */
export const HANDLING_MS_PER_SECOND = 100;

/**
 * Frames up to this size (bytes) are handled as they come, their time charged but never
 * waited for: probes, acks and gossip (`maxMessageBytes`, 1 400 by default) must not wait
 * behind their sender's large frames, or the sender would suspect the receiver. The frame rate
 * bounds what they cost (a frame of 16 KiB of dense JSON parses in well under a millisecond
 * on a quiet machine).
 */
export const SMALL_FRAME_BYTES = 16 * 1024;

/**
 * A time bucket per sender: {@link charge} takes the measured time spent on a sender's frame
 * (the bucket may go below zero by one frame), {@link wait} says how long until the sender may
 * be handled again. `now` is injected (ms) for tests.
 */
export class HandlingBudget {
  readonly msPerSecond: number;
  readonly burstMs: number;
  readonly #now: () => number;
  readonly #peers = new Map<string, { ms: number; at: number }>();

  constructor(
    msPerSecond: number,
    burstMs: number = msPerSecond,
    now: () => number = monotonicNow,
  ) {
    this.msPerSecond = msPerSecond;
    this.burstMs = burstMs;
    this.#now = now;
  }

  #refill(peer: string): { ms: number; at: number } {
    const now = this.#now();
    let b = this.#peers.get(peer);
    if (!b) {
      b = { ms: this.burstMs, at: now };
      this.#peers.set(peer, b);
    } else if (now > b.at) {
      b.ms = Math.min(this.burstMs, b.ms + (now - b.at) * this.msPerSecond / 1000);
      b.at = now;
    }
    return b;
  }

  /** 0 when `peer`'s budget is not spent, else in how many ms (at least 1) it will not be. */
  wait(peer: string): number {
    const b = this.#peers.get(peer);
    if (!b) return 0;
    const { ms } = this.#refill(peer);
    return ms > 0 ? 0 : Math.max(1, Math.ceil((1 - ms) * 1000 / this.msPerSecond));
  }

  /** Takes `ms` of handling time from `peer`'s budget (non-finite or negative: nothing). */
  charge(peer: string, ms: number): void {
    if (!(ms > 0) || !Number.isFinite(ms)) return;
    this.#refill(peer).ms -= ms;
  }

  /** Forgets senders whose budgets are full again. */
  sweep(): void {
    for (const peer of [...this.#peers.keys()]) {
      if (this.#refill(peer).ms >= this.burstMs) this.#peers.delete(peer);
    }
  }

  /** Senders remembered now (for tests). */
  get size(): number {
    return this.#peers.size;
  }
}

interface Bucket {
  frames: number;
  bytes: number;
  at: number;
}

/**
 * Token buckets per sender over an {@link InboundRate}. `now` is injected (ms) for tests.
 * Senders are the transport's to name (client certificate fingerprints); a sender whose
 * buckets are full is forgotten by {@link sweep}, so the map holds only recent senders.
 */
export class PeerRateLimiter {
  readonly rate: Readonly<InboundRate>;
  readonly #now: () => number;
  readonly #peers = new Map<string, Bucket>();

  constructor(rate: InboundRate, now: () => number = monotonicNow) {
    this.rate = Object.freeze({ ...rate });
    this.#now = now;
  }

  /**
   * Takes one frame of `bytes` from `peer`'s budget. Returns 0 when the frame is within it
   * (and takes it), else how long in ms until it would be (and takes nothing): the caller drops
   * the frame and may stop reading from `peer` that long. A frame larger than the byte burst
   * needs a full byte bucket.
   */
  take(peer: string, bytes: number): number {
    const { framesPerSecond, burstFrames, bytesPerSecond, burstBytes } = this.rate;
    const now = this.#now();
    let b = this.#peers.get(peer);
    if (!b) {
      b = { frames: burstFrames, bytes: burstBytes, at: now };
      this.#peers.set(peer, b);
    } else if (now > b.at) {
      const dt = (now - b.at) / 1000;
      b.frames = Math.min(burstFrames, b.frames + dt * framesPerSecond);
      b.bytes = Math.min(burstBytes, b.bytes + dt * bytesPerSecond);
      b.at = now;
    }
    const need = Math.min(bytes, burstBytes);
    if (b.frames >= 1 && b.bytes >= need) {
      b.frames -= 1;
      b.bytes -= need;
      return 0;
    }
    const frameWait = b.frames >= 1 ? 0 : (1 - b.frames) * 1000 / framesPerSecond;
    const byteWait = b.bytes >= need ? 0 : (need - b.bytes) * 1000 / bytesPerSecond;
    return Math.max(1, Math.ceil(Math.max(frameWait, byteWait)));
  }

  /** Forgets senders whose buckets have refilled (nothing to remember about them). */
  sweep(): void {
    const now = this.#now();
    const { framesPerSecond, burstFrames, bytesPerSecond, burstBytes } = this.rate;
    for (const [peer, b] of this.#peers) {
      const dt = (now - b.at) / 1000;
      const full = b.frames + dt * framesPerSecond >= burstFrames &&
        b.bytes + dt * bytesPerSecond >= burstBytes;
      if (full) this.#peers.delete(peer);
    }
  }

  /** Senders remembered now (for tests). */
  get size(): number {
    return this.#peers.size;
  }
}
