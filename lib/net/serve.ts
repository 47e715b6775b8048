/**
 * Serves a web-standard fetch handler over node:https (mutual TLS) and over a unix socket, in Node
 * and in Deno alike (Deno.serve cannot request client certificates, ecosystem.md §3.3).
 *
 * The adapter itself lives in `adapter.ts`. This module owns listening, the stale-socket check and
 * closing with open keep-alive connections.
 *
 * @module
 */
import { chmod, lstat, unlink } from "node:fs/promises";
import { createServer as createHttpServer } from "node:http";
import type { Server as HttpServer } from "node:http";
import { createServer as createHttpsServer } from "node:https";
import type { Server as HttpsServer } from "node:https";
import { connect } from "node:net";
import type { AddressInfo, Socket } from "node:net";
import { LockedError, UnavailableError } from "../errors.ts";
import { silentLogger } from "../log.ts";
import type { Logger } from "../log.ts";
import { createRequestListener } from "./adapter.ts";
import type { FetchHandler } from "./adapter.ts";
import { joinHostPort } from "./names.ts";

export type { FetchHandler, RequestContext } from "./adapter.ts";

/** A listening server. */
export interface Listener {
  /** `"host:port"` (IPv6 bracketed) for HTTPS, the socket path for unix. */
  readonly address: string;
  /** The bound TCP port (the real one when 0 was asked for); absent for unix sockets. */
  readonly port?: number;
  /** The node server, e.g. to attach a WebSocket `upgrade` handler. */
  readonly server: HttpServer | HttpsServer;
  /**
   * Stops accepting connections, destroys idle keep-alive and upgraded connections at once, lets
   * requests in flight finish for up to `closeGraceMs`, then destroys what is left. Idempotent.
   */
  close(): Promise<void>;
}

/** Options shared by both transports. */
export interface ServeOptions {
  /** The application. A throw or rejection is logged and answered with a generic 500. */
  handler: FetchHandler;
  /** @default silentLogger */
  logger?: Logger;
  /** Largest accepted request body in bytes; larger ones get 413. @default 1048576 */
  maxBodyBytes?: number;
  /** How long `close()` waits for requests in flight, in ms. @default 2000 */
  closeGraceMs?: number;
}

/** Options of {@link serveHttps}. */
export interface ServeHttpsOptions extends ServeOptions {
  /** Address to bind, e.g. `"127.0.0.1"` or `"::"`. */
  host: string;
  /** TCP port; 0 picks a free one (see {@link Listener.port}). */
  port: number;
  /** Server certificate (PEM). */
  cert: string;
  /** Its private key (PEM). */
  key: string;
}

/** Options of {@link serveUnix}. */
export interface ServeUnixOptions extends ServeOptions {
  /** Socket file path. */
  path: string;
  /** Permission bits of the socket file. @default 0o660 */
  mode?: number;
}

/**
 * Serves `handler` over HTTPS on `host:port`. Client certificates are requested but not
 * verified (`requestCert: true, rejectUnauthorized: false`): the handler receives the peer's
 * fingerprint in its context and decides trust per request.
 *
 * @throws {UnavailableError} when the address cannot be bound (in use, not local, no permission)
 */
export async function serveHttps(options: ServeHttpsOptions): Promise<Listener> {
  const logger = options.logger ?? silentLogger;
  const server = createHttpsServer({
    cert: options.cert,
    key: options.key,
    requestCert: true,
    rejectUnauthorized: false,
  });
  server.on("tlsClientError", (err) => logger.debug("TLS handshake failed", { err }));
  const tracker = track(server, options, "https", logger);
  await listen(server, joinHostPort(options.host, options.port), (done) => {
    server.listen({ host: options.host, port: options.port }, done);
  });
  const port = (server.address() as AddressInfo).port;
  const address = joinHostPort(options.host, port);
  logger.info("Listening", { address, transport: "https" });
  return { address, port, server, close: once(() => tracker.close()) };
}

/**
 * Serves `handler` over HTTP on a unix socket at `path` with permission bits `mode`. A leftover
 * socket file is removed only when nothing answers on it.
 *
 * @throws {LockedError} when another process is listening on `path`
 * @throws {UnavailableError} when `path` exists but is not a socket, or cannot be bound
 */
export async function serveUnix(options: ServeUnixOptions): Promise<Listener> {
  const logger = options.logger ?? silentLogger;
  const path = options.path;
  await reclaimStaleSocket(path, logger);
  const server = createHttpServer();
  const tracker = track(server, options, "unix", logger);
  await listen(server, path, (done) => server.listen(path, done));
  // Bound with the umask's mode first; the state directory (0700) guards that short window.
  try {
    await chmod(path, options.mode ?? 0o660);
  } catch (err) {
    await tracker.close();
    throw new UnavailableError(`Serve on "${path}": cannot set the socket mode`, { cause: err });
  }
  logger.info("Listening", { address: path, transport: "unix" });
  const close = once(async () => {
    await tracker.close();
    await unlink(path).catch(() => {}); // Node unlinks on close, Deno may not
  });
  return { address: path, server, close };
}

async function reclaimStaleSocket(path: string, logger: Logger): Promise<void> {
  let stat;
  try {
    stat = await lstat(path);
  } catch {
    return; // nothing there
  }
  if (!stat.isSocket()) {
    throw new UnavailableError(`Serve on "${path}": the path exists and is not a socket`);
  }
  const alive = await new Promise<boolean>((resolve) => {
    const probe = connect({ path });
    probe.once("connect", () => {
      probe.destroy();
      resolve(true);
    });
    probe.once("error", () => resolve(false));
  });
  if (alive) {
    throw new LockedError(`Serve on "${path}": another process is already listening on it`);
  }
  await unlink(path);
  logger.info("Removed stale socket file", { path });
}

function listen(server: HttpServer, where: string, bind: (done: () => void) => void) {
  return new Promise<void>((resolve, reject) => {
    const onError = (err: Error & { code?: string }) => {
      reject(
        new UnavailableError(`Listen on "${where}": ${err.code ?? err.message}`, { cause: err }),
      );
    };
    server.once("error", onError);
    bind(() => {
      server.off("error", onError);
      resolve();
    });
  });
}

function once(fn: () => Promise<void>): () => Promise<void> {
  let done: Promise<void> | undefined;
  return () => done ??= fn();
}

/**
 * Wires the adapter and keeps the per-socket request counts that `close()` needs. For HTTPS the
 * counted sockets are the TLS ones (`secureConnection`, the same objects as `req.socket`); raw
 * TCP sockets are kept only to sweep connections still stuck in a handshake at the deadline.
 */
function track(
  server: HttpServer,
  options: ServeOptions,
  transport: "unix" | "https",
  logger: Logger,
): { close(): Promise<void> } {
  const busy = new Map<Socket, number>(); // socket -> requests in flight
  const raw = new Set<Socket>();
  let closing = false;
  server.on("connection", (socket: Socket) => {
    raw.add(socket);
    socket.once("close", () => raw.delete(socket));
  });
  server.on(transport === "https" ? "secureConnection" : "connection", (socket: Socket) => {
    if (closing) return void socket.destroy();
    busy.set(socket, 0);
    socket.once("close", () => busy.delete(socket));
  });
  server.on("error", (err) => logger.error("Server error", { err }));
  const listener = createRequestListener({
    handler: options.handler,
    logger,
    transport,
    maxBodyBytes: options.maxBodyBytes ?? 1_048_576,
  });
  server.on("request", (req, res) => {
    const socket = req.socket;
    busy.set(socket, (busy.get(socket) ?? 0) + 1);
    if (closing) res.setHeader("connection", "close");
    res.once("close", () => {
      if (!busy.has(socket)) return;
      const left = busy.get(socket)! - 1;
      busy.set(socket, left);
      if (closing && left === 0) socket.destroy();
    });
    listener(req, res);
  });
  return {
    close: () =>
      new Promise<void>((resolve) => {
        closing = true;
        // Idle keep-alive and upgraded (WebSocket) connections never send another request.
        for (const [socket, n] of busy) if (n === 0) socket.destroy();
        const timer = setTimeout(() => {
          for (const socket of [...busy.keys(), ...raw]) socket.destroy();
        }, options.closeGraceMs ?? 2000);
        server.close(() => {
          clearTimeout(timer);
          resolve();
        });
      }),
  };
}
