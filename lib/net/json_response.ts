/**
 * JSON responses that keep their serialised body as text (or as its UTF-8 bytes in chunks, when
 * the caller keeps them encoded) and build a body stream only when someone asks for one. A web
 * `Response` built from a string sets up a readable stream at once, which costs more than the
 * rest of a small request together; the node adapter writes the text or the chunks directly
 * instead. To every other caller (tests, an app wrapping the router) it behaves as an ordinary
 * `Response`: `text()`, `json()`, `arrayBuffer()`, `bytes()`, `blob()`, `body`,
 * `bodyUsed`, `clone()`.
 *
 * @module
 */

const JSON_HEADERS = { "content-type": "application/json" };
const encoder = new TextEncoder();

/** Where a pre-serialised response keeps its text. */
const STATE = Symbol("cohort.jsonBody");

interface BodyState {
  /** The body: JSON text, or its UTF-8 bytes in chunks (in order). */
  text: string | readonly Uint8Array[];
  used: boolean;
  stream?: ReadableStream<Uint8Array>;
  /** Headers besides `content-type`. */
  headers?: Record<string, string>;
  /** The `Headers` object, made when someone first asks for it. */
  made?: Headers;
}

// A subclass whose body members and headers are redefined once on its prototype (cheaper than
// per instance); its instances are created with an empty native body and no native headers:
// the node adapter writes the headers from the plain object, and a `Headers` is made only for
// a caller that reads `headers` (its conversion cost as much as the rest of the response).
class JsonResponse extends Response {
  [STATE]: BodyState;
  constructor(state: BodyState, status: number) {
    super(null, { status });
    this[STATE] = state;
  }
}

/** The headers of a {@link JsonResponse} as a plain object, names in lower case. */
function headersOf(state: BodyState): Record<string, string> {
  const out: Record<string, string> = { ...JSON_HEADERS };
  for (const name in state.headers) out[name.toLowerCase()] = state.headers[name];
  return out;
}

const decoder = new TextDecoder();

function take(state: BodyState): Promise<string> {
  if (state.used) return Promise.reject(new TypeError("Body is unusable: it was already read"));
  state.used = true;
  const { text } = state;
  return Promise.resolve(typeof text === "string" ? text : decoder.decode(joined(text)));
}

/** The body as UTF-8 bytes of their own (a caller may change them). */
function takeBytes(state: BodyState): Promise<Uint8Array<ArrayBuffer>> {
  if (state.used) return Promise.reject(new TypeError("Body is unusable: it was already read"));
  state.used = true;
  const { text } = state;
  return Promise.resolve(typeof text === "string" ? encoder.encode(text) : joined(text));
}

/** The chunks in one new array of bytes. */
function joined(chunks: readonly Uint8Array[]): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(chunks.reduce((n, c) => n + c.byteLength, 0));
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.byteLength;
  }
  return out;
}

Object.defineProperties(JsonResponse.prototype, {
  headers: {
    get(this: JsonResponse) {
      const state = this[STATE];
      return state.made ??= new Headers(headersOf(state));
    },
  },
  body: {
    get(this: JsonResponse) {
      const state = this[STATE];
      if (!state.stream) {
        const { text } = state;
        const bytes = typeof text === "string" ? encoder.encode(text) : joined(text);
        state.stream = new ReadableStream({
          start(controller) {
            controller.enqueue(bytes);
            controller.close();
          },
        });
        state.used = true; // whoever holds the stream owns the body now
      }
      return state.stream;
    },
  },
  bodyUsed: {
    get(this: JsonResponse) {
      const state = this[STATE];
      return state.stream ? state.stream.locked : state.used;
    },
  },
  text: {
    value(this: JsonResponse) {
      return take(this[STATE]);
    },
  },
  json: {
    value(this: JsonResponse) {
      return take(this[STATE]).then((t) => JSON.parse(t));
    },
  },
  arrayBuffer: {
    value(this: JsonResponse) {
      return takeBytes(this[STATE]).then((b) => b.buffer);
    },
  },
  bytes: {
    value(this: JsonResponse) {
      return takeBytes(this[STATE]);
    },
  },
  blob: {
    value(this: JsonResponse) {
      return takeBytes(this[STATE]).then((b) =>
        new Blob([b], { type: JSON_HEADERS["content-type"] })
      );
    },
  },
  clone: {
    value(this: JsonResponse) {
      const state = this[STATE];
      if (state.used) throw new TypeError("Response.clone: the body was already read");
      return new JsonResponse(
        { text: state.text, used: false, headers: state.headers },
        this.status,
      );
    },
  },
});

/**
 * A `Response` with `text` as its JSON body (the text, or its UTF-8 bytes in chunks, which the
 * response then holds: the caller must not change them) and `status`; extra `headers` are added.
 */
export function jsonResponse(
  text: string | readonly Uint8Array[],
  status: number,
  headers?: Record<string, string>,
): Response {
  return new JsonResponse({ text, used: false, headers }, status);
}

/**
 * The serialised body of a response made by {@link jsonResponse} (the text or the chunks of
 * bytes it was given), if untouched so far.
 */
export function knownBody(response: Response): string | readonly Uint8Array[] | undefined {
  const state = (response as Partial<JsonResponse>)[STATE];
  return state && !state.used ? state.text : undefined;
}

/**
 * The headers of a response made by {@link jsonResponse} as a plain object (lower-case names),
 * when nobody has asked for its `Headers` (which may then have been changed); `undefined`
 * otherwise.
 */
export function knownHeaders(response: Response): Record<string, string> | undefined {
  const state = (response as Partial<JsonResponse>)[STATE];
  return state && !state.made ? headersOf(state) : undefined;
}

/**
 * cohort's (MicroCluster's, LXD's) error envelope as JSON text: `error_code` repeats the HTTP
 * status, `error` is the message.
 */
export function errorEnvelope(status: number, message: string): string {
  return JSON.stringify({
    type: "error",
    status: "",
    status_code: 0,
    operation: "",
    error_code: status,
    error: message,
    metadata: null,
  });
}

const REASONS: Record<number, string> = {
  400: "Bad Request",
  405: "Method Not Allowed",
  408: "Request Timeout",
  413: "Payload Too Large",
  429: "Too Many Requests",
  431: "Request Header Fields Too Large",
  503: "Service Unavailable",
};

/**
 * A whole HTTP/1.1 error answer as bytes, closing the connection, for a socket the HTTP server
 * no longer (or not yet) drives: a request whose head never completed, or could not be parsed.
 */
export function rawErrorResponse(status: number, message: string): string {
  const body = errorEnvelope(status, message);
  return `HTTP/1.1 ${status} ${REASONS[status] ?? "Error"}\r\n` +
    `content-type: application/json\r\ncontent-length: ${encoder.encode(body).length}\r\n` +
    `connection: close\r\n\r\n${body}`;
}
