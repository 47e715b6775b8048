/**
 * A TCP connection over a lossy path, as the in-memory network models it (`lossModel: "stream"`
 * in memory_transport.ts): nothing is lost, but a lost packet is sent again after a
 * retransmission timeout that doubles at each loss in a row, and every frame behind it on that
 * connection waits (head-of-line blocking); a frame that would take longer than the cut bound
 * is lost with its connection, and a new one is dialled.
 *
 * Separate from the network's plumbing (endpoints, partitions, stalls, crashes) because this is
 * the model the fault tests calibrate against (scripts/faults/tcp_stalls.ts): it has one home.
 *
 * @module
 */

/** The shortest TCP retransmission timeout (Linux's `TCP_RTO_MIN`), ms. */
export const RTO_MIN_MS = 200;
/** The longest (Linux's `TCP_RTO_MAX`), ms. */
export const RTO_MAX_MS = 120_000;

/**
 * The fate of one TCP segment first sent at `start` over a path that loses each packet with
 * probability `loss`, both ways. `leaves`: when the copy that arrives was sent (it arrives one
 * latency later). `acked`: when the copy whose acknowledgement came back was sent (the sender
 * hears of it two latencies later), or `undefined` when the first copy arrived: later segments
 * were in flight beside it and their acknowledgements cover it, so it held nothing up.
 * A lost copy is sent again after {@link RTO_MIN_MS}, the timeout doubling at each further loss
 * in a row; after a timeout the sender's window is one segment until an acknowledgement comes
 * back, and the receiver acknowledges every copy again, so from then on a copy must arrive and
 * have its acknowledgement arrive. `draw()` gives uniform numbers in [0, 1).
 */
export function streamSegment(
  start: number,
  loss: number,
  draw: () => number,
): { leaves: number; acked: number | undefined } {
  if (!(loss > 0) || draw() >= loss) return { leaves: start, acked: undefined };
  let t = start;
  let rto = RTO_MIN_MS;
  let leaves = -1;
  for (;;) {
    t += rto;
    rto = Math.min(2 * rto, RTO_MAX_MS);
    if (draw() < loss) continue; // this copy lost
    if (leaves < 0) leaves = t;
    if (draw() >= loss) return { leaves, acked: t };
  }
}

/** How long a connection cut for a jam takes to come back (`streamCutMs`), ms. */
export const STREAM_REDIAL_MS = 1000;

/** One direction of a simulated TCP connection (see {@link streamSegment}). */
export interface Stream {
  /** When the batch waiting for the sender's window leaves (frames sent before join it). */
  batchLeaves: number;
  /** When that batch arrives. */
  batchAt: number;
  /** When the sender may send new data (its last timed-out segment was acknowledged). */
  freeAt: number;
  /** When the last frame sent arrives: frames arrive in order. */
  lastAt: number;
}

/** A connection not used yet. */
export function newStream(): Stream {
  return { batchLeaves: -Infinity, batchAt: 0, freeAt: -Infinity, lastAt: -Infinity };
}

/** The path a stream's packets take (loss and latency may change between frames). */
export interface StreamPath {
  /** Probability that a packet is lost, each way, now. */
  loss(): number;
  /** One-way latency now, ms. */
  latencyMs(): number;
  /** A frame that would arrive later than this after it was sent is lost instead, ms. */
  readonly cutMs: number;
  /** Uniform numbers in [0, 1) (the network's seeded randomness). */
  draw(): number;
  /** One trip's delay, ms (latency and jitter), drawn after the packet's fate. */
  delay(): number;
}

/**
 * When a frame sent at clock ms `now` on `s` arrives, delayed by lost packets and by the frames
 * ahead of it; `undefined` when the connection is cut instead (this frame is lost with it, and
 * `s` starts afresh {@link STREAM_REDIAL_MS} later).
 */
export function streamArrival(s: Stream, now: number, path: StreamPath): number | undefined {
  let at: number;
  if (now < s.batchLeaves) at = s.batchAt;
  else {
    const start = now < s.freeAt ? s.freeAt : now;
    const seg = streamSegment(start, path.loss(), path.draw);
    at = seg.leaves + path.delay();
    s.batchLeaves = start;
    s.batchAt = at;
    if (seg.acked !== undefined) s.freeAt = seg.acked + 2 * path.latencyMs();
  }
  if (at < s.lastAt) at = s.lastAt;
  if (at - now > path.cutMs) {
    // Cut: this frame is lost with the connection, and a new one is dialled.
    s.batchLeaves = -Infinity;
    s.batchAt = 0;
    s.freeAt = now + STREAM_REDIAL_MS;
    s.lastAt = -Infinity;
    return undefined;
  }
  s.lastAt = at;
  return at;
}
