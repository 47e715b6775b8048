/**
 * Shared connections of the WebSocket transport (see `ws_transport.ts`, "Shared connections"):
 * the proof exchange of `link_proof.ts` on both sides, the accepted connections whose dialler
 * confirmed sharing (by the address they advertised), the listener's side of the connections we
 * dialled (readers), and which shared connection a frame to an address goes on.
 *
 * @module
 */
import type { Buffer } from "node:buffer";
import type { IncomingMessage } from "node:http";
import WebSocket from "ws";
import type { SendOptions } from "../lib/cluster/transport.ts";
import { fingerprint as certFingerprint } from "../lib/net/certificates.ts";
import {
  isShareNonce,
  provenFingerprint,
  SHARE_CERT_HEADER,
  SHARE_CONFIRM,
  SHARE_HEADER,
  SHARE_PROOF_HEADER,
  shareProver,
} from "./link_proof.ts";
import { type Inbound, type Outbound, RELIABLE_FACTOR, type WsContext } from "./ws_context.ts";

/** The shared connections of one transport (see {@link createWsSharing}). */
export interface WsSharing {
  /** The listener's side of outbound connections it shares with us (read as inbound ones). */
  readonly readers: Set<Inbound>;
  /** Accepted connections whose dialler confirmed sharing, by the address they advertised. */
  readonly sharedIn: Map<string, Set<Inbound>>;
  /**
   * Prepares our proof for a dialler that asked for one (`link_proof.ts`): the upgrade answer
   * carries it. Whether the proof was offered.
   */
  offerProof(req: IncomingMessage, diallerFingerprint: string): boolean;
  /**
   * Adds the proof headers prepared for `req` to its upgrade answer (the `headers` event of the
   * WebSocket server).
   */
  addProof(headers: string[], req: IncomingMessage): void;
  /**
   * The dialler's confirming ping: `conn` may carry our frames to its member from now on
   * (`conn`: an accepted connection still held, that was sent our proof).
   */
  acceptShare(conn: Inbound, data: Buffer): void;
  /**
   * Forgets a shared accepted connection. One lost without a close frame (1006) whose member
   * lives at its address is dialled back at once (see `check`): a crashed dialler is then
   * reported refused now, not at the next frame we send it.
   */
  unshare(conn: Inbound, code?: number): void;
  /**
   * The shared accepted connection a frame to `to` goes on instead of `peer` (ours, or none):
   * any when we hold none; else only when `to` has the lower address, since both members send
   * on the connection the lower one dialled.
   */
  viaShared(to: string, peer: Outbound | undefined): Inbound | undefined;
  /**
   * The dialler's side: checks the listener's proof in its upgrade answer; when it holds and
   * names a trusted certificate, what the listener sends on the connection is read as from it.
   */
  checkProof(peer: Outbound, to: string, nonce: string, res: IncomingMessage): void;
  /** Sends on a connection `to`'s member dialled, under the same high-water mark. */
  sendShared(
    conn: Inbound,
    data: string | Uint8Array,
    size: number,
    sendOptions?: SendOptions,
  ): void;
}

/**
 * The shared connections of the transport of `ctx`. `share`: whether we answer asks for our
 * proof (with `cert` and `key`); `addressOf`: the member table's address of a certificate's
 * member (without it, nothing is sent on accepted connections); `check`: dials an address again
 * after its connection was lost (the outbound side's).
 */
export function createWsSharing(
  ctx: WsContext,
  options: {
    share: boolean;
    cert: string;
    key: string;
    addressOf?: (fingerprint: string) => string | undefined;
    check: (to: string) => void;
  },
): WsSharing {
  const log = ctx.log;
  const s = ctx.stats;
  const { share, addressOf, check } = options;
  const ownFingerprint = share ? certFingerprint(options.cert) : "";
  const prove = share ? shareProver(options.cert, options.key) : undefined;
  const readers = new Set<Inbound>();
  const sharedIn = new Map<string, Set<Inbound>>();
  /** The proof headers to add to an upgrade answer (see `link_proof.ts`). */
  const proofs = new WeakMap<IncomingMessage, string[]>();

  function offerProof(req: IncomingMessage, diallerFingerprint: string): boolean {
    const nonce = req.headers[SHARE_HEADER];
    if (!prove || !isShareNonce(nonce)) return false;
    try {
      proofs.set(req, prove(nonce, diallerFingerprint));
      return true;
    } catch (err) {
      log.warn("Gossip share proof failed", { err });
      return false;
    }
  }

  function acceptShare(conn: Inbound, data: Buffer): void {
    if (data.toString("latin1") !== SHARE_CONFIRM) return;
    conn.shared = true;
    let set = sharedIn.get(conn.from);
    if (!set) sharedIn.set(conn.from, set = new Set());
    set.add(conn);
  }

  function unshare(conn: Inbound, code?: number): void {
    if (!conn.shared) return;
    conn.shared = false;
    const set = sharedIn.get(conn.from);
    set?.delete(conn);
    if (set?.size === 0) sharedIn.delete(conn.from);
    if (code === 1006 && !ctx.closed && routes(conn, conn.from)) check(conn.from);
  }

  /** An open connection `to`'s member dialled and shares with us, the latest one. */
  function sharedTo(to: string): Inbound | undefined {
    const set = sharedIn.get(to);
    if (!set || !addressOf) return undefined;
    let found: Inbound | undefined;
    for (const conn of set) {
      if (conn.ws.readyState === WebSocket.OPEN && routes(conn, to)) found = conn;
    }
    return found;
  }

  /** Whether the member table puts `conn`'s certificate's member at `to` (asked once known). */
  function routes(conn: Inbound, to: string): boolean {
    if (conn.routes === undefined && addressOf) {
      let at: string | undefined;
      try {
        at = addressOf(conn.fingerprint);
      } catch (err) {
        log.error("Gossip addressOf failed", { err });
      }
      if (at !== undefined) conn.routes = at === to;
    }
    return conn.routes === true;
  }

  function viaShared(to: string, peer: Outbound | undefined): Inbound | undefined {
    if (sharedIn.size === 0) return undefined;
    if (peer && !(to < ctx.address)) return undefined;
    return sharedTo(to);
  }

  function checkProof(peer: Outbound, to: string, nonce: string, res: IncomingMessage): void {
    const fp = provenFingerprint(
      nonce,
      ownFingerprint,
      res.headers[SHARE_CERT_HEADER],
      res.headers[SHARE_PROOF_HEADER],
    );
    if (fp === undefined || !ctx.isTrusted(fp)) return; // one-way, as with older members
    peer.reader = { ws: peer.ws, from: to, fingerprint: fp, idle: 0, opened: 0, seen: 0 };
  }

  function sendShared(
    conn: Inbound,
    data: string | Uint8Array,
    size: number,
    sendOptions?: SendOptions,
  ): void {
    const limit = sendOptions?.reliable ? ctx.mark * RELIABLE_FACTOR : ctx.mark;
    const buffered = conn.ws.bufferedAmount;
    if (buffered > 0 && buffered + size > limit) return void s.dropped++;
    s.framesSent++;
    s.bytesSent += size;
    ctx.write(conn.ws, data);
  }

  return {
    readers,
    sharedIn,
    offerProof,
    addProof(headers, req) {
      const lines = proofs.get(req);
      if (lines) headers.push(...lines);
    },
    acceptShare,
    unshare,
    viaShared,
    checkProof,
    sendShared,
  };
}
