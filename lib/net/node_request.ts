/**
 * The web `Request` a handler receives for a node:http request. Its body is not read before the
 * handler asks for it: a handler first decides whether the caller may send one (trust, route,
 * state), then reads it with {@link readRequestBody} and the limit of its endpoint. Reading
 * reserves the body's bytes from the listener's budget and must finish before the listener's
 * body deadline.
 *
 * @module
 */
import { Buffer } from "node:buffer";
import type { IncomingMessage, ServerResponse } from "node:http";
import { InvalidInputError, RequestTimeoutError, TooLargeError } from "../errors.ts";
import { deadlineAt } from "./late_deadline.ts";

/** Where a request's body comes from, and what reading it may cost. */
export interface BodySource {
  readonly req: IncomingMessage;
  /** The listener's largest body; an endpoint's own limit can only be smaller. */
  readonly maxBytes: number;
  /**
   * When the body must have arrived (`monotonicNow()`, `lib/cluster/monotonic_now.ts`: on the
   * wall clock, a step forwards between the headers and the body's read timed the body out at
   * once).
   */
  readonly deadline: number;
  /** The listener's body timeout, for messages (ms). */
  readonly timeoutMs: number;
  /** Reserves bytes of the listener's buffer budget (see `ListenerGuard.reserve`). */
  reserve(bytes: number): () => void;
  /**
   * Lets the connection be read again. It is not read from the request's head until a handler
   * reads the body or the answer is written: a body nobody asked for stays in the client's and
   * the kernel's buffers, not in ours.
   */
  flow(): void;
  /**
   * `unread`; `refused` before any of it was read (too large, over budget); `reading`; `read`
   * (all of it); `failed` part-way (too large, too slow, the client left).
   */
  state: "unread" | "refused" | "reading" | "read" | "failed";
}

const RES = Symbol("cohort.serverResponse");
const SIGNAL = Symbol("cohort.signal");
const BODY = Symbol("cohort.bodySource");
const EMPTY = new Uint8Array(0);

/**
 * A `Request` built without a body. Its `signal` (aborted when the client leaves before the
 * answer is written) is created only when a handler reads it: an AbortController per request
 * costs a third of a small request's time, and most handlers never look. Its body members read
 * the node request on demand, bounded by the listener's limit.
 */
export class NodeRequest extends Request {
  [RES]!: ServerResponse;
  [SIGNAL]?: AbortController;
  [BODY]?: BodySource;
}

/**
 * Creates the request for `res`'s exchange at `url` (absolute; text, which the `Request` parses
 * once, where a URL object cost a parse more); `body` is absent for a request without one.
 */
export function nodeRequest(
  url: string,
  method: string,
  headers: [string, string][],
  res: ServerResponse,
  body: BodySource | undefined,
): NodeRequest {
  const request = new NodeRequest(url, { method, headers });
  request[RES] = res;
  request[BODY] = body;
  return request;
}

/** The body source of a request made by {@link nodeRequest}. */
export function bodySourceOf(request: Request): BodySource | undefined {
  return (request as NodeRequest)[BODY];
}

/** The declared `content-length`, or `undefined` (none, or chunked). */
function declaredLength(req: IncomingMessage): number | undefined {
  const value = req.headers["content-length"];
  if (value === undefined) return undefined;
  const n = Number(value);
  return Number.isSafeInteger(n) && n >= 0 ? n : undefined;
}

function tooLarge(limit: number): TooLargeError {
  return new TooLargeError(`Request body exceeds the ${limit} bytes this endpoint accepts`);
}

/** Reads `source` up to `limit` bytes (see {@link readRequestBody}). */
async function readSource(source: BodySource, limit: number): Promise<Uint8Array> {
  if (source.state !== "unread" && source.state !== "refused") {
    throw new TypeError("Body is unusable: it was already read");
  }
  const { req } = source;
  const declared = declaredLength(req);
  if (declared === 0) {
    source.state = "read";
    return EMPTY;
  }
  if (declared !== undefined && declared > limit) {
    source.state = "refused";
    throw tooLarge(limit);
  }
  let release: () => void;
  try {
    release = source.reserve(declared ?? limit);
  } catch (err) {
    source.state = "refused";
    throw err;
  }
  source.state = "reading";
  try {
    const body = await new Promise<Uint8Array>((resolve, reject) => {
      const chunks: Buffer[] = [];
      let size = 0;
      // A loop held past the deadline runs it before it reads the socket again: what arrived
      // in time is read first (late_deadline.ts).
      const deadline = deadlineAt(source.deadline, () => {
        done();
        const seconds = source.timeoutMs / 1000;
        reject(
          new RequestTimeoutError(`Request body not received within ${seconds} s of its headers`),
        );
      });
      const onData = (chunk: Buffer) => {
        size += chunk.length;
        if (size > limit) {
          done();
          reject(tooLarge(limit));
        } else chunks.push(chunk);
      };
      const onEnd = () => {
        done();
        resolve(Buffer.concat(chunks, size));
      };
      const onGone = () => {
        if (req.complete) return onEnd();
        done();
        // Nobody will read the answer; a cohort error keeps the router from logging a fault.
        reject(new InvalidInputError("Request body incomplete: the client closed the connection"));
      };
      const done = () => {
        deadline.clear();
        req.off("data", onData);
        req.off("end", onEnd);
        req.off("error", onGone);
        req.off("close", onGone);
        req.pause();
      };
      req.on("data", onData);
      req.once("end", onEnd);
      req.once("error", onGone);
      req.once("close", onGone);
      source.flow();
      req.resume();
    });
    source.state = "read";
    return body;
  } catch (err) {
    source.state = "failed";
    throw err;
  } finally {
    release();
  }
}

/** Reads a web stream up to `limit` bytes (a `Request` that did not come from node:http). */
async function readStream(
  stream: ReadableStream<Uint8Array> | null,
  limit: number,
): Promise<Uint8Array> {
  if (!stream) return EMPTY;
  const reader = stream.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.length;
    if (size > limit) {
      await reader.cancel().catch(() => {});
      throw tooLarge(limit);
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks, size);
}

/**
 * Reads a request's body, at most `maxBytes` (and at most the listener's limit). Call it only
 * once the caller may send a body: until then nothing of it is read or buffered.
 *
 * @throws {TooLargeError} (413) when the body declares or turns out to have more bytes
 * @throws {TooManyRequestsError} (429) when the caller's address has too many bodies in flight
 * @throws {UnavailableError} (503) when the listener has
 * @throws {RequestTimeoutError} (408) when the body does not arrive before the listener's
 *   deadline
 */
export function readRequestBody(request: Request, maxBytes: number): Promise<Uint8Array> {
  const source = bodySourceOf(request);
  if (source) return readSource(source, Math.min(maxBytes, source.maxBytes));
  if (request.bodyUsed) {
    return Promise.reject(new TypeError("Body is unusable: it was already read"));
  }
  return readStream(request.body, maxBytes);
}

/** The request's body as text, as {@link readRequestBody} reads it. */
export async function readRequestText(request: Request, maxBytes: number): Promise<string> {
  return new TextDecoder().decode(await readRequestBody(request, maxBytes));
}

// Body members of a NodeRequest read its source with the listener's limit; `signal` is lazy.
const decoder = new TextDecoder();
const whole = (r: NodeRequest): Promise<Uint8Array> => {
  const source = r[BODY];
  return source ? readSource(source, source.maxBytes) : Promise.resolve(EMPTY);
};
Object.defineProperties(NodeRequest.prototype, {
  signal: {
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
  },
  bodyUsed: {
    get(this: NodeRequest) {
      const source = this[BODY];
      return source !== undefined && source.state !== "unread" && source.state !== "refused";
    },
  },
  body: {
    get(this: NodeRequest) {
      if (!this[BODY]) return null;
      const read = () => whole(this);
      // highWaterMark 0: nothing is read before someone reads the stream.
      return new ReadableStream<Uint8Array>({
        async pull(controller) {
          controller.enqueue(await read());
          controller.close();
        },
      }, { highWaterMark: 0 });
    },
  },
  arrayBuffer: {
    value(this: NodeRequest) {
      // Not `b.slice().buffer`: a Buffer from node's pool slices as a view of the whole pool.
      return whole(this).then((b) => b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength));
    },
  },
  bytes: {
    value(this: NodeRequest) {
      return whole(this);
    },
  },
  text: {
    value(this: NodeRequest) {
      return whole(this).then((b) => decoder.decode(b));
    },
  },
  json: {
    value(this: NodeRequest) {
      return whole(this).then((b) => JSON.parse(decoder.decode(b)));
    },
  },
  blob: {
    value(this: NodeRequest) {
      // Buffer.concat allocates a plain ArrayBuffer; Deno's BlobPart wants it said.
      return whole(this).then((b) => new Blob([b as Uint8Array<ArrayBuffer>]));
    },
  },
});
