/**
 * A small JSON-over-HTTP client for the CLI (unix control socket) and for members talking to each
 * other (HTTPS pinned with {@link pinnedTlsOptions}).
 *
 * @module
 */
import { Buffer } from "node:buffer";
import { request as httpRequest } from "node:http";
import type { Agent as HttpAgent, ClientRequest, IncomingMessage, RequestOptions } from "node:http";
import type { Agent as HttpsAgent, request as HttpsRequestFn } from "node:https";
import { monotonicNow } from "../cluster/monotonic_now.ts";
import { ForbiddenError, isCohortError, UnavailableError } from "../errors.ts";
import { deadlineIn } from "./late_deadline.ts";
import type { PinnedTlsOptions } from "./pin.ts";
import { checkSocketPath } from "./socket_path.ts";

export type { PinnedTlsOptions } from "./pin.ts";

interface CommonRequest {
  /** HTTP method, e.g. `"GET"`. */
  method: string;
  /** JSON-serialisable request body; omitted (no body) when `undefined`. */
  body?: unknown;
  /** Extra request headers (e.g. `user-agent`). */
  headers?: Record<string, string>;
  /** Deadline for the whole exchange, in ms. @default 30000 */
  timeoutMs?: number;
  /** Largest accepted response body, in bytes. @default 16777216 */
  maxResponseBytes?: number;
}

/** A request to the local daemon over its unix socket. */
export interface UnixRequest extends CommonRequest {
  /** Path and query, e.g. `"/core/1.0/cluster"`. */
  path: string;
  /** The daemon's control socket. */
  socketPath: string;
  /** Keep-alive agent; by default each request uses a fresh connection. */
  agent?: HttpAgent;
}

/** A request to a member over HTTPS. */
export interface HttpsRequest extends CommonRequest {
  /** Absolute `https://` URL. */
  url: string | URL;
  /** Pinning (and client certificate) options from {@link pinnedTlsOptions}. */
  tls: PinnedTlsOptions;
  /**
   * Keep-alive agent. Only usable with options pinned by `peerCert`; options pinned by
   * fingerprint alone verify in their own connection factory, which an agent bypasses.
   */
  agent?: HttpsAgent;
  /**
   * The request may be sent twice: when the kept connection it went out on was closed by the
   * peer before any answer (the peer's idle limit came as it was sent), it is sent again on a
   * new one, once. Only for requests whose repetition changes nothing. @default false
   */
  resendOnStale?: boolean;
}

/** An answer: the HTTP status and the parsed JSON body (`null` when empty, text when not JSON). */
export interface JsonResponse {
  status: number;
  body: unknown;
}

const DEFAULT_TIMEOUT_MS = 30_000;
const DEFAULT_MAX_RESPONSE = 16 * 1024 * 1024;
const UNREACHABLE = new Set(["ENOENT", "ECONNREFUSED", "ENOTSOCK"]);
/** A connection closed by the other end before its answer. */
const CLOSED = new Set(["EPIPE", "ECONNRESET"]);
/**
 * Chain verification failures: with options pinned by the peer's certificate (its only CA), a
 * peer presenting any other certificate fails here, before `checkServerIdentity` is asked.
 */
const NOT_PINNED = new Set([
  "DEPTH_ZERO_SELF_SIGNED_CERT",
  "SELF_SIGNED_CERT_IN_CHAIN",
  "UNABLE_TO_VERIFY_LEAF_SIGNATURE",
  "UNABLE_TO_GET_ISSUER_CERT_LOCALLY",
  "UNABLE_TO_GET_ISSUER_CERT",
  "CERT_SIGNATURE_FAILURE",
  "CERT_UNTRUSTED",
]);

/**
 * Sends one JSON request and reads the JSON answer. Any HTTP status is returned, not thrown.
 *
 * @throws {UnavailableError} when the target cannot be reached (for a unix socket:
 *   `Cannot reach the cohort daemon at "<path>": is it running?`), the exchange times out, or the
 *   answer is too large or malformed JSON
 * @throws {ForbiddenError} when a pinned peer presents another certificate
 * @throws {InvalidInputError} when a unix socket's path is too long to dial (`checkSocketPath`)
 */
export function requestJson(req: UnixRequest | HttpsRequest): Promise<JsonResponse> {
  if ("socketPath" in req) {
    // A path too long for a socket is a mistake in the state directory, not a daemon not running.
    try {
      checkSocketPath(req.socketPath);
    } catch (err) {
      return Promise.reject(err);
    }
    return exchange(req);
  }
  // Loaded on first use: TLS is no cost of a CLI command that only talks to its local daemon.
  return import("node:https").then(({ request }) => exchange(req, request));
}

/**
 * A kept connection that the peer closed as the request went out on it (its idle limit came):
 * nothing was answered, so the request is sent once more, on a new connection.
 */
class StaleConnection extends Error {}

async function exchange(
  req: UnixRequest | HttpsRequest,
  httpsRequest?: typeof HttpsRequestFn,
): Promise<JsonResponse> {
  // A duration: on the wall clock, a step forwards left the resend no time at all.
  const started = monotonicNow();
  try {
    return await exchangeOnce(req, httpsRequest);
  } catch (err) {
    if (!(err instanceof StaleConnection)) throw err;
    const timeoutMs = (req.timeoutMs ?? DEFAULT_TIMEOUT_MS) - (monotonicNow() - started);
    if (timeoutMs <= 0) throw err.cause;
    return await exchangeOnce({ ...req, timeoutMs }, httpsRequest, false);
  }
}

function exchangeOnce(
  req: UnixRequest | HttpsRequest,
  httpsRequest?: typeof HttpsRequestFn,
  retry = !("socketPath" in req) && req.resendOnStale === true,
): Promise<JsonResponse> {
  // The method and path name the request that failed (a test polling a member, a CLI command).
  const target = "socketPath" in req
    ? `${req.method} ${req.path} to "${req.socketPath}"`
    : `${req.method} "${String(req.url)}"`;
  const timeoutMs = req.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const limit = req.maxResponseBytes ?? DEFAULT_MAX_RESPONSE;
  const payload = req.body === undefined ? undefined : Buffer.from(JSON.stringify(req.body));
  const headers: Record<string, string | number> = { accept: "application/json", ...req.headers };
  if (payload) {
    headers["content-type"] = "application/json";
    headers["content-length"] = payload.length;
  }
  return new Promise<JsonResponse>((resolve, reject) => {
    let settled = false;
    const fail = (err: Error) => {
      if (settled) return;
      settled = true;
      deadline.clear();
      outgoing.destroy();
      reject(err);
    };
    let answered = false;
    const onResponse = (res: IncomingMessage) => {
      answered = true;
      const chunks: Buffer[] = [];
      let size = 0;
      res.on("data", (chunk: Buffer) => {
        size += chunk.length;
        if (size > limit) {
          fail(new UnavailableError(`Read answer from ${target}: over ${limit} bytes`));
        } else chunks.push(chunk);
      });
      res.once("error", (err) => fail(translate(err, req, target)));
      res.once("end", () => {
        if (settled) return;
        try {
          const body = parseBody(res, Buffer.concat(chunks));
          settled = true;
          deadline.clear();
          resolve({ status: res.statusCode ?? 0, body });
        } catch (err) {
          fail(new UnavailableError(`Read answer from ${target}: malformed JSON`, { cause: err }));
        }
      });
    };
    let outgoing: ClientRequest;
    if ("socketPath" in req) {
      const options: RequestOptions & { servername: string } = {
        socketPath: req.socketPath,
        path: req.path,
        method: req.method,
        headers,
        agent: req.agent ?? false,
        // No TLS on a socket: an empty name spares the agent its server name check (an IPv6
        // test whose pattern costs a short command some 10 ms to compile).
        servername: "",
      };
      outgoing = httpRequest(options, onResponse);
    } else {
      const url = new URL(req.url);
      if (url.protocol !== "https:") {
        throw new UnavailableError(`Request ${target}: only https:// URLs are supported`);
      }
      // `agent: undefined` lets node:http use our `createConnection`; `false` (a throw-away agent)
      // avoids the global keep-alive agent otherwise.
      const agent = req.agent ?? (req.tls.createConnection ? undefined : false);
      outgoing = httpsRequest!(url, { ...req.tls, method: req.method, headers, agent }, onResponse);
    }
    // A loop held past the deadline (a CLI or member stopped and continued, a VM paused) runs
    // it before it reads the socket again: an answer that arrived in time is read first.
    const deadline = deadlineIn(timeoutMs, () => {
      fail(new UnavailableError(`Request ${target}: no answer within ${timeoutMs} ms`));
    }, { ref: true }); // as before: a request awaited keeps the process alive until it ends
    outgoing.once("error", (err) => {
      const code = (err as { code?: string }).code;
      if (
        retry && !answered && outgoing.reusedSocket && (code === "ECONNRESET" || code === "EPIPE")
      ) {
        return fail(
          new StaleConnection("stale kept connection", { cause: translate(err, req, target) }),
        );
      }
      fail(translate(err, req, target));
    });
    outgoing.end(payload);
  });
}

function parseBody(res: IncomingMessage, raw: Buffer): unknown {
  if (raw.length === 0) return null;
  const text = raw.toString("utf8");
  return /\bjson\b/i.test(res.headers["content-type"] ?? "") ? JSON.parse(text) : text;
}

function translate(err: Error, req: UnixRequest | HttpsRequest, target: string): Error {
  if (isCohortError(err)) return err; // e.g. a pin mismatch raised by pinnedTlsOptions
  const code = (err as { code?: string }).code;
  if ("socketPath" in req && code !== undefined && UNREACHABLE.has(code)) {
    return new UnavailableError(
      `Cannot reach the cohort daemon at "${req.socketPath}": is it running?`,
      { cause: err },
    );
  }
  // Accepted and closed before any answer: Node's way to refuse a connection at its limit of
  // open files (it accepts on a spare descriptor and closes at once), or a daemon that crashed
  // meanwhile. The CLI printed a bare EPIPE.
  if ("socketPath" in req && code !== undefined && CLOSED.has(code)) {
    return new UnavailableError(
      `The cohort daemon at "${req.socketPath}" closed the connection without answering: it may ` +
        "be out of file descriptors or have stopped (see its log)",
      { cause: err },
    );
  }
  if ("socketPath" in req && code === "EACCES") {
    return new UnavailableError(
      `Cannot reach the cohort daemon at "${req.socketPath}": permission denied`,
      { cause: err },
    );
  }
  if (
    !("socketPath" in req) && req.tls.ca !== undefined && code !== undefined && NOT_PINNED.has(code)
  ) {
    return new ForbiddenError(
      `Request ${target}: the peer's certificate is not the pinned one (${code})`,
      { cause: err },
    );
  }
  return new UnavailableError(`Request ${target}: ${code ?? err.message}`, { cause: err });
}
