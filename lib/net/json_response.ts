/**
 * JSON responses that keep their serialised body as text and build a body stream only when
 * someone asks for one. A web `Response` built from a string sets up a readable stream at once,
 * which costs more than the rest of a small request together; the node adapter writes the text
 * directly instead. To every other caller (tests, an app wrapping the router) it behaves as an
 * ordinary `Response`: `text()`, `json()`, `arrayBuffer()`, `bytes()`, `blob()`, `body`,
 * `bodyUsed`, `clone()`.
 *
 * @module
 */

const JSON_HEADERS = { "content-type": "application/json" };
const encoder = new TextEncoder();

/** Where a pre-serialised response keeps its text. */
const STATE = Symbol("cohort.jsonBody");

interface BodyState {
  text: string;
  used: boolean;
  stream?: ReadableStream<Uint8Array>;
  headers?: Record<string, string>;
}

// A subclass whose body members are redefined once on its prototype (cheaper than per
// instance); its instances are created with an empty native body.
class JsonResponse extends Response {
  [STATE]: BodyState;
  constructor(state: BodyState, status: number) {
    super(null, {
      status,
      headers: state.headers ? { ...JSON_HEADERS, ...state.headers } : JSON_HEADERS,
    });
    this[STATE] = state;
  }
}

function take(state: BodyState): Promise<string> {
  if (state.used) return Promise.reject(new TypeError("Body is unusable: it was already read"));
  state.used = true;
  return Promise.resolve(state.text);
}

Object.defineProperties(JsonResponse.prototype, {
  body: {
    get(this: JsonResponse) {
      const state = this[STATE];
      if (!state.stream) {
        const bytes = encoder.encode(state.text);
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
      return take(this[STATE]).then((t) => encoder.encode(t).buffer);
    },
  },
  bytes: {
    value(this: JsonResponse) {
      return take(this[STATE]).then((t) => encoder.encode(t));
    },
  },
  blob: {
    value(this: JsonResponse) {
      return take(this[STATE]).then((t) => new Blob([t], { type: JSON_HEADERS["content-type"] }));
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

/** A `Response` with `text` as its JSON body and `status`; extra `headers` are added. */
export function jsonResponse(
  text: string,
  status: number,
  headers?: Record<string, string>,
): Response {
  return new JsonResponse({ text, used: false, headers }, status);
}

/** The serialised body of a response made by {@link jsonResponse}, if untouched so far. */
export function knownBody(response: Response): string | undefined {
  const state = (response as Partial<JsonResponse>)[STATE];
  return state && !state.used ? state.text : undefined;
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
