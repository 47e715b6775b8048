/**
 * Raw HTTP/1.1 over TLS or a unix socket for tests that misbehave on purpose: partial heads,
 * bodies held back, many connections. Every connection reports the first answer it receives
 * (status, parsed envelope) or that it was closed without one.
 */
import { Buffer } from "node:buffer";
import { connect as netConnect, type Socket } from "node:net";
import { connect as tlsConnect } from "node:tls";

/** What a connection got: an answer, or a close without one. */
export type Outcome =
  | { status: number; body: Record<string, unknown> | string; closed: boolean }
  | { status: 0; body: ""; closed: true };

/** A connection and what arrives on it. */
export interface RawConnection {
  socket: Socket;
  /** Resolves once the TLS handshake (or the unix connect) is done; rejects when it fails. */
  ready: Promise<void>;
  /** Resolves with the first full answer, or `status: 0` when closed before one. */
  answer: Promise<Outcome>;
  /** Resolves once the connection is closed. */
  closed: Promise<void>;
}

function parse(text: string): { status: number; body: string; complete: boolean } | undefined {
  const end = text.indexOf("\r\n\r\n");
  if (end < 0) return undefined;
  const head = text.slice(0, end);
  const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(head)?.[1] ?? 0);
  const length = Number(/\r\ncontent-length: *(\d+)/i.exec(head)?.[1] ?? 0);
  const body = text.slice(end + 4);
  return { status, body: body.slice(0, length), complete: Buffer.byteLength(body) >= length };
}

function watch(socket: Socket, ready: Promise<void>): RawConnection {
  let text = "";
  let settle: (o: Outcome) => void;
  const answer = new Promise<Outcome>((resolve) => (settle = resolve));
  const closed = new Promise<void>((resolve) => socket.once("close", () => resolve()));
  socket.on("data", (d: Buffer) => {
    text += d.toString("latin1");
    const got = parse(text);
    if (got?.complete) {
      let body: Record<string, unknown> | string = got.body;
      try {
        body = JSON.parse(got.body);
      } catch { /* not JSON */ }
      settle({ status: got.status, body, closed: false });
    }
  });
  socket.on("error", () => {});
  socket.once("close", () => {
    const got = parse(text);
    if (got) settle({ status: got.status, body: got.body, closed: true });
    else settle({ status: 0, body: "", closed: true });
  });
  return { socket, ready, answer, closed };
}

/**
 * A TLS connection to `127.0.0.1:port`, from address `from`, presenting `identity` as its client
 * certificate when given (else none).
 */
export function tlsConnection(
  port: number,
  from = "127.0.0.1",
  identity?: { cert: string; key: string },
): RawConnection {
  const tcp = netConnect({ host: "127.0.0.1", port, localAddress: from });
  tcp.on("error", () => {});
  const socket = tlsConnect({
    socket: tcp,
    rejectUnauthorized: false,
    ...(identity ? { cert: identity.cert, key: identity.key } : {}),
  });
  const ready = new Promise<void>((resolve, reject) => {
    socket.once("secureConnect", () => resolve());
    socket.once("close", () => reject(new Error("closed before the handshake")));
  });
  ready.catch(() => {});
  return watch(socket, ready);
}

/** A connection to the unix socket at `path`. */
export function unixConnection(path: string): RawConnection {
  const socket = netConnect({ path });
  const ready = new Promise<void>((resolve, reject) => {
    socket.once("connect", () => resolve());
    socket.once("close", () => reject(new Error("closed before connecting")));
  });
  ready.catch(() => {});
  return watch(socket, ready);
}

/** A request head (HTTP/1.1, `host: cohort`) with the given extra headers. */
export function head(method: string, path: string, headers: Record<string, string | number> = {}) {
  const lines = Object.entries(headers).map(([k, v]) => `${k}: ${v}\r\n`).join("");
  return `${method} ${path} HTTP/1.1\r\nhost: cohort\r\n${lines}\r\n`;
}

/** Resolves with `promise`'s value, or rejects after `ms` (a liveness bound, not a measurement). */
export function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no ${what} within ${ms} ms`)), ms);
    promise.then((v) => (clearTimeout(timer), resolve(v)), (e) => (clearTimeout(timer), reject(e)));
  });
}
