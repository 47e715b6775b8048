/**
 * An in-memory network of {@link Transport} endpoints for tests and simulations, driven by a
 * {@link SimClock} and a seeded {@link Random}: configurable latency (fixed + jitter), loss,
 * partitions, stalls (a member paused like `kill -STOP`: its traffic waits) and crashes (like
 * `kill -9`: sends to it are refused). Deterministic for a given seed and sequence of calls.
 *
 * Loss comes in two kinds: `frames` drops each frame on its own (a datagram network, as
 * memberlist's UDP probes meet it), `stream` loses packets under a TCP connection per pair of
 * members, as the WebSocket transport meets a lossy network: nothing is lost, but a lost packet
 * is sent again after a retransmission timeout that doubles at each loss in a row, and every
 * frame behind it on that connection waits (head-of-line blocking): see tcp_stream.ts.
 *
 * Cheap enough for 1000 members: one small record per frame, no closure per frame, and
 * optionally no serialization at all (frames are passed by reference).
 *
 * @module
 */
import type { Random } from "../lib/cluster/random.ts";
import type { Frame, SendOptions, Transport, TransportHandlers } from "../lib/cluster/transport.ts";
import type { SimClock } from "./sim_clock.ts";
import { newStream, type Stream, streamArrival, type StreamPath } from "./tcp_stream.ts";

/** Options of a {@link MemoryNetwork}. */
export interface MemoryNetworkOptions {
  /** The clock deliveries are scheduled on. */
  readonly clock: SimClock;
  /** Drives loss and jitter. */
  readonly random: Random;
  /** One-way latency in ms. @default 0.25 (loopback-like) */
  readonly latencyMs?: number;
  /** Extra uniform latency in [0, jitterMs) ms. @default 0 */
  readonly jitterMs?: number;
  /** Probability that a frame (or, with `lossModel: "stream"`, a packet) is lost, in [0, 1]. @default 0 */
  readonly loss?: number;
  /**
   * `frames`: a lost frame is gone (a datagram network). `stream`: each ordered pair of
   * addresses is a TCP connection (see `streamSegment`, tcp_stream.ts); a lost packet delays its frame
   * and every later frame on that connection, and loses nothing. @default "frames"
   */
  readonly lossModel?: LossModel;
  /**
   * With `lossModel: "stream"`: a frame that would arrive later than this after it was sent is
   * lost instead, and the connection starts afresh a second later (a TCP handshake's first
   * retransmission timeout), as the WebSocket transport closes a connection whose liveness
   * ping went unanswered from one sweep to the next (15 to 75 s) and dials again. @default Infinity
   */
  readonly streamCutMs?: number;
  /**
   * `object`: frames travel by reference (fast, shared). `json`: object frames are encoded to
   * JSON text on send, exercising the receiver's decoder. @default "object"
   */
  readonly frames?: "object" | "json";
  /** Count bytes of object frames (costs a `JSON.stringify` per frame). @default false */
  readonly countBytes?: boolean;
  /**
   * Model connections as the WebSocket transport holds them: an endpoint that sent to an
   * address within `connectionIdleMs` holds a connection to it, and a crash of that address
   * reaches it at once as a refusal (its connection closes, the transport dials again and is
   * refused), two trips later. Costs one map entry per pair that talked. @default false
   */
  readonly connections?: boolean;
  /** How long an unused connection stays open (the WebSocket transport's idle close). @default 30000 */
  readonly connectionIdleMs?: number;
}

/** How {@link MemoryNetworkOptions.loss} acts: see there. */
export type LossModel = "frames" | "stream";

/** Traffic counters of one address. */
export interface EndpointStats {
  sentFrames: number;
  sentBytes: number;
  receivedFrames: number;
  receivedBytes: number;
  /** Frames dropped by loss or partitions on the way out. */
  dropped: number;
}

interface Delivery {
  readonly from: Endpoint;
  readonly to: string;
  readonly frame: Frame;
  readonly bytes: number;
  /** `true`: this is the refusal notice travelling back to `from`. */
  readonly refusal: boolean;
}

class Endpoint implements Transport {
  readonly address: string;
  /** The identity receivers are told the frames come from (see `TransportHandlers.message`). */
  readonly identity: string | undefined;
  readonly net: MemoryNetwork;
  handlers: TransportHandlers | undefined;
  closed = false;
  stalled = false;
  /** With `connections`: the endpoints that hold a connection to this one, and since when they last used it. */
  readonly dialledBy = new Map<Endpoint, number>();
  /** With `lossModel: "stream"`: the connection to each address this one sent to. */
  readonly streams = new Map<string, Stream>();
  /** Traffic held while stalled: inbound deliveries and outbound sends, in order. */
  held: { inbound: boolean; d: Delivery }[] = [];
  group = -1;
  readonly stats: EndpointStats = {
    sentFrames: 0,
    sentBytes: 0,
    receivedFrames: 0,
    receivedBytes: 0,
    dropped: 0,
  };

  constructor(net: MemoryNetwork, address: string, identity: string | undefined) {
    this.net = net;
    this.address = address;
    this.identity = identity;
  }

  send(to: string, frame: Frame, _options?: SendOptions): void {
    if (this.closed) return;
    this.net.send(this, to, frame);
  }

  listen(handlers: TransportHandlers): void {
    this.handlers = handlers;
  }

  close(): Promise<void> {
    this.closed = true;
    this.held = [];
    return Promise.resolve();
  }
}

/** A simulated network; {@link MemoryNetwork.endpoint} creates one transport per address. */
export class MemoryNetwork {
  readonly clock: SimClock;
  readonly #random: Random;
  #latency: number;
  #jitter: number;
  #loss: number;
  readonly #stream: boolean;
  readonly #cutMs: number;
  /** The path of every stream (see tcp_stream.ts), read at each frame. */
  readonly #path: StreamPath;
  readonly #json: boolean;
  readonly #countBytes: boolean;
  readonly #connections: boolean;
  readonly #idleMs: number;
  readonly #endpoints = new Map<string, Endpoint>();
  #drop?: (from: string, to: string, frame: Frame) => boolean;
  readonly #deliver = (d: Delivery) => this.#arrive(d);

  constructor(options: MemoryNetworkOptions) {
    this.clock = options.clock;
    this.#random = options.random;
    this.#latency = options.latencyMs ?? 0.25;
    this.#jitter = options.jitterMs ?? 0;
    this.#loss = options.loss ?? 0;
    this.#stream = options.lossModel === "stream";
    this.#cutMs = options.streamCutMs ?? Infinity;
    this.#json = options.frames === "json";
    this.#countBytes = options.countBytes ?? false;
    this.#connections = options.connections ?? false;
    this.#idleMs = options.connectionIdleMs ?? 30_000;
    // One object for the network's life, not one per frame.
    this.#path = {
      loss: () => this.#loss,
      latencyMs: () => this.#latency,
      cutMs: this.#cutMs,
      draw: () => this.#random.next(),
      delay: () => this.#delay(),
    };
  }

  /**
   * Creates (or replaces, after a crash) the transport listening at `address`. `identity`: what
   * receivers are told the frames come from, as a transport that authenticates its peers does
   * (the simulation passes the member name); absent, frames come unauthenticated.
   */
  endpoint(address: string, identity?: string): Transport {
    const old = this.#endpoints.get(address);
    if (old && !old.closed) throw new Error(`Address "${address}" is already in use`);
    const ep = new Endpoint(this, address, identity);
    if (old) ep.group = old.group;
    this.#endpoints.set(address, ep);
    return ep;
  }

  /** Traffic counters of `address` (zeros when unknown). */
  stats(address: string): EndpointStats {
    return this.#endpoints.get(address)?.stats ??
      { sentFrames: 0, sentBytes: 0, receivedFrames: 0, receivedBytes: 0, dropped: 0 };
  }

  /** Sets the loss probability. */
  setLoss(loss: number): void {
    this.#loss = loss;
  }

  /** Sets the one-way latency and jitter (ms). */
  setLatency(latencyMs: number, jitterMs = 0): void {
    this.#latency = latencyMs;
    this.#jitter = jitterMs;
  }

  /**
   * Splits the network: each listed group can reach only itself; addresses in no group form
   * one more group together. Frames already in flight still arrive.
   */
  partition(...groups: readonly (readonly string[])[]): void {
    for (const ep of this.#endpoints.values()) ep.group = -1;
    groups.forEach((g, i) => {
      for (const a of g) {
        const ep = this.#endpoints.get(a);
        if (ep) ep.group = i;
      }
    });
  }

  /**
   * Drops every frame `drop` picks (`from` and `to` are addresses), as a network that loses one
   * kind of message would; `undefined` stops dropping. Sent frames count as sent and dropped.
   */
  dropWhere(drop: ((from: string, to: string, frame: Frame) => boolean) | undefined): void {
    this.#drop = drop;
  }

  /** Removes every partition. */
  heal(): void {
    for (const ep of this.#endpoints.values()) ep.group = -1;
  }

  /** Pauses `address` (like `kill -STOP`): its inbound and outbound traffic waits. */
  stall(address: string): void {
    const ep = this.#endpoints.get(address);
    if (ep) ep.stalled = true;
  }

  /** Resumes a stalled address: held outbound frames leave, held inbound frames arrive. */
  resume(address: string): void {
    const ep = this.#endpoints.get(address);
    if (!ep || !ep.stalled) return;
    ep.stalled = false;
    const held = ep.held;
    ep.held = [];
    for (const h of held) {
      if (ep.closed) break;
      if (h.inbound) this.#arrive(h.d);
      else this.#transmit(h.d);
    }
  }

  /**
   * Crashes `address` (like `kill -9`): it stops sending and receiving and later frames to it
   * are refused. Stop the engine on top of it too; a new endpoint may take the address later.
   */
  crash(address: string): void {
    const ep = this.#endpoints.get(address);
    if (!ep) return;
    void ep.close();
    // Every connection to it closes; each holder dials again and is refused.
    const now = this.clock.now();
    for (const [from, at] of ep.dialledBy) {
      if (from.closed || now - at >= this.#idleMs || from.group !== ep.group) continue;
      const d: Delivery = { from, to: address, frame: "", bytes: 0, refusal: true };
      this.clock.schedule(this.#delay() + this.#delay(), this.#deliver, d);
    }
    ep.dialledBy.clear();
  }

  /** @internal Called by endpoints. */
  send(from: Endpoint, to: string, frame: Frame): void {
    let f = frame;
    let bytes = 0;
    if (typeof f === "string") bytes = f.length;
    else if (f instanceof Uint8Array) bytes = f.byteLength;
    else if (this.#json || this.#countBytes) {
      // A frame that cannot be encoded (a cycle, a BigInt) is dropped, as a real transport
      // does: `send` never throws.
      let text: string;
      try {
        text = JSON.stringify(f);
      } catch {
        from.stats.dropped++;
        return;
      }
      bytes = text.length;
      if (this.#json) f = text;
    }
    if (this.#drop?.(from.address, to, frame)) {
      from.stats.sentFrames++;
      from.stats.dropped++;
      return;
    }
    const d: Delivery = { from, to, frame: f, bytes, refusal: false };
    if (from.stalled) {
      from.held.push({ inbound: false, d });
      return;
    }
    this.#transmit(d);
  }

  #transmit(d: Delivery): void {
    const from = d.from;
    from.stats.sentFrames++;
    from.stats.sentBytes += d.bytes;
    const target = this.#endpoints.get(d.to);
    if (target && !target.closed && from.group !== target.group) {
      from.stats.dropped++;
      return;
    }
    if (this.#stream) return this.#sendOnStream(d);
    if (this.#loss > 0 && this.#random.next() < this.#loss) {
      from.stats.dropped++;
      return;
    }
    this.clock.schedule(this.#delay(), this.#deliver, d);
  }

  /** Sends `d` on its connection: delayed by lost packets and by the frames ahead of it. */
  #sendOnStream(d: Delivery): void {
    const now = this.clock.now();
    const streams = d.from.streams;
    let s = streams.get(d.to);
    if (!s) streams.set(d.to, s = newStream());
    const at = streamArrival(s, now, this.#path);
    if (at === undefined) {
      d.from.stats.dropped++;
      return;
    }
    this.clock.schedule(at - now, this.#deliver, d);
  }

  #delay(): number {
    return this.#jitter > 0 ? this.#latency + this.#random.next() * this.#jitter : this.#latency;
  }

  #arrive(d: Delivery): void {
    if (d.refusal) {
      const from = d.from;
      if (!from.closed && from.handlers) from.handlers.refused(d.to);
      return;
    }
    const target = this.#endpoints.get(d.to);
    if (!target || target.closed) {
      // Nothing listens there: the sender learns it one more trip later (a TCP RST).
      if (!d.from.closed) {
        this.clock.schedule(this.#delay(), this.#deliver, { ...d, refusal: true });
      }
      return;
    }
    if (target.stalled) {
      target.held.push({ inbound: true, d });
      return;
    }
    if (this.#connections) target.dialledBy.set(d.from, this.clock.now());
    target.stats.receivedFrames++;
    target.stats.receivedBytes += d.bytes;
    target.handlers?.message(d.from.address, d.frame, d.from.identity);
  }
}
