/**
 * `cohort ui`: a status page for a browser on a loopback port, backed by the member's control
 * socket in the manner of `kubectl proxy`. It serves the page's three static files and relays the
 * member's event stream (`GET /core/control/events`) to it; it relays nothing else, so the page
 * can read but never change the member. A request naming another host than the listener's is
 * refused (a web page elsewhere cannot reach it by rebinding a name to 127.0.0.1).
 *
 * @module
 */
import { readFile } from "node:fs/promises";
import { createServer, request as httpRequest } from "node:http";
import type { ServerResponse } from "node:http";
import { type AddressInfo, isIP } from "node:net";
import { fileURLToPath } from "node:url";
import { parseAddress } from "../cluster/address.ts";
import { InvalidInputError, UnavailableError } from "../errors.ts";
import { type Logger, silentLogger } from "../log.ts";
import { joinHostPort } from "../net/names.ts";

/** The page's files, by URL path: file name and media type. */
const FILES: Record<string, [string, string]> = {
  "/": ["index.html", "text/html; charset=utf-8"],
  "/app.js": ["app.js", "text/javascript; charset=utf-8"],
  "/style.css": ["style.css", "text/css; charset=utf-8"],
};

/** Where the page's files are: beside this module (copied into `dist/` by the build). */
const ASSETS = new URL("./assets/", import.meta.url);

const SECURITY_HEADERS = {
  "content-security-policy": "default-src 'none'; script-src 'self'; style-src 'self'; " +
    "connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; " +
    "frame-ancestors 'none'",
  "x-content-type-options": "nosniff",
  "referrer-policy": "no-referrer",
  "cache-control": "no-store",
};

/** How long the relay waits before asking a member that did not answer again, ms. */
export const RECONNECT_MS = 1000;

/** Options of {@link serveUi}. */
export interface UiOptions {
  /** The member's control socket. */
  socketPath: string;
  /** `host:port` to listen on; the host must be a loopback address. Port 0 picks one. */
  listen: string;
  /** @default silentLogger */
  logger?: Logger;
}

/** A running status page server. */
export interface UiServer {
  /** The page's URL, e.g. `http://127.0.0.1:8001/`. */
  readonly url: string;
  /** Stops serving and ends every relayed stream. Idempotent. */
  close(): Promise<void>;
}

/**
 * Parses `--listen`: a loopback `host:port` (`127.0.0.1`, another `127.x.y.z`, `[::1]` or
 * `localhost`), or a bare port on 127.0.0.1; port 0 picks a free one. The host is taken in its
 * one spelling (`parseAddress`): the page answers only requests naming the host it printed, and
 * a browser names `127.0.0.010` as 127.0.0.8 (where the listener was, by the resolver's octal).
 *
 * @throws {InvalidInputError} for anything else (field `listen`).
 */
export function parseListen(value: string): { host: string; port: number } {
  const address = /^\d{1,5}$/.test(value) ? `127.0.0.1:${value}` : value;
  const zero = /:0$/.test(address);
  const parsed = parseAddress(zero ? `${address.slice(0, -1)}1` : address);
  if ("problem" in parsed) {
    throw new InvalidInputError(
      `Invalid listen address "${value}": ${parsed.problem} (or a bare port, on 127.0.0.1)`,
      { field: "listen" },
    );
  }
  const { host } = parsed;
  if (!((isIP(host) === 4 && host.startsWith("127.")) || host === "::1" || host === "localhost")) {
    throw new InvalidInputError(
      `Invalid listen address "${value}": the status page listens on loopback only ` +
        "(127.0.0.1, ::1 or localhost); reach it from elsewhere through an SSH tunnel",
      { field: "listen" },
    );
  }
  return { host, port: zero ? 0 : parsed.port };
}

/**
 * Serves the status page of the member behind `socketPath` on `listen`.
 *
 * @throws {InvalidInputError} for a listen address that is not loopback.
 * @throws {UnavailableError} when the address cannot be bound.
 */
export async function serveUi(options: UiOptions): Promise<UiServer> {
  const { host, port } = parseListen(options.listen);
  const logger = options.logger ?? silentLogger;
  const relays = new Set<() => void>();
  let allowedHosts = new Set<string>();
  const server = createServer((req, res) => {
    if (!allowedHosts.has((req.headers.host ?? "").toLowerCase())) {
      return void res.writeHead(403, { "content-type": "text/plain" })
        .end("Forbidden: unexpected Host header\n");
    }
    if (req.method !== "GET" && req.method !== "HEAD") {
      return void res.writeHead(405, { allow: "GET, HEAD" }).end();
    }
    const path = (req.url ?? "/").split("?")[0];
    if (path === "/events") return relayEvents(res, options.socketPath, relays, logger);
    const file = FILES[path];
    if (!file) return void res.writeHead(404, { "content-type": "text/plain" }).end("Not found\n");
    readFile(fileURLToPath(new URL(file[0], ASSETS))).then((content) => {
      res.writeHead(200, { ...SECURITY_HEADERS, "content-type": file[1] });
      res.end(req.method === "HEAD" ? undefined : content);
    }, (err) => {
      logger.error("Status page file missing", { file: file[0], err });
      res.writeHead(500, { "content-type": "text/plain" }).end("Internal error\n");
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", (err: Error & { code?: string }) =>
      reject(
        new UnavailableError(`Cannot listen on "${options.listen}": ${err.code ?? err.message}`, {
          cause: err,
        }),
      ));
    server.listen({ host, port }, resolve);
  });
  const bound = (server.address() as AddressInfo).port;
  const hostPort = joinHostPort(host, bound);
  allowedHosts = new Set([hostPort, `localhost:${bound}`].map((h) => h.toLowerCase()));
  let closed: Promise<void> | undefined;
  return {
    url: `http://${hostPort}/`,
    close: () =>
      closed ??= new Promise<void>((resolve) => {
        for (const end of relays) end();
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

/**
 * Relays the member's event stream to one browser for as long as the browser stays. While the
 * member cannot be reached (restarting, stopped) the browser gets `unavailable` events and the
 * relay asks again every {@link RECONNECT_MS}: the browser's connection stays open, so the page
 * comes back by itself when the member does.
 */
function relayEvents(
  res: ServerResponse,
  socketPath: string,
  relays: Set<() => void>,
  logger: Logger,
): void {
  res.writeHead(200, {
    ...SECURITY_HEADERS,
    "content-type": "text/event-stream; charset=utf-8",
    connection: "keep-alive",
  });
  res.write(`retry: ${RECONNECT_MS}\n\n`);
  let ended = false;
  let upstream: ReturnType<typeof httpRequest> | undefined;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const end = () => {
    if (ended) return;
    ended = true;
    relays.delete(end);
    clearTimeout(timer);
    upstream?.destroy();
    res.end();
  };
  relays.add(end);
  res.once("close", end);
  const connect = () => {
    if (ended) return;
    let failed = false;
    const unavailable = (reason: string) => {
      if (ended || failed) return;
      failed = true;
      // The blank lines first end an event the member may have cut off half-way.
      res.write(`\n\nevent: unavailable\ndata: ${JSON.stringify({ error: reason })}\n\n`);
      timer = setTimeout(connect, RECONNECT_MS);
    };
    upstream = httpRequest({
      socketPath,
      path: "/core/control/events",
      headers: { accept: "text/event-stream" },
      agent: false,
    }, (answer) => {
      if (answer.statusCode !== 200) {
        answer.resume();
        return unavailable(`the member answered HTTP ${answer.statusCode}`);
      }
      // The member's stream starts with its own `retry:`; events pass through unchanged.
      answer.on("data", (chunk: Buffer) => {
        if (!ended) res.write(chunk);
      });
      answer.once("end", () => unavailable("the member closed the stream (it stopped)"));
      answer.once("error", () => {});
    });
    upstream.once("error", (err: Error & { code?: string }) => {
      logger.debug("Event stream relay: member unreachable", { err });
      unavailable(
        err.code === "ENOENT" || err.code === "ECONNREFUSED"
          ? "the member is not running"
          : `the member cannot be reached (${err.code ?? err.message})`,
      );
    });
    upstream.end();
  };
  connect();
}
