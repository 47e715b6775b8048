/**
 * Turns node:http requests into web-standard `Request`s for a fetch handler and writes its
 * `Response` back. The handler runs as soon as a request's head has arrived; its body is read
 * only when the handler asks for it (`readRequestBody`), within the listener's limits
 * (`limits.ts`). A body the handler did not read is dropped after the answer when small, or
 * the connection is closed. A handler fault is logged and answered with a generic 500.
 *
 * One request's path, in order: {@link createRequestListener}'s listener (refusals, the request
 * object), the handler, {@link writeResponse}; `serve.ts` counts requests per connection.
 *
 * @module
 */
import { Buffer } from "node:buffer";
import type { IncomingMessage, ServerResponse } from "node:http";
import { monotonicNow } from "../cluster/monotonic_now.ts";
import { isCohortError } from "../errors.ts";
import type { Logger } from "../log.ts";
import { errorEnvelope, knownBody, knownHeaders } from "./json_response.ts";
import { deadlineAt } from "./late_deadline.ts";
import { type ListenerGuard, peerOf } from "./limits.ts";
import { type BodySource, bodySourceOf, nodeRequest } from "./node_request.ts";
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
  /** The listener's limits and budgets. */
  guard: ListenerGuard;
}

/**
 * Methods a web `Request` cannot carry (the Fetch standard forbids them): answered 405 here,
 * before any request object exists.
 */
const FORBIDDEN_METHODS = new Set(["CONNECT", "TRACE", "TRACK"]);

/** Whether the request has a body at all (HTTP/1.1: a length other than 0, or chunks). */
function hasBody(req: IncomingMessage): boolean {
  const length = req.headers["content-length"];
  return (length !== undefined && length !== "0") ||
    req.headers["transfer-encoding"] !== undefined;
}

/**
 * Deals with what is left of a body the handler did not read (wholly) before the answer is
 * written, and says whether the connection must close after it. A small rest (at most the
 * listener's `discardBytes`) is read and dropped first, and the answer waits for it: a client
 * may write its head and its body apart (Deno's node:http client does), and a connection closed
 * after the answer (the client asked for `connection: close`, as a fresh connection per request
 * does) before its body arrived turned the client's body write into EPIPE (unix) or a reset
 * (TCP) that cost it the answer. A larger rest, one cut short by a failed read, or one that does
 * not arrive by the body deadline closes the connection after the answer.
 */
function settleBody(
  req: IncomingMessage,
  source: BodySource | undefined,
  guard: ListenerGuard,
): boolean | Promise<boolean> {
  if (!source || req.complete || source.state === "read") return false;
  if (source.state === "reading" || source.state === "failed") return true;
  const { discardBytes } = guard.limits;
  const length = req.headers["content-length"];
  if (length !== undefined && Number(length) > discardBytes) return true;
  return new Promise<boolean>((resolve) => {
    let dropped = 0;
    const settle = (close: boolean) => {
      deadline.clear();
      req.off("data", onData);
      resolve(close);
    };
    const onData = (chunk: Buffer) => {
      dropped += chunk.length;
      if (dropped > discardBytes) settle(true);
    };
    // A rest that arrived in time is read and dropped even when a held loop runs this late
    // (late_deadline.ts): the connection is not closed under the client's body write.
    const deadline = deadlineAt(source.deadline, () => settle(true));
    req.on("data", onData);
    req.once("end", () => settle(false));
    req.once("close", () => settle(true)); // the client left: nothing will be written
    source.flow();
    req.resume();
  });
}

/**
 * Stops reading `socket` until the returned function is called or `res` is written. node reads
 * a body nobody reads until its buffers are full (64 KiB and more per connection); stopping at
 * the head keeps what a connection can make us buffer before its handler decides to the bytes
 * that came with the head. A socket already paused (node pauses one whose answers back up) is
 * left to node.
 */
function holdConnection(socket: IncomingMessage["socket"], res: ServerResponse): () => void {
  if (socket.isPaused()) return () => {};
  socket.pause();
  let held = true;
  const flow = () => {
    if (!held) return;
    held = false;
    if (!socket.destroyed) socket.resume();
  };
  res.once("finish", flow);
  res.once("close", flow);
  return flow;
}

/** Answers with cohort's error envelope; the connection's turn passes on (`guard.answering`). */
function sendError(
  res: ServerResponse,
  guard: ListenerGuard,
  status: number,
  message: string,
  close: boolean,
): void {
  if (res.headersSent) return void res.destroy();
  if (res.socket) guard.answering(res.socket);
  const body = errorEnvelope(status, message);
  res.writeHead(status, {
    "content-type": "application/json",
    "content-length": Buffer.byteLength(body),
    ...(close ? { connection: "close" } : {}),
  });
  res.end(body);
}

/** The request's URL: its target resolved against the Host header (`localhost` when malformed). */
function toUrl(req: IncomingMessage, transport: "unix" | "https"): string {
  const scheme = transport === "https" ? "https" : "http";
  try {
    return new URL(req.url ?? "/", `${scheme}://${req.headers.host || "localhost"}`).href;
  } catch {
    return new URL(req.url ?? "/", `${scheme}://localhost`).href; // a malformed Host header
  }
}

/** A Host header made only of what a host and port are written with: nothing ends it early. */
const PLAIN_HOST = /^[A-Za-z0-9.\-]+(?::[0-9]*)?$|^\[[0-9A-Fa-f:.]+\](?::[0-9]*)?$/;

/**
 * The request's URL as text, unparsed where {@link toUrl} would give the same URL: the `Request`
 * parses it anyway, and parsing it here as well cost a URL object per request. That is when the
 * target is a path (`/…`, not `//…` or `/\…`, which a base would read as another host) and the
 * Host header is plain; the `Request` then parses `scheme://host` + target as {@link toUrl}
 * resolves the target against `scheme://host`. Returns `undefined` otherwise.
 */
function plainUrl(req: IncomingMessage, transport: "unix" | "https"): string | undefined {
  const target = req.url;
  const host = req.headers.host || "localhost";
  if (
    target === undefined || target.charCodeAt(0) !== 47 || target.charCodeAt(1) === 47 ||
    target.charCodeAt(1) === 92 || !PLAIN_HOST.test(host)
  ) return undefined;
  return `${transport === "https" ? "https" : "http"}://${host}${target}`;
}

function headerList(req: IncomingMessage): [string, string][] {
  // node has already parsed and lower-cased the headers; duplicates other than set-cookie are
  // joined with ", " as the Fetch standard does.
  const headers: [string, string][] = [];
  for (const name in req.headers) {
    const value = req.headers[name];
    if (value === undefined) continue;
    if (typeof value === "string") headers.push([name, value]);
    else for (const v of value) headers.push([name, v]);
  }
  return headers;
}

/**
 * Writes `response`; `close` adds `connection: close` (node then closes after the answer). The
 * connection's turn passes on (`guard.answering`) before a body that may last (a stream).
 */
async function writeResponse(
  res: ServerResponse,
  guard: ListenerGuard,
  response: Response,
  close: boolean,
): Promise<void> {
  let headers: Record<string, string | string[]> | undefined = knownHeaders(response);
  if (!headers) {
    headers = {};
    response.headers.forEach((value, name) => {
      if (name !== "set-cookie") headers![name] = value;
    });
    const cookies = response.headers.getSetCookie();
    if (cookies.length > 0) headers["set-cookie"] = cookies;
  }
  if (close) headers.connection = "close";
  if (res.socket) guard.answering(res.socket);
  // Checked before `body`: reading `body` of a pre-serialised response would build its stream.
  const known = knownBody(response);
  if (typeof known === "string") {
    headers["content-length"] = String(Buffer.byteLength(known));
    res.writeHead(response.status, response.statusText || undefined, headers);
    return void res.end(known);
  }
  if (known !== undefined) {
    // Kept bytes go out as they are, in one write (corked): joining them into one buffer per
    // answer cost more than encoding the text did (an allocation as large as the answer).
    headers["content-length"] = String(known.reduce((n, c) => n + c.byteLength, 0));
    res.writeHead(response.status, response.statusText || undefined, headers);
    res.cork();
    for (const chunk of known) res.write(chunk);
    res.end();
    return void res.uncork();
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

/**
 * A node `request` listener that feeds `handler`. A connection admitted beyond a cap is answered
 * 429 or 503 and closed; CONNECT, TRACE and TRACK get 405; otherwise the handler gets a
 * `Request` whose body it reads on demand, whose `signal` aborts when the client disconnects. A
 * handler that throws, rejects or returns no Response is answered with its cohort error, or
 * logged and answered with a generic 500 that names no detail.
 */
export function createRequestListener(
  options: AdapterOptions,
): (req: IncomingMessage, res: ServerResponse) => void {
  const { handler, logger, transport, guard } = options;
  const { maxBodyBytes, bodyTimeoutMs } = guard.limits;
  return (req, res) => {
    const socket = req.socket;
    const refusal = guard.requestStarted(socket);
    // The connection's turn (HttpLimits.maxPending) passes on as an answer starts, or here.
    res.once("close", () => guard.answering(socket));
    res.once("finish", () => guard.responded(socket));
    if (refusal) return sendError(res, guard, refusal.status, refusal.message, true);
    const method = req.method ?? "GET";
    if (FORBIDDEN_METHODS.has(method)) {
      return sendError(res, guard, 405, `Method ${method} is not allowed`, hasBody(req));
    }
    const ctx: RequestContext = { transport };
    if (transport === "https") {
      ctx.peerFingerprint = socketFingerprint(socket);
      ctx.remoteAddress = socket.remoteAddress;
    }
    let source: BodySource | undefined;
    if (hasBody(req)) {
      const peer = peerOf(socket);
      source = {
        req,
        maxBytes: maxBodyBytes,
        deadline: monotonicNow() + bodyTimeoutMs,
        timeoutMs: bodyTimeoutMs,
        reserve: (bytes) => guard.reserve(peer, bytes),
        flow: holdConnection(socket, res),
        state: "unread",
      };
    } else req.resume();
    let request: Request;
    try {
      const headers = headerList(req);
      const plain = plainUrl(req, transport);
      try {
        request = nodeRequest(plain ?? toUrl(req, transport), method, headers, res, source);
      } catch (err) {
        // A plain Host that is no valid host (a port past 65535, an address out of range):
        // resolved as toUrl does, against localhost.
        if (plain === undefined) throw err;
        request = nodeRequest(toUrl(req, transport), method, headers, res, source);
      }
    } catch (err) {
      // A method or header a web Request refuses; node's parser let it through.
      logger.debug("Malformed request", { err, method, url: req.url });
      return sendError(res, guard, 400, "Malformed request", hasBody(req));
    }
    void (async () => {
      let response: Response;
      try {
        response = await handler(request, ctx);
        if (!(response instanceof Response)) throw new TypeError("Handler returned no Response");
      } catch (err) {
        if (res.destroyed) return;
        const close = await settleBody(req, bodySourceOf(request), guard);
        if (res.destroyed) return;
        if (isCohortError(err)) return sendError(res, guard, err.status, err.message, close);
        // Name and code only: a driver's message may carry bound parameters (secrets).
        const e = err as { name?: unknown; code?: unknown } | undefined;
        logger.error("Request handler failed", {
          method,
          url: req.url,
          error_name: e?.name,
          error_code: e?.code,
        });
        return sendError(res, guard, 500, "Internal server error", close);
      }
      if (res.destroyed) return; // the client went away
      const close = await settleBody(req, source, guard);
      if (res.destroyed) return;
      await writeResponse(res, guard, response, close);
    })().catch((err) => {
      // Writing failed half-way (the client left, the stream errored): nothing left to answer.
      logger.debug("Response aborted", { err, method, url: req.url });
      res.destroy();
    });
  };
}
