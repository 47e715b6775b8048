/**
 * Turns node:http requests into web-standard `Request`s for a fetch handler and writes its
 * `Response` back, with a body size limit, client-abort propagation and a last-resort 500.
 *
 * @module
 */
import { Buffer } from "node:buffer";
import type { IncomingMessage, ServerResponse } from "node:http";
import type { Logger } from "../log.ts";
import { knownBody } from "./json_response.ts";
import { peerFingerprint } from "./pin.ts";

/** What the transport knows about a request beyond HTTP. */
export interface RequestContext {
  /** The listener the request arrived on: the local control socket or the network. */
  transport: "unix" | "https";
  /** Lowercase hex SHA-256 of the client certificate (HTTPS with a client certificate only). */
  peerFingerprint?: string;
  /** Remote IP address (HTTPS only). */
  remoteAddress?: string;
}

/** A web-standard fetch handler receiving the transport context as second argument. */
export type FetchHandler = (request: Request, ctx: RequestContext) => Promise<Response>;

/** Options of {@link createRequestListener}. */
export interface AdapterOptions {
  handler: FetchHandler;
  logger: Logger;
  transport: "unix" | "https";
  /** Largest accepted request body, in bytes. */
  maxBodyBytes: number;
}

/** An error body in cohort's (MicroCluster's) response envelope. */
function envelope(code: number, error: string): string {
  return JSON.stringify({
    type: "error",
    status: "",
    status_code: 0,
    operation: "",
    error_code: code,
    error,
    metadata: null,
  });
}

function sendError(res: ServerResponse, code: number, error: string, close = false): void {
  if (res.headersSent) return void res.destroy();
  const body = envelope(code, error);
  res.writeHead(code, {
    "content-type": "application/json",
    "content-length": Buffer.byteLength(body),
    ...(close ? { connection: "close" } : {}),
  });
  res.end(body);
}

class TooLarge extends Error {}

/**
 * Reads the body up to `limit` bytes; `undefined` when the client went away first. A body over
 * the limit is read to its end and dropped before {@link TooLarge} is raised, because closing a
 * socket the client is still writing to resets it before the client reads our 413. Only bodies
 * beyond eight times the limit are cut short.
 */
function readBody(req: IncomingMessage, limit: number): Promise<Buffer | undefined> {
  return new Promise((resolve, reject) => {
    const hardLimit = limit * 8;
    if (Number(req.headers["content-length"]) > hardLimit) return reject(new TooLarge());
    const chunks: Buffer[] = [];
    let size = 0;
    req.on("data", (chunk: Buffer) => {
      size += chunk.length;
      if (size <= limit) chunks.push(chunk);
      else if (size > hardLimit) reject(new TooLarge());
    });
    req.once("end", () => size > limit ? reject(new TooLarge()) : resolve(Buffer.concat(chunks)));
    req.once("error", () => resolve(undefined));
    req.once("close", () => {
      if (!req.complete) resolve(undefined);
    });
  });
}

function toRequest(
  req: IncomingMessage,
  res: ServerResponse,
  body: Buffer | undefined,
  transport: "unix" | "https",
): Request {
  const scheme = transport === "https" ? "https" : "http";
  let url: URL;
  try {
    url = new URL(req.url ?? "/", `${scheme}://${req.headers.host || "localhost"}`);
  } catch {
    url = new URL(req.url ?? "/", `${scheme}://localhost`); // a malformed Host header
  }
  // node has already parsed and lower-cased the headers; duplicates other than set-cookie are
  // joined with ", " as the Fetch standard does.
  const headers: [string, string][] = [];
  for (const name in req.headers) {
    const value = req.headers[name];
    if (value === undefined) continue;
    if (typeof value === "string") headers.push([name, value]);
    else for (const v of value) headers.push([name, v]);
  }
  const method = req.method ?? "GET";
  const hasBody = method !== "GET" && method !== "HEAD" && body !== undefined && body.length > 0;
  // Buffer.concat allocates a plain ArrayBuffer; Deno's BodyInit wants it said.
  const init = { method, headers, body: hasBody ? body as Uint8Array<ArrayBuffer> : undefined };
  const request = new NodeRequest(url, init);
  request[RES] = res;
  return request;
}

const RES = Symbol("cohort.serverResponse");
const SIGNAL = Symbol("cohort.signal");

/**
 * A `Request` whose `signal` aborts when the client leaves before the answer is written, created
 * only when a handler reads it: an AbortController handed to `new Request` for every call costs
 * a third of a small request's time, and most handlers never look. The getter is defined once on
 * the subclass's prototype.
 */
class NodeRequest extends Request {
  [RES]!: ServerResponse;
  [SIGNAL]?: AbortController;
}

Object.defineProperty(NodeRequest.prototype, "signal", {
  get(this: NodeRequest) {
    let controller = this[SIGNAL];
    if (!controller) {
      controller = this[SIGNAL] = new AbortController();
      const res = this[RES];
      const abort = controller;
      if (res.destroyed && !res.writableFinished) abort.abort();
      else {
        res.once("close", () => {
          if (!res.writableFinished) abort.abort();
        });
      }
    }
    return controller.signal;
  },
});

async function writeResponse(res: ServerResponse, response: Response): Promise<void> {
  const headers: Record<string, string | string[]> = {};
  response.headers.forEach((value, name) => {
    if (name !== "set-cookie") headers[name] = value;
  });
  const cookies = response.headers.getSetCookie();
  if (cookies.length > 0) headers["set-cookie"] = cookies;
  // Checked before `body`: reading `body` of a pre-serialised response would build its stream.
  const known = knownBody(response);
  if (known !== undefined) {
    headers["content-length"] = String(Buffer.byteLength(known));
    res.writeHead(response.status, response.statusText || undefined, headers);
    return void res.end(known);
  }
  if (response.body === null) {
    res.writeHead(response.status, response.statusText || undefined, headers);
    return void res.end();
  }

  // Anything else (an event stream, a large dump) is pumped chunk by chunk.
  res.writeHead(response.status, response.statusText || undefined, headers);
  const reader = response.body.getReader();
  res.once("close", () => void reader.cancel().catch(() => {}));
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    if (res.destroyed) return;
    if (!res.write(value)) {
      await new Promise<void>((resolve) => {
        res.once("drain", resolve);
        res.once("close", resolve);
      });
    }
  }
  res.end();
}

const fingerprints = new WeakMap<object, string | undefined>();

/** The client certificate fingerprint of a socket, hashed once per connection, not per request. */
function socketFingerprint(socket: IncomingMessage["socket"]): string | undefined {
  if (fingerprints.has(socket)) return fingerprints.get(socket);
  const fp = peerFingerprint(socket);
  fingerprints.set(socket, fp);
  return fp;
}

const EMPTY = Buffer.alloc(0);

/** A GET or HEAD without a declared body needs no read: skip straight to the handler. */
function bodyless(req: IncomingMessage): boolean {
  return (req.method === "GET" || req.method === "HEAD") &&
    req.headers["content-length"] === undefined && req.headers["transfer-encoding"] === undefined;
}

/**
 * A node `request` listener that feeds `handler`. Bodies are buffered up to `maxBodyBytes` (413
 * with an error envelope beyond); the request's `signal` aborts when the client disconnects; a
 * handler that throws, rejects or returns no Response is logged and answered with a generic 500
 * that names no detail.
 */
export function createRequestListener(
  options: AdapterOptions,
): (req: IncomingMessage, res: ServerResponse) => void {
  const { handler, logger, transport, maxBodyBytes } = options;
  return (req, res) => {
    const noBody = bodyless(req);
    const ctx: RequestContext = { transport };
    if (transport === "https") {
      ctx.peerFingerprint = socketFingerprint(req.socket);
      ctx.remoteAddress = req.socket.remoteAddress;
    }
    void (async () => {
      let body: Buffer | undefined;
      try {
        if (noBody) {
          req.resume();
          body = EMPTY;
        } else body = await readBody(req, maxBodyBytes);
      } catch {
        return sendError(res, 413, `Request body exceeds ${maxBodyBytes} bytes`, true);
      }
      if (body === undefined || res.destroyed) return; // the client went away
      let response: Response;
      try {
        response = await handler(toRequest(req, res, body, transport), ctx);
        if (!(response instanceof Response)) throw new TypeError("Handler returned no Response");
      } catch (err) {
        if (res.destroyed) return;
        logger.error("Request handler failed", { err, method: req.method, url: req.url });
        return sendError(res, 500, "Internal server error");
      }
      await writeResponse(res, response);
    })().catch((err) => {
      // Writing failed half-way (the client left, the stream errored): nothing left to answer.
      logger.debug("Response aborted", { err, method: req.method, url: req.url });
      res.destroy();
    });
  };
}
