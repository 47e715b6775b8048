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
 * one push-pull exchange.
 */
export function inboundRateFor(config: GossipConfig): InboundRate {
  const framesPerSecond = Math.ceil(RATE_HEADROOM * honestFramesPerSecond(config));
  return {
    framesPerSecond,
    burstFrames: 2 * framesPerSecond,
    bytesPerSecond: Math.max(1024 * 1024, framesPerSecond * config.maxMessageBytes),
    burstBytes: 128 * CHUNK_CHARS,
  };
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

  constructor(rate: InboundRate, now: () => number = Date.now) {
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
