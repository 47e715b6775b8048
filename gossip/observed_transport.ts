/**
 * A {@link Transport} decorator that reports every frame to a {@link GossipObserver}: its
 * direction, message type and size. It serialises outbound messages itself (the transport
 * below would, so this costs nothing more) to know their exact size, and reads an inbound
 * frame's type from its first bytes without parsing it: parsing, and its limits, stay the
 * engine's. Push-pull exchanges are counted from the frames this member sends.
 *
 * @module
 */
import { Buffer } from "node:buffer";
import type { Frame, SendOptions, Transport, TransportHandlers } from "../lib/cluster/transport.ts";
import {
  GOSSIP_MESSAGE_TYPES,
  type GossipMessageType,
  type GossipObserver,
} from "../lib/metrics/observers.ts";

const KNOWN = new Set<string>(GOSSIP_MESSAGE_TYPES);
/** Every message is an object literal whose first key is its type: `{"t":"ping",…`. */
const HEAD = /^\{"t":"([a-z]{1,6})"/;
const decoder = new TextDecoder();

function typeOf(t: unknown): GossipMessageType {
  return typeof t === "string" && KNOWN.has(t) ? t as GossipMessageType : "other";
}

/** The type of a frame as text or bytes, read from its head. */
function typeOfText(frame: string | Uint8Array): GossipMessageType {
  const head = typeof frame === "string"
    ? frame.slice(0, 16)
    : decoder.decode(frame.subarray(0, 16));
  return typeOf(HEAD.exec(head)?.[1]);
}

function sizeOf(frame: string | Uint8Array): number {
  return typeof frame === "string" ? Buffer.byteLength(frame) : frame.byteLength;
}

/** Wraps `inner` so that `observer` sees every frame it carries. */
export function observeTransport(inner: Transport, observer: GossipObserver): Transport {
  return {
    address: inner.address,
    send(to: string, frame: Frame, options?: SendOptions): void {
      if (typeof frame === "string" || frame instanceof Uint8Array) {
        observer.frame("sent", typeOfText(frame), sizeOf(frame));
        return inner.send(to, frame, options);
      }
      let text: string;
      try {
        text = JSON.stringify(frame);
      } catch {
        return inner.send(to, frame, options); // the transport reports it as unencodable
      }
      const message = frame as { t?: unknown; r?: unknown; o?: unknown };
      const type = typeOf(message.t);
      observer.frame("sent", type, Buffer.byteLength(text));
      if (type === "pp" && !message.o) observer.pushPull(message.r ? "answered" : "initiated");
      inner.send(to, text, options);
    },
    listen(handlers: TransportHandlers): void {
      inner.listen({
        message(from: string, frame: Frame, peer?: string): void {
          if (typeof frame === "string" || frame instanceof Uint8Array) {
            observer.frame("received", typeOfText(frame), sizeOf(frame));
          } else {
            observer.frame("received", typeOf((frame as { t?: unknown }).t), 0);
          }
          // The sender's authenticated identity goes on with the frame: without it the engine
          // takes every frame as unauthenticated (anyone's ack would count, any member's claim
          // as first-hand).
          handlers.message(from, frame, peer);
        },
        refused: (to: string) => handlers.refused(to),
      });
    },
    close: () => inner.close(),
    redial: inner.redial ? (to: string) => inner.redial!(to) : undefined,
  };
}
