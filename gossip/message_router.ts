/**
 * Where a member's inbound traffic goes: each frame the transport delivers is decoded (a
 * malformed one dropped, counted, and logged at most once per 10 s), its sender named when the
 * transport authenticated it, and the message handed to the part that handles its kind; a
 * refused connection is told to every part that may be waiting on that address.
 *
 * Separate from the engine (engine.ts), which builds the parts and exposes the member's API:
 * this is the one place that decides who handles what arrives, and in what order (records
 * before the claims that may need them, updates before the answer that carries a refutation).
 *
 * @module
 */
import type { Frame } from "../lib/cluster/transport.ts";
import type { Trust } from "../lib/cluster/trust.ts";
import type { Disseminator } from "./dissemination.ts";
import type { ExtensionFetcher } from "./ext_fetch.ts";
import type { EngineHost } from "./host.ts";
import { decodeMessage } from "./message_decode.ts";
import type { Message, Update } from "./messages.ts";
import type { Prober } from "./probe.ts";
import type { PushPull } from "./push_pull.ts";
import type { RecordTable } from "./records.ts";
import type { Relayer } from "./relay.ts";

/** The engine's parts a {@link MessageRouter} hands messages to. */
export interface RouterParts {
  readonly trust: Trust;
  readonly records: RecordTable;
  readonly out: Disseminator;
  readonly prober: Prober;
  readonly relayer: Relayer;
  readonly fetcher: ExtensionFetcher;
  readonly pushPull: PushPull;
}

/** One member's inbound dispatch (see the module comment). */
export class MessageRouter {
  readonly #h: EngineHost;
  readonly #p: RouterParts;
  #stopped = false;
  #malformedLogged = -Infinity;
  /** Address of the member whose piggybacked updates are being applied. */
  #from: string | undefined;
  /** Messages handled and malformed frames dropped since creation. */
  readonly counters = { received: 0, malformed: 0 };

  constructor(host: EngineHost, parts: RouterParts) {
    this.#h = host;
    this.#p = parts;
  }

  /**
   * The address whose piggybacked updates are being applied right now, else `undefined`: a
   * member that admitted another holds its extension list before that one listens.
   */
  get applyingFrom(): string | undefined {
    return this.#from;
  }

  /** Drops everything that arrives from now on. */
  stop(): void {
    this.#stopped = true;
  }

  /** A frame arrived from `from`; `peer`: the identity the transport authenticated, if any. */
  receive(from: string, frame: Frame, peer?: string): void {
    if (this.#stopped) return;
    const h = this.#h;
    const msg = decodeMessage(frame);
    if (typeof msg === "string") {
      this.counters.malformed++;
      const now = h.clock.now();
      // One line per 10 s: a flood of garbage must not become a flood of logs.
      if (now - this.#malformedLogged >= 10_000) {
        this.#malformedLogged = now;
        h.logger.warn("Dropping a malformed gossip frame", {
          from,
          reason: msg,
          dropped: this.counters.malformed,
        });
      }
      return;
    }
    this.counters.received++;
    try {
      // The member the transport authenticated, when it does: claims made on its own
      // connection are first-hand, and `f` counts as contact only when it names that member.
      const sender = peer === undefined ? undefined : this.#p.trust.nameOf(peer);
      // Answers go where the member lives, not to whatever address its connection advertised:
      // no member can have others dial a third party on its behalf.
      const held = sender === undefined ? undefined : h.state.table.get(sender)?.address;
      this.#dispatch(held ?? from, msg, sender, peer !== undefined);
    } catch (err) {
      h.logger.error("Failed to handle a gossip message", { from, type: msg.t, err });
    }
  }

  /** Nothing listens at `to`: every part waiting on it learns so now, not at its timeout. */
  refused(to: string): void {
    if (this.#stopped) return;
    const p = this.#p;
    try {
      p.relayer.handleRefused(to);
      p.prober.handleRefused(to);
      p.fetcher.handleRefused(to);
      p.pushPull.handleRefused(to);
    } catch (err) {
      this.#h.logger.error("Failed to handle a refused connection", { to, err });
    }
  }

  #dispatch(from: string, msg: Message, sender: string | undefined, authenticated: boolean): void {
    const h = this.#h;
    const p = this.#p;
    if (!authenticated || sender === msg.f) {
      const e = h.state.heard(msg.f);
      // A member held dead is talking to us: it is back, whatever we concluded.
      if (e?.state === "dead") p.pushPull.revive(e);
    }
    switch (msg.t) {
      case "ping": {
        if (msg.pb) this.#applyAll(msg.pb, from, sender);
        if (msg.n !== h.name) {
          h.logger.debug("Ignoring a ping meant for another member", { target: msg.n, from });
          return;
        }
        // Updates first: a refutation queued by the piggybacked suspicion rides on this ack.
        const pb = p.out.piggyback(msg.f);
        h.send(
          from,
          pb.length ? { t: "ack", f: h.name, s: msg.s, pb } : { t: "ack", f: h.name, s: msg.s },
        );
        return;
      }
      case "ack":
        if (msg.pb) this.#applyAll(msg.pb, from, sender);
        if (!p.prober.handleAck(msg.s, { authenticated, name: sender })) {
          p.relayer.handleAck(msg.s, { authenticated, name: sender });
        }
        return;
      case "nack":
        p.prober.handleNack(msg.s, msg.r === true, { authenticated, name: sender });
        return;
      case "preq":
        if (msg.pb) this.#applyAll(msg.pb, from, sender);
        p.relayer.handlePingReq(msg, from);
        return;
      case "gossip":
        if (msg.a === true) p.out.heardAnnouncement(() => this.#applyAll(msg.pb, from, sender));
        else this.#applyAll(msg.pb, from, sender);
        return;
      case "pp":
        p.pushPull.handle(from, msg, sender);
        return;
      case "extq":
        p.fetcher.handleRequest(msg, from);
        return;
      case "ext":
        p.fetcher.handleReply(msg);
        return;
    }
  }

  /** Applies piggybacked updates: records first, since they may be the evidence a claim needs. */
  #applyAll(updates: readonly Update[], from: string, sender: string | undefined): void {
    this.#from = from;
    try {
      let records: unknown[] | undefined;
      for (const u of updates) if (u.k === "rec") (records ??= []).push(u.r);
      if (records) this.#p.records.receiveAll(records, from, false);
      for (const u of updates) if (u.k !== "rec") this.#h.state.apply(u, sender);
    } finally {
      this.#from = undefined;
    }
  }
}
