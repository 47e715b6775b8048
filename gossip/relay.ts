/**
 * The relay side of SWIM's indirect probe: a member asked by another (a ping-req) pings the
 * target on its behalf and answers with the target's ack, or with a nack when the target stayed
 * silent or refused the connection (the prober reads missing nacks as its own messages lost,
 * see `probe.ts`).
 *
 * What a peer can make a relay do is bounded: it relays only to the address held for a live
 * member (never to an address the requester names), at most {@link MAX_RELAYS} at a time, and on
 * an authenticating transport only the target's own ack counts, so no member can keep a dead
 * member alive through a relay with forged answers.
 *
 * @module
 */
import type { TimerHandle } from "../lib/cluster/clock.ts";
import { isLive } from "../lib/cluster/membership.ts";
import type { EngineHost } from "./host.ts";
import type { PingReqMsg } from "./messages.ts";
import type { Answerer } from "./probe.ts";

/** What a relay needs from the engine. */
export interface RelayHost extends EngineHost {
  /** Sends a ping to the member `targetName` at `address`, with sequence number `seq`. */
  ping(address: string, targetName: string, seq: number): void;
}

/** Most ping-reqs relayed at once (each holds a timer until its ack or timeout). */
export const MAX_RELAYS = 64;

/**
 * How long a relay waits for the target's ack before it nacks, in ms: the probe timeout, but
 * short enough that the nack reaches the prober before the end of its interval (the indirect
 * window is `probeIntervalMs − probeTimeoutMs`; a fifth of it is left for the two trips).
 */
export function relayTimeout(config: { probeIntervalMs: number; probeTimeoutMs: number }): number {
  return Math.min(config.probeTimeoutMs, 0.8 * (config.probeIntervalMs - config.probeTimeoutMs));
}

interface Relay {
  readonly requester: string;
  readonly origSeq: number;
  readonly address: string;
  /** The member probed on the requester's behalf (only its ack counts). */
  readonly target: string;
  timer: TimerHandle | undefined;
  /** Whether the ping was sent a second time (halfway through the relay timeout). */
  retried: boolean;
}

/** Relays other members' indirect probes for one member. */
export class Relayer {
  readonly #h: RelayHost;
  /** Relays under way, by the sequence number of this member's own ping. */
  readonly #relays = new Map<number, Relay>();

  constructor(host: RelayHost) {
    this.#h = host;
  }

  /**
   * Relays a ping for another member (ping-req), to the address held for it: a member we do
   * not hold live gets a nack at once, and beyond {@link MAX_RELAYS} relays under way the
   * request is dropped.
   */
  handlePingReq(msg: PingReqMsg, from: string): void {
    const h = this.#h;
    const target = h.state.table.get(msg.n);
    if (!target || target === h.state.self || !isLive(target.state)) {
      h.send(from, { t: "nack", f: h.name, s: msg.s });
      return;
    }
    if (this.#relays.size >= MAX_RELAYS) return;
    const seq = h.nextSeq();
    const relay: Relay = {
      requester: from,
      origSeq: msg.s,
      address: target.address,
      target: target.name,
      timer: undefined,
      retried: false,
    };
    this.#relays.set(seq, relay);
    // Halfway, the ping once more (a lost frame is not a lost member); at the end, the nack.
    const half = relayTimeout(h.config) / 2;
    const expire = () => {
      if (this.#relays.get(seq) !== relay) return;
      if (!relay.retried) {
        relay.retried = true;
        relay.timer = h.clock.setTimeout(expire, half);
        h.ping(relay.address, relay.target, seq);
        return;
      }
      this.#relays.delete(seq);
      h.send(from, { t: "nack", f: h.name, s: msg.s });
    };
    relay.timer = h.clock.setTimeout(expire, half);
    h.ping(relay.address, target.name, seq);
  }

  /**
   * An ack for `seq` arrived from `by`: when it answers a relayed ping (from its target), it is
   * passed on to the requester. Returns `true` when it belonged to a relay.
   */
  handleAck(seq: number, by: Answerer): boolean {
    const relay = this.#relays.get(seq);
    if (!relay) return false;
    if (by.authenticated && by.name !== relay.target) return false;
    this.#relays.delete(seq);
    if (relay.timer !== undefined) this.#h.clock.clearTimeout(relay.timer);
    this.#h.send(relay.requester, { t: "ack", f: this.#h.name, s: relay.origSeq });
    return true;
  }

  /** Nothing listens at `address`: every relay to it nacks at once, saying so. */
  handleRefused(address: string): void {
    for (const [seq, r] of this.#relays) {
      if (r.address !== address) continue;
      this.#relays.delete(seq);
      if (r.timer !== undefined) this.#h.clock.clearTimeout(r.timer);
      this.#h.send(r.requester, { t: "nack", f: this.#h.name, s: r.origSeq, r: true });
    }
  }

  /** Stops every relay's timer (no nack is sent). */
  stop(): void {
    for (const r of this.#relays.values()) {
      if (r.timer !== undefined) this.#h.clock.clearTimeout(r.timer);
    }
    this.#relays.clear();
  }
}
