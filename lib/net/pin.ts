/**
 * The one place that pins TLS peers by certificate fingerprint, for `https.request` and for the
 * `ws` client alike, in Node and in Deno.
 *
 * Two traps shape this module (ecosystem.md §3.2, verified again in both runtimes):
 * - `checkServerIdentity` is only consulted after the chain verified, and its verdict is
 *   **ignored** when `rejectUnauthorized` is `false`. "Accept any chain and reject in
 *   checkServerIdentity" therefore accepts everyone; `rejectUnauthorized` stays `true` here.
 * - `checkServerIdentity` must return an `Error` to reject. `@types/ws` types it as returning
 *   `boolean`, and `false` ACCEPTS. The options object carries one callback typed for both.
 *
 * @module
 */
import { createHash } from "node:crypto";
import type { RequestOptions } from "node:https";
import type { createConnection as netCreateConnection, Socket } from "node:net";
import { connect, createSecureContext } from "node:tls";
import type { ConnectionOptions, PeerCertificate, SecureContext, TLSSocket } from "node:tls";
import { ForbiddenError, InvalidInputError, UnavailableError } from "../errors.ts";
import { fingerprint as certFingerprint } from "./certificates.ts";
import { deadlineIn } from "./late_deadline.ts";

/** What to pin and what to present. */
export interface PinOptions {
  /** Expected peer certificate fingerprint: hex SHA-256 of its DER (colons and case ignored). */
  fingerprint: string;
  /** The expected peer certificate (PEM), when known (trust store): pinned as the only CA. */
  peerCert?: string;
  /** Our certificate (PEM), presented for mutual TLS. */
  cert?: string;
  /** Our private key (PEM) for `cert`. */
  key?: string;
  /** Handshake deadline when `peerCert` is unknown, in ms. @default 30000 */
  handshakeTimeoutMs?: number;
}

type NodeCheck = (host: string, cert: PeerCertificate) => Error | undefined;
type WsCheck = (servername: string, cert: unknown) => boolean;
type NodeCreate = NonNullable<RequestOptions["createConnection"]>;

/**
 * TLS options for `https.request(url, opts)` and `new WebSocket(url, opts)`. Spread them into the
 * call as they are. Without `peerCert`, the options carry a `createConnection` that checks the
 * fingerprint before handing the socket over, so do not pass an `agent` alongside them.
 * With an agent, every connection then fails.
 */
export interface PinnedTlsOptions {
  /** The pinned fingerprint, normalised (lowercase hex). */
  readonly fingerprint: string;
  readonly rejectUnauthorized: true;
  readonly ca?: string;
  readonly cert?: string;
  readonly key?: string;
  /**
   * `ca`, `cert` and `key` as one TLS context, built once per distinct triple and shared by
   * every connection made with these options (see {@link secureContextOf}).
   */
  readonly secureContext?: SecureContext;
  readonly checkServerIdentity: NodeCheck & WsCheck;
  readonly createConnection?: NodeCreate & typeof netCreateConnection;
}

/** Lowercase hex without separators; throws when `value` is not a SHA-256 fingerprint. */
export function normalizeFingerprint(value: string): string {
  const hex = value.replace(/:/g, "").toLowerCase();
  if (!/^[0-9a-f]{64}$/.test(hex)) {
    throw new InvalidInputError(`Pin certificate: "${value}" is not a SHA-256 fingerprint`, {
      field: "fingerprint",
    });
  }
  return hex;
}

const noCheck = (): undefined => undefined;

/** Contexts kept by {@link secureContextOf}; beyond this many the oldest is dropped. */
export const SECURE_CONTEXTS_KEPT = 16;
const contexts = new Map<string, SecureContext>();

/**
 * The TLS context of a CA, certificate and key (PEM), built once and reused: building one parses
 * the PEMs and the private key (milliseconds of CPU on the event loop), which a connection
 * given only `ca`/`cert`/`key` would repeat on every dial. A changed certificate is another
 * triple, so it gets its own context; the least recently used of more than
 * {@link SECURE_CONTEXTS_KEPT} are dropped.
 *
 * @throws {Error} (the runtime's) when a PEM does not parse or the key does not fit the certificate
 */
export function secureContextOf(pem: { ca?: string; cert?: string; key?: string }): SecureContext {
  const id = `${pem.ca ?? ""}\0${pem.cert ?? ""}\0${pem.key ?? ""}`;
  let context = contexts.get(id);
  if (context) {
    contexts.delete(id); // re-inserted below: the Map's order is the recency order
  } else {
    context = createSecureContext({
      ...(pem.ca !== undefined ? { ca: pem.ca } : {}),
      ...(pem.cert !== undefined ? { cert: pem.cert, key: pem.key } : {}),
    });
    if (contexts.size >= SECURE_CONTEXTS_KEPT) contexts.delete(contexts.keys().next().value!);
  }
  contexts.set(id, context);
  return context;
}

function derFingerprint(raw: Uint8Array | undefined): string | undefined {
  return raw && raw.length > 0 ? createHash("sha256").update(raw).digest("hex") : undefined;
}

function mismatch(host: string, got: string | undefined, want: string): ForbiddenError {
  return new ForbiddenError(
    got === undefined
      ? `Verify the certificate of "${host}": the peer presented none`
      : `Verify the certificate of "${host}": fingerprint "${got}" does not match the pinned "${want}"`,
  );
}

/** `{ secureContext }`, or nothing when the PEMs do not build one: the dial then fails as before. */
function contextOf(pem: { ca?: string; cert?: string; key?: string }) {
  try {
    return { secureContext: secureContextOf(pem) };
  } catch {
    return {};
  }
}

/**
 * Builds TLS options that accept exactly one peer certificate, identified by `fingerprint`, and
 * present `cert`/`key` when given.
 *
 * With `peerCert`, it becomes the only trusted CA and `checkServerIdentity` compares fingerprints
 * instead of host names (cohort trusts keys, not names). Without it, a self-signed peer cannot
 * pass chain verification, so the options carry a `createConnection` that handshakes without
 * chain verification and hands the socket to HTTP only after the fingerprint matched, before a
 * single request byte is written. A mismatch fails the request with a {@link ForbiddenError}.
 *
 * @throws {InvalidInputError} when `fingerprint` is malformed
 * @throws {ForbiddenError} when `peerCert` does not have the pinned fingerprint
 */
export function pinnedTlsOptions(options: PinOptions): PinnedTlsOptions {
  const want = normalizeFingerprint(options.fingerprint);
  const check: NodeCheck = (host, cert) => {
    const got = derFingerprint(cert?.raw);
    return got === want ? undefined : mismatch(host, got, want);
  };
  const base = {
    fingerprint: want,
    rejectUnauthorized: true as const,
    ...(options.cert !== undefined ? { cert: options.cert, key: options.key } : {}),
    // The one cast: the runtime follows Node's contract (Error rejects), not @types/ws' boolean.
    checkServerIdentity: check as NodeCheck & WsCheck,
  };
  if (options.peerCert !== undefined) {
    const got = certFingerprint(options.peerCert);
    if (got !== want) throw mismatch("trust store", got, want);
    const ca = options.peerCert;
    return { ...base, ca, ...contextOf({ ca, cert: options.cert, key: options.key }) };
  }
  const timeoutMs = options.handshakeTimeoutMs ?? 30_000;
  const create = (opts: ConnectionOptions, done: (err: Error | null, s?: Socket) => void) => {
    // Chain verification is off for this one socket; the fingerprint check below replaces it
    // and runs before node:http receives the socket, so no request byte reaches an impostor.
    const socket = connect({ ...opts, rejectUnauthorized: false, checkServerIdentity: noCheck });
    const host = String(opts.servername ?? opts.host ?? "peer");
    const fail = (err: Error) => {
      deadline.clear();
      socket.destroy();
      done(err);
    };
    // A loop held past the deadline runs it before it reads the server's answer: what arrived
    // in time is read first (late_deadline.ts). Referenced, as before: a dial awaited keeps the
    // process alive.
    const deadline = deadlineIn(timeoutMs, () => {
      fail(new UnavailableError(`Connect to "${host}": TLS handshake timed out`));
    }, { ref: true });
    socket.once("error", fail);
    socket.once("secureConnect", () => {
      const got = derFingerprint(socket.getPeerCertificate()?.raw);
      if (got !== want) return fail(mismatch(host, got, want));
      deadline.clear();
      socket.off("error", fail);
      done(null, socket);
    });
    return undefined; // tells node:http to wait for `done`
  };
  return {
    ...base,
    ...contextOf({ cert: options.cert, key: options.key }),
    createConnection: create as unknown as NodeCreate & typeof netCreateConnection,
  };
}

/**
 * The fingerprint (lowercase hex SHA-256 of the DER) of the certificate the peer of a server-side
 * TLS socket presented, or `undefined` for a plain socket or a peer that sent no certificate.
 * The certificate is not verified: trust is decided by looking the fingerprint up.
 */
export function peerFingerprint(socket: Socket | TLSSocket): string | undefined {
  const tls = socket as Partial<TLSSocket>;
  if (!tls.encrypted || typeof tls.getPeerCertificate !== "function") return undefined;
  return derFingerprint(tls.getPeerCertificate()?.raw);
}
