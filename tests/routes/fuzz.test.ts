// deno-lint-ignore-file no-explicit-any
/**
 * Fuzzing every route with fast-check (issue 12): request bodies and paths, from every kind of
 * caller, against every state of a member. The routes come from the API's own OpenAPI document,
 * so a new route is fuzzed without a change here. The router runs over the scripted service of
 * the route tests; a last property sends raw requests through the real listener (adapter and
 * limits) on a unix socket. Properties: no 5xx but the member's own 503s (and 501 from the
 * routes of sources the scripted service has not: metrics, the event stream), every answer an
 * LXD envelope, no internal detail and no secret in any message, and the member answers
 * `GET /core/1.0` after every case. Seeded: a failure replays
 * with the seed and path fast-check prints.
 */
import { Buffer } from "node:buffer";
import { join } from "node:path";
import fc from "fast-check";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { serveUnix } from "../../lib/net/serve.ts";
import type { Caller, MemberStatus } from "../../lib/daemon/service.ts";
import { createRouter } from "../../routes/router.ts";
import { head, unixConnection, within } from "../helpers/raw_http.ts";
import { ANONYMOUS, FakeService, STRANGER, TRUSTED, UNIX } from "./fake_service.ts";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";

/** Seeds and run counts, reported by the test names. */
export const FUZZ = {
  bodies: { seed: 0x12c0_0001, runs: 2500 },
  paths: { seed: 0x12c0_0002, runs: 1500 },
  listener: { seed: 0x12c0_0003, runs: 300 },
};

/** A value planted in secret fields: it must never come back in a message. */
const SECRET = "S3CR3T-planted-value";

/** What no message may contain: stacks, JavaScript errors, driver codes, internal records. */
const LEAK =
  /\.(?:ts|js|mjs|cjs):\d+|TypeError|RangeError|ReferenceError|SyntaxError|SQLITE|\[object |undefined|\bNaN\b|token\/|[0-9a-f]{64}/g;

/**
 * The leaks in `message`: the planted secret unless the path carried it (a 404 names the
 * path), and matches of {@link LEAK} that the request itself did not carry.
 */
function leaks(message: string, path: string, body: string): string[] {
  if (message.includes(SECRET) && !path.includes(SECRET)) return [SECRET];
  return [...message.matchAll(LEAK)].map((m) => m[0]).filter((m) => !(path + body).includes(m));
}

function decoded(url: string): string {
  try {
    return decodeURIComponent(url);
  } catch {
    return url;
  }
}

interface Route {
  method: string;
  path: string;
  /** Body property names, when the route takes a body. */
  fields?: string[];
}

const CALLERS: Caller[] = [UNIX, TRUSTED, STRANGER, ANONYMOUS];
const STATES: MemberStatus[] = ["uninitialized", "starting", "waiting", "online", "stopping"];

/** The routes, read from the API's own OpenAPI document. */
async function routes(): Promise<Route[]> {
  const service = new FakeService();
  const res = await createRouter(service)(
    new Request("http://cohort/core/1.0/openapi.json"),
    UNIX,
  );
  const doc = await res.json() as { paths: Record<string, any> };
  const out: Route[] = [];
  for (const [path, ops] of Object.entries(doc.paths as Record<string, any>)) {
    for (const [method, op] of Object.entries(ops)) {
      if (!["get", "post", "put", "delete", "patch"].includes(method)) continue;
      const schema = (op as any).requestBody?.content?.["application/json"]?.schema;
      out.push({
        method: method.toUpperCase(),
        path,
        fields: schema ? Object.keys(schema.properties ?? {}) : undefined,
      });
    }
  }
  return out;
}

/** Strings worth trying anywhere: edges, encodings, injection shapes, the planted secret. */
const nastyString = fc.oneof(
  fc.string(),
  fc.string({ unit: "binary", maxLength: 40 }),
  fc.constantFrom(
    "",
    " ",
    "0.0.0.0:9000",
    "[::]:1",
    "127.0.0.1:0",
    "c1",
    "-x",
    "a".repeat(300),
    "%E0%A4%A",
    "%00",
    "../../etc/passwd",
    "'; DROP TABLE core_records; --",
    "__proto__",
    "constructor",
    SECRET,
    "\u0000",
    "\ud800",
    "1e308",
  ),
);

/** Numbers from the wire: any JSON number, edges included. */
const nastyNumber = fc.oneof(
  fc.integer(),
  fc.double({ noNaN: true, noDefaultInfinity: true }),
  fc.constantFrom(0, -0, -1, 1.5, 2 ** 53, 2 ** 53 + 2, -(2 ** 53), 1e308, -1e308, 5e-324),
);

/** A JSON value for one field. */
const fieldValue = fc.oneof(
  { weight: 3, arbitrary: nastyString },
  { weight: 3, arbitrary: nastyNumber },
  { weight: 1, arbitrary: fc.boolean() },
  { weight: 1, arbitrary: fc.constant(null) },
  { weight: 2, arbitrary: fc.jsonValue({ maxDepth: 3 }) },
  { weight: 1, arbitrary: fc.array(nastyString, { maxLength: 5 }) },
);

/** A body for a route with `fields`: shaped like its struct, or anything at all. */
function body(fields: string[] | undefined): fc.Arbitrary<string | undefined> {
  const known = fields?.length
    ? fc.dictionary(fc.constantFrom(...fields, "extra", "__proto__"), fieldValue, {
      maxKeys: fields.length + 1,
    }).map((o) => JSON.stringify(o))
    : fc.constant("{}");
  return fc.oneof(
    { weight: 6, arbitrary: known },
    { weight: 1, arbitrary: fc.constant(undefined) },
    { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 4 }).map((v) => JSON.stringify(v)) },
    { weight: 1, arbitrary: fc.string({ maxLength: 60 }) },
    {
      weight: 1,
      arbitrary: fc.integer({ min: 30, max: 20_000 }).map((n) => "[".repeat(n) + "]".repeat(n)),
    },
    { weight: 1, arbitrary: fc.constant(`{"name":"c1","secret":"${SECRET}","join_token":1}`) },
  );
}

/** Fills a route's `{param}`s with `value` (percent-encoded or raw). */
function fill(path: string, value: string, raw: boolean): string {
  return path.replace(/\{[^}]+\}/g, raw ? value : encodeURIComponent(value));
}

async function check(
  handler: ReturnType<typeof createRouter>,
  service: FakeService,
  request: Request,
  caller: Caller,
  body = "",
): Promise<void> {
  const path = new URL(request.url).pathname;
  const bare = path.replace(/\/+$/, ""); // itty lets a trailing slash match
  const res = await handler(request, caller);
  const allowed5xx = res.status === 503 || res.status === 501;
  if (res.status >= 500 && !allowed5xx) {
    throw new Error(`${request.method} ${request.url}: ${res.status} ${await res.text()}`);
  }
  if (request.method !== "HEAD") {
    const text = await res.text();
    // Two documents are not envelopes: the metrics and the OpenAPI document.
    const document = bare.endsWith("/metrics") || bare.endsWith("/openapi.json");
    if (!document || res.status !== 200) {
      const envelope = JSON.parse(text);
      if (envelope.type !== "sync" && envelope.type !== "error") {
        throw new Error(`${request.method} ${path}: not an envelope: ${text.slice(0, 200)}`);
      }
      if (envelope.type === "error") {
        if (envelope.error_code !== res.status) throw new Error(`error_code ≠ status: ${text}`);
        if (leaks(envelope.error, decoded(request.url), body).length) {
          throw new Error(`${request.method} ${path}: leaks: ${envelope.error}`);
        }
      }
    }
  }
  const info = await handler(new Request("http://cohort/core/1.0"), ANONYMOUS);
  if (info.status !== 200) throw new Error(`GET /core/1.0 after the case: ${info.status}`);
  await info.text();
  const asked = bare === "/core/control/shutdown" && caller === UNIX;
  if (service.shutdowns > 0 && !asked) {
    throw new Error(`${request.method} ${path} from ${caller.transport} shut the member down`);
  }
  service.shutdowns = 0;
}

const test = suite("fuzzing every route");

test(`request bodies of every route, from every caller in every state (${FUZZ.bodies.runs} cases, seed ${FUZZ.bodies.seed})`, async () => {
  const all = await routes();
  assert.ok(all.length >= 15, `${all.length} routes`);
  const withBody = fc.constantFrom(...all).chain((route) =>
    fc.record({
      route: fc.constant(route),
      body: body(route.fields),
      caller: fc.constantFrom(...CALLERS),
      state: fc.constantFrom(...STATES),
      name: fc.constantFrom("c1", "host1", "other"),
    })
  );
  await fc.assert(
    fc.asyncProperty(withBody, async ({ route, body, caller, state, name }) => {
      const service = new FakeService();
      service.state = state;
      const handler = createRouter(service);
      const url = `http://cohort${fill(route.path, name, false)}`;
      const init: RequestInit = { method: route.method };
      if (body !== undefined && route.method !== "GET") init.body = body;
      await check(handler, service, new Request(url, init), caller, body);
    }),
    { seed: FUZZ.bodies.seed, numRuns: FUZZ.bodies.runs },
  );
});

test(`paths and queries of every route, and paths of none (${FUZZ.paths.runs} cases, seed ${FUZZ.paths.seed})`, async () => {
  const all = await routes();
  const segment = fc.oneof(
    nastyString,
    fc.stringMatching(/^(%[0-9A-Fa-f]{0,2}|[a-z.~-]){0,12}$/),
  );
  const request = fc.record({
    route: fc.constantFrom(...all),
    method: fc.constantFrom("GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS"),
    param: segment,
    raw: fc.boolean(),
    query: fc.oneof(fc.constant(""), segment.map((q) => `?${q}`), fc.constant("?force=1&x=%ZZ")),
    suffix: fc.constantFrom("", "/", "//", "/extra", "/..", "%2F"),
    caller: fc.constantFrom(...CALLERS),
    state: fc.constantFrom(...STATES),
  });
  await fc.assert(
    fc.asyncProperty(request, async (r) => {
      const service = new FakeService();
      service.state = r.state;
      const handler = createRouter(service);
      let url: URL;
      try {
        url = new URL(`http://cohort${fill(r.route.path, r.param, r.raw)}${r.suffix}${r.query}`);
      } catch {
        return; // not a URL any client could send
      }
      await check(handler, service, new Request(url, { method: r.method }), r.caller);
    }),
    { seed: FUZZ.paths.seed, numRuns: FUZZ.paths.runs },
  );
});

test(`raw requests through the real listener (${FUZZ.listener.runs} cases, seed ${FUZZ.listener.seed})`, async () => {
  const dir = mkdtempSync(join(tmpdir(), "cohort-fuzz-"));
  const service = new FakeService();
  service.state = "online";
  const listener = await serveUnix({
    path: join(dir, "fuzz.sock"),
    handler: createRouter(service),
    limits: { headersTimeoutMs: 2000, bodyTimeoutMs: 2000 },
  });
  const all = await routes();
  const request = fc.record({
    method: fc.constantFrom(
      "GET",
      "POST",
      "PUT",
      "DELETE",
      "PATCH",
      "HEAD",
      "OPTIONS",
      "TRACE",
      "FOO",
    ),
    route: fc.constantFrom(...all),
    param: fc.stringMatching(/^(%[0-9A-Fa-f]{0,2}|[a-z.~-]){0,12}$/),
    body: fc.oneof(
      fc.constant(""),
      fc.string({ maxLength: 200 }),
      fc.jsonValue({ maxDepth: 3 }).map((v) => JSON.stringify(v)),
    ),
    header: fc.constantFrom(
      {},
      { "content-type": "text/plain" },
      { expect: "100-continue" },
      { "x-junk": "a".repeat(500) },
    ),
  });
  try {
    await fc.assert(
      fc.asyncProperty(request, async (r) => {
        const c = unixConnection(listener.address);
        try {
          await c.ready;
          const body = Buffer.from(r.body);
          const headers = { ...r.header, "content-length": body.length } as Record<string, any>;
          c.socket.write(head(r.method, r.route.path.replace(/\{[^}]+\}/g, r.param), headers));
          c.socket.write(body);
          const answer = await within(c.answer, 10_000, `answer to ${r.method}`);
          const ok5xx = answer.status === 503 || answer.status === 501;
          if (answer.status === 0 || (answer.status >= 500 && !ok5xx)) {
            throw new Error(
              `${r.method} ${r.route.path}: ${answer.status} ${JSON.stringify(answer.body)}`,
            );
          }
          const error = (answer.body as any)?.error;
          if (typeof error === "string" && leaks(error, decoded(r.param), r.body).length) {
            throw new Error(`leaks: ${error}`);
          }
        } finally {
          c.socket.destroy();
        }
        service.shutdowns = 0;
        const info = unixConnection(listener.address);
        await info.ready;
        info.socket.write(head("GET", "/core/1.0"));
        const got = await within(info.answer, 10_000, "GET /core/1.0");
        info.socket.destroy();
        if (got.status !== 200) throw new Error(`GET /core/1.0 after the case: ${got.status}`);
      }),
      { seed: FUZZ.listener.seed, numRuns: FUZZ.listener.runs },
    );
  } finally {
    await listener.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test.run();
