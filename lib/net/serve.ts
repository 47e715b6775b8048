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
import { connect, createServer as createNetServer } from "node:net";
import type { Server as NetServer } from "node:net";
import type { AddressInfo, Socket } from "node:net";
import { InvalidInputError, LockedError, UnavailableError } from "../errors.ts";
import { silentLogger } from "../log.ts";
import type { Logger } from "../log.ts";
import { createRequestListener } from "./adapter.ts";
import type { FetchHandler } from "./adapter.ts";
import { rawErrorResponse } from "./json_response.ts";
import {
  type HttpLimits,
  HTTPS_LIMITS,
  ListenerGuard,
  type MemberCheck,
  UNIX_LIMITS,
} from "./limits.ts";
import { keepAccepting, keepAcceptingOnPath } from "./keep_accepting.ts";
import { deadlineIn } from "./late_deadline.ts";
import { joinHostPort } from "./names.ts";
import { checkSocketPath } from "./socket_path.ts";
import { tieTcpReadsToTls } from "./tls_flow.ts";

export type { FetchHandler, RequestContext } from "./adapter.ts";
export { type HttpLimits, HTTPS_LIMITS, type MemberCheck, UNIX_LIMITS } from "./limits.ts";

/** A listening server. */
export interface Listener {
  /** `"host:port"` (IPv6 bracketed) for HTTPS, the socket path for unix. */
  readonly address: string;
  /** The bound TCP port (the real one when 0 was asked for); absent for unix sockets. */
  readonly port?: number;
  /** The node server, e.g. to attach a WebSocket `upgrade` handler. */
  readonly server: HttpServer | HttpsServer;
  /** The limits in force and what is held against them right now. */
  readonly guard: ListenerGuard;
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
  /**
   * Connection, body and time limits, each defaulting to {@link HTTPS_LIMITS} or
   * {@link UNIX_LIMITS} (see `limits.ts`).
   */
  limits?: Partial<HttpLimits>;
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
  /**
   * Whether a client certificate fingerprint (lowercase hex) is a cluster member's: a
   * connection that presents one counts toward `maxConnectionsPerMember` under that
   * certificate instead of toward its address's `maxConnectionsPerPeer` (see `limits.ts`).
   * Read once per connection, when its handshake is done. @default nobody is a member
   */
  isMember?: MemberCheck;
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
 * @throws {UnavailableError} when the address cannot be bound (in use, no permission)
 * @throws {InvalidInputError} (field `address`) when the address is not one of this machine's
 */
export async function serveHttps(options: ServeHttpsOptions): Promise<Listener> {
  const logger = options.logger ?? silentLogger;
  const limits = { ...HTTPS_LIMITS, ...options.limits };
  const server = createHttpsServer({
    cert: options.cert,
    key: options.key,
    requestCert: true,
    rejectUnauthorized: false,
    // The guard times the handshake (HttpLimits.headersTimeoutMs, see `ListenerGuard.ready`):
    // node's own timer would reset a connection whose ClientHello came in time but was read
    // after a held loop ran its timers.
    handshakeTimeout: 2 ** 31 - 1,
  });
  server.on("tlsClientError", (err) => logger.debug("TLS handshake failed", { err }));
  noIdleTimeoutOfNode(server);
  const tracker = track(server, options, "https", logger, limits, options.isMember);
  await listen(server, joinHostPort(options.host, options.port), (done) => {
    server.listen({ host: options.host, port: options.port }, done);
  }, true);
  keepAccepting(server);
  const port = (server.address() as AddressInfo).port;
  const address = joinHostPort(options.host, port);
  logger.info("Listening", { address, transport: "https" });
  return { address, port, server, guard: tracker.guard, close: once(() => tracker.close()) };
}

/**
 * Serves `handler` over HTTP on a unix socket at `path` with permission bits `mode`. A leftover
 * socket file is removed only when nothing answers on it.
 *
 * @throws {InvalidInputError} when `path` is too long for a Unix socket (`checkSocketPath`)
 * @throws {LockedError} when another process is listening on `path`
 * @throws {UnavailableError} when `path` exists but is not a socket, or cannot be bound
 */
export async function serveUnix(options: ServeUnixOptions): Promise<Listener> {
  const logger = options.logger ?? silentLogger;
  const path = options.path;
  checkSocketPath(path);
  await reclaimStaleSocket(path, logger);
  const server = createHttpServer();
  noIdleTimeoutOfNode(server);
  const tracker = track(server, options, "unix", logger, { ...UNIX_LIMITS, ...options.limits });
  await listen(server, path, (done) => server.listen(path, done));
  // Bound with the umask's mode first; the state directory (0700) guards that short window.
  try {
    await chmod(path, options.mode ?? 0o660);
  } catch (err) {
    await tracker.close();
    throw new UnavailableError(`Serve on "${path}": cannot set the socket mode`, { cause: err });
  }
  logger.info("Listening", { address: path, transport: "unix" });
  let limitLoggedAt = -Infinity;
  const stopKeeping = keepAcceptingOnPath(server, path, options.mode ?? 0o660, (renewal) => {
    if (renewal.kind === "stalled") {
      logger.warn(
        "The socket had stopped accepting connections (the member ran out of file descriptors): " +
          "listening on it again",
        { address: path },
      );
      return;
    }
    // Each check while the member stays at its limit: said once a minute.
    if (performance.now() - limitLoggedAt < 60_000) return;
    limitLoggedAt = performance.now();
    logger.warn(
      "At its limit of open files: the control socket is bound again every few seconds, " +
        "closing the connections it could not accept" +
        (renewal.kind === "unbound"
          ? " (it could not be bound now: commands cannot reach " +
            "the member)"
          : "") +
        "; raise the member's limit of open files (LimitNOFILE, ulimit -n)",
      { address: path, ...(renewal.kind === "unbound" ? { err: renewal.err } : {}) },
    );
  });
  const close = once(async () => {
    stopKeeping();
    await tracker.close();
    await unlink(path).catch(() => {}); // Node unlinks on close, Deno may not
  });
  return { address: path, server, guard: tracker.guard, close };
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

/**
 * Binds `host:port` as {@link serveHttps} would and lets it go at once: whether a member can
 * listen there now. A join asks before it spends its token (the listener itself starts only
 * once the cluster admitted the member); another process may still take the port in between.
 *
 * @throws {UnavailableError} when the address cannot be bound (in use, no permission)
 * @throws {InvalidInputError} (field `address`) when the address is not one of this machine's
 */
export async function probeListen(host: string, port: number): Promise<void> {
  const server = createNetServer();
  await listen(server, joinHostPort(host, port), (done) => {
    server.listen({ host, port }, done);
  }, true);
  await new Promise<void>((done) => server.close(() => done()));
}

function listen(
  server: NetServer,
  where: string,
  bind: (done: () => void) => void,
  tcp = false,
) {
  return new Promise<void>((resolve, reject) => {
    const onError = (err: Error & { code?: string }) => reject(listenError(err, where, tcp));
    server.once("error", onError);
    bind(() => {
      server.off("error", onError);
      resolve();
    });
  });
}

/** Why a listener could not bind, in the operator's terms; the system's code stays in the text. */
function listenError(err: Error & { code?: string }, where: string, tcp: boolean) {
  const at = `Listen on "${where}"`;
  // Deno answers EINVAL where Node answers EADDRNOTAVAIL.
  const code = tcp && err.code === "EINVAL" ? "EADDRNOTAVAIL" : err.code;
  switch (code) {
    case "EADDRINUSE":
      return new UnavailableError(
        `${at}: the port is in use by another process (EADDRINUSE): ` +
          "choose another port, or stop what listens there",
        { cause: err },
      );
    case "EADDRNOTAVAIL":
      return new InvalidInputError(
        `${at}: the address is not one of this machine's (${err.code}): ` +
          "give an address of one of its network interfaces",
        { field: "address", cause: err },
      );
    case "EACCES":
      return new UnavailableError(
        `${at}: permission denied (EACCES): a port below 1024 needs privileges ` +
          "(CAP_NET_BIND_SERVICE); choose a higher port",
        { cause: err },
      );
    default:
      return new UnavailableError(`${at}: ${err.code ?? err.message}`, { cause: err });
  }
}

/**
 * The listener's guard alone closes a connection idle after an answer, at the limits'
 * `headersTimeoutMs` (`responded` in `limits.ts`). node:http's own `keepAliveTimeout` (5 s, under
 * Node and Deno alike) closed it first, whatever the limits said: 5 s where they say 10 s.
 */
function noIdleTimeoutOfNode(server: HttpServer): void {
  server.keepAliveTimeout = 0;
}

function once(fn: () => Promise<void>): () => Promise<void> {
  let done: Promise<void> | undefined;
  return () => done ??= fn();
}

/**
 * Answers a request node could not parse (or did not receive in time) with an error envelope,
 * and closes. Any other error closes the connection without a word: node:https hands TLS errors
 * to `clientError` too, a handshake timeout among them, with the socket still writable, and an
 * answer written then reached a client whose handshake completed afterwards (a slow link, a busy
 * member) as a "400 Malformed HTTP request" to a request it had not sent yet.
 */
function onClientError(err: Error & { code?: string }, socket: Socket): void {
  const code = err.code ?? "";
  const http = code.startsWith("HPE_") || code === "ERR_HTTP_REQUEST_TIMEOUT";
  // Not HTTP, mid-answer, or nobody left to read one: just close.
  const answering = (socket as Socket & { _httpMessage?: unknown })._httpMessage;
  if (!http || !socket.writable || answering) return void socket.destroy();
  const [status, message] = err.code === "HPE_HEADER_OVERFLOW"
    ? [431, "Request headers too large"]
    : err.code === "ERR_HTTP_REQUEST_TIMEOUT" || err.code === "HPE_HEADERS_TIMEOUT"
    ? [408, "Request not received in time"]
    : [400, "Malformed HTTP request"];
  socket.end(rawErrorResponse(status, message));
  const timer = setTimeout(() => socket.destroy(), 1000);
  timer.unref?.();
}

/**
 * Wires the adapter and the listener's limits, and keeps the per-socket request counts that
 * `close()` needs. For HTTPS the counted sockets are the TLS ones (`secureConnection`, the same
 * objects as `req.socket`); raw TCP sockets are admitted (or closed) against the connection caps
 * before their handshake, and kept to sweep connections still stuck in one at the deadline.
 */
function track(
  server: HttpServer,
  options: ServeOptions,
  transport: "unix" | "https",
  logger: Logger,
  limits: HttpLimits,
  isMember?: MemberCheck,
): { guard: ListenerGuard; close(): Promise<void> } {
  const busy = new Map<Socket, number>(); // socket -> requests in flight
  const raw = new Set<Socket>();
  const guard = new ListenerGuard(limits, logger, isMember);
  let closing = false;
  server.on(transport === "https" ? "secureConnection" : "connection", (socket: Socket) => {
    if (closing) return void socket.destroy();
    if (socket.destroyed) return;
    if (transport === "https") tieTcpReadsToTls(socket);
    busy.set(socket, 0);
    socket.once("close", () => busy.delete(socket));
    guard.ready(socket);
  });
  /**
   * Admits a new connection and hands it on to node (`start`) when it has its turn, or closes it
   * (twice a cap is reached, or the listener closes).
   */
  const admit = (socket: Socket, start: () => void): void => {
    if (closing || !guard.admit(socket, () => (closing ? socket.destroy() : start()))) {
      return void socket.destroy();
    }
    raw.add(socket);
    socket.once("close", () => raw.delete(socket));
  };
  // Two events are seen by wrapping emit rather than with listeners. A connection is admitted
  // before any listener sees it, so a refused or waiting one never reaches node:tls's own
  // listener: that one sets up the TLS state of the connection, which costs (in Deno) about
  // 20 KB of memory and a share of CPU per connection even when the connection is closed a
  // moment later (1 500 refused connections: +42 MB, +12 MB when refused first). An upgraded
  // connection (a WebSocket) leaves HTTP: no more head deadlines; node hands upgrades to
  // listeners only when there are any (else a request), and the gossip transport answers
  // unknown upgrade paths when it is the only one.
  const emit = server.emit;
  server.emit = function (this: HttpServer, event: string | symbol, ...args: unknown[]) {
    if (event === "connection") {
      admit(args[0] as Socket, () => void emit.apply(this, [event, ...args] as never));
      return true;
    }
    if (event === "upgrade") guard.upgraded(args[1] as Socket);
    return emit.apply(this, [event, ...args] as Parameters<typeof emit>);
  } as typeof server.emit;
  server.on("clientError", onClientError);
  server.on("error", (err) => logger.error("Server error", { err }));
  const listener = createRequestListener({ handler: options.handler, logger, transport, guard });
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
    guard,
    close: () =>
      new Promise<void>((resolve) => {
        closing = true;
        guard.close();
        // Idle keep-alive and upgraded (WebSocket) connections never send another request.
        for (const [socket, n] of busy) if (n === 0) socket.destroy();
        // Late-aware: after a held loop, work that completed within the grace answers first.
        const timer = deadlineIn(options.closeGraceMs ?? 2000, () => {
          for (const socket of [...busy.keys(), ...raw]) socket.destroy();
        }, { ref: true });
        server.close(() => {
          timer.clear();
          resolve();
        });
      }),
  };
}
