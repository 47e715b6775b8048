/**
 * The OpenAPI document: valid for a maintained validator, in step with the router (every route
 * documented, nothing else), and exact about request bodies (a sample the structs accept
 * validates against the document, and one they refuse does not) and answers.
 */
// deno-lint-ignore-file no-explicit-any
import { existsSync, readFileSync } from "node:fs";
import { resolve } from "node:path";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import fc from "fast-check";
import { createConfig, lintFromString } from "@redocly/openapi-core";
import { createRouter } from "../../routes/router.ts";
import { openApiDocument } from "../../routes/openapi/document.ts";
import { OPERATIONS, OTHER_OPERATIONS } from "../../routes/openapi/operations.ts";
import { REFINEMENTS } from "../../routes/openapi/refinements.ts";
import { GOSSIP_PATH } from "../../gossip/ws_transport.ts";
import { addressProblem, memberNameProblem } from "../../lib/cluster/address.ts";
import { appVersionProblem } from "../../lib/cluster/app_version.ts";
import { isClaimRound, isSha256Hex } from "../../lib/cluster/token.ts";
import { Ajv2020 } from "ajv/dist/2020.js";
import { documentValidator } from "../helpers/openapi.ts";
import { ANONYMOUS, FakeService, STRANGER, TRUSTED, UNIX } from "./fake_service.ts";
import type { Caller } from "../../lib/daemon/service.ts";

const root = resolve(import.meta.dirname ?? ".", "../..");
const test = suite("openapi");

async function fetchDocument(service = new FakeService(), caller: Caller = UNIX) {
  const handler = createRouter(service);
  const res = await handler(new Request("http://cohort/core/1.0/openapi.json"), caller);
  return { status: res.status, body: await res.json() as any };
}

test("the document passes @redocly/openapi-core's recommended-strict rules, but for the WebSocket upgrade's 101", async () => {
  const { body } = await fetchDocument();
  assert.is(body.openapi, "3.1.0");
  const config = await createConfig({ extends: ["recommended-strict"] } as any);
  const problems = await lintFromString({
    source: JSON.stringify(body),
    absoluteRef: "openapi.json",
    config,
  });
  // A WebSocket upgrade answers 101 Switching Protocols: it has no 2XX answer to document.
  const left = problems.filter((p) =>
    !(p.ruleId === "operation-2xx-response" &&
      p.location[0]?.pointer === "#/paths/~1core~1internal~1gossip/get/responses")
  );
  assert.equal(
    left.map((p) => `${p.severity} ${p.ruleId}: ${p.message} at ${p.location[0]?.pointer}`),
    [],
  );
  assert.is(problems.length - left.length, 1);
});

test("every documented operation reaches a handler of the router, and the router has no route the document lacks", async () => {
  const { status, body } = await fetchDocument();
  // The document is generated from the router's live table and refuses to be built when a
  // route lacks a description or a description lacks a route (next test): being served at all
  // means they match. Here the other way round, by behaviour: no documented operation falls
  // through to the router's 404/405 answers.
  assert.is(status, 200);
  const handler = createRouter(new FakeService());
  let operations = 0;
  for (const [path, ops] of Object.entries(body.paths) as [string, any][]) {
    for (const method of Object.keys(ops)) {
      if (path === GOSSIP_PATH) continue; // served by the gossip transport, not the router
      operations++;
      const url = `http://cohort${path.replace(/\{\w+\}/g, "x")}`;
      const res = await handler(new Request(url, { method: method.toUpperCase() }), UNIX);
      const answer: any = res.headers.get("content-type")?.includes("json") ? await res.json() : {};
      assert.is.not(res.status, 405, `${method} ${path}`);
      assert.not.match(String(answer.error ?? ""), /^No endpoint at/, `${method} ${path}`);
    }
  }
  assert.is(operations, Object.keys(OPERATIONS).length);
  // The one endpoint served outside the router is the gossip transport's WebSocket upgrade.
  assert.equal(Object.keys(OTHER_OPERATIONS), [`GET ${GOSSIP_PATH}`]);
  assert.ok(body.paths[GOSSIP_PATH].get);
});

test("a route without a description, or a description without a route, fails the document", () => {
  const keys = Object.keys(OPERATIONS).map((k) => {
    const [method, path] = k.split(" ");
    return { method, path };
  });
  assert.ok(openApiDocument(keys, "1.0"));
  assert.throws(
    () => openApiDocument([...keys, { method: "GET", path: "/core/1.0/nothing" }], "1.0"),
    /The route GET \/core\/1\.0\/nothing is not documented/,
  );
  assert.throws(
    () => openApiDocument(keys.filter((k) => k.path !== "/core/1.0/upgrade"), "1.0"),
    /Documented routes that do not exist: GET \/core\/1\.0\/upgrade/,
  );
});

const ajv = new Ajv2020({ strict: false, validateFormats: false });

/** The rule each named refinement stands for: `true` when the value is accepted. */
const RULES: Record<string, (v: string) => boolean> = {
  "member name": (v) => memberNameProblem(v) === undefined,
  address: (v) => addressProblem(v) === undefined,
  "app version": (v) => appVersionProblem(v) === undefined,
  "SHA-256 hex digest": isSha256Hex,
  "claim round": isClaimRound,
};

/** Strings near each rule's edges: shapes of valid values with random characters mixed in. */
const label = fc.stringMatching(/^[a-zA-Z0-9-]{0,65}$/);
const nameLike = fc.oneof(
  fc.domain(),
  fc.array(label, { minLength: 1, maxLength: 5 }).map((l) => l.join(".")),
  fc.string({ unit: fc.constantFrom("a", "Z", "0", "-", ".", "_", " ", "é"), maxLength: 70 }),
  fc.nat(300).map((n) => "a".repeat(n)),
  fc.nat(100).map((n) => ("a".repeat(62) + ".").repeat(n % 6) + "b"),
);
const hostLike = fc.oneof(
  nameLike,
  fc.ipV4(),
  fc.ipV4Extended(),
  fc.ipV6().map((h) => `[${h}]`),
  fc.tuple(fc.ipV6(), fc.stringMatching(/^[a-z0-9.:-]{0,6}$/)).map(([h, z]) => `[${h}%${z}]`),
  fc.ipV6(),
  nameLike.map((h) => `[${h}]`),
  fc.string({ unit: fc.constantFrom("1", "f", ":", ".", "[", "]", "%", "a"), maxLength: 40 }),
);
const portLike = fc.oneof(
  fc.integer({ min: -1, max: 70_000 }).map(String),
  fc.tuple(fc.nat(3), fc.nat(66_000)).map(([z, p]) => "0".repeat(z) + p),
  fc.stringMatching(/^[0-9a]{0,7}$/),
);
const ARBITRARY: Record<string, fc.Arbitrary<string>> = {
  "SHA-256 hex digest": fc.oneof(
    fc.stringMatching(/^[0-9a-f]{64}$/),
    fc.stringMatching(/^[0-9a-fA-F]{63,65}$/),
    fc.stringMatching(/^[0-9a-g]{62,66}$/),
  ),
  "claim round": fc.oneof(
    fc.stringMatching(/^[0-9a-f]{32}$/),
    fc.stringMatching(/^[0-9a-fA-F]{31,33}$/),
    fc.stringMatching(/^[0-9a-g]{30,34}$/),
  ),
  "member name": nameLike,
  address: fc.oneof(
    fc.tuple(hostLike, portLike).map(([h, p]) => `${h}:${p}`),
    // Valid hosts with valid ports, so the rule's accepting side is reached as often.
    fc.tuple(
      fc.oneof(fc.ipV4(), fc.domain(), fc.ipV6().map((h) => `[${h}]`)),
      fc.integer({ min: 1, max: 65535 }),
    ).map(([h, p]) => `${h}:${p}`),
    fc.string({ maxLength: 30 }),
  ),
  "app version": fc.oneof(
    fc.string({ maxLength: 70 }),
    fc.string({
      unit: fc.integer({ min: 0x1f, max: 0x7f }).map((c) => String.fromCharCode(c)),
      maxLength: 70,
    }),
    fc.nat(80).map((n) => "1".repeat(n)),
  ),
};

for (const [name, schema] of Object.entries(REFINEMENTS)) {
  test(`the documented pattern of a "${name}" accepts exactly what the rule accepts, on generated strings`, () => {
    const validate = ajv.compile(schema);
    const rule = RULES[name];
    assert.ok(rule, `no rule known for "${name}"`);
    let accepted = 0;
    fc.assert(
      fc.property(ARBITRARY[name], (value) => {
        const ok = rule(value);
        if (ok) accepted++;
        return validate(value) === ok;
      }),
      { numRuns: 3000, seed: 14 },
    );
    // The generators must reach both sides of the rule to prove anything.
    assert.ok(accepted > 300 && accepted < 2700, `${accepted} of 3000 accepted`);
  });
}

const CLAIM = {
  hash: "ab".repeat(32),
  name: "c2",
  address: "10.0.0.2:9001",
  fingerprint: "0123456789abcdef".repeat(4),
};
const CLAIMS = [
  CLAIM,
  { ...CLAIM, hash: "AB".repeat(32) },
  { ...CLAIM, fingerprint: "0".repeat(63) },
  { ...CLAIM, address: "10.0.0.2" },
  { ...CLAIM, name: undefined },
  { ...CLAIM, extra: 1 },
];

/** Documented request bodies by operation, and hand-picked samples on both sides of the rules. */
const SAMPLES: Record<string, unknown[]> = {
  "POST /core/control": [
    { bootstrap: true, name: "c1", address: "127.0.0.1:9001" },
    { name: "c2", address: "[::1]:9002", join_token: "abc", config: { a: "b" } },
    { name: "c2", address: "c2.example.org:9002", join_token: "" },
    { bootstrap: "yes", name: "c1", address: "127.0.0.1:9001" },
    { bootstrap: true, name: "c1", address: "127.0.0.1:0" },
    { bootstrap: true, name: "c1", address: "127.0.0.1:9001", extra: 1 },
    { bootstrap: true, name: "c1", address: "127.0.0.1:9001", config: { a: 1 } },
    { bootstrap: true, address: "127.0.0.1:9001" },
    { name: "c2", address: "10.0.0.2:1", join_token: "x".repeat(65536) },
    { name: "c2", address: "10.0.0.2:1", join_token: "x".repeat(65537) },
    [],
    "c1",
    null,
  ],
  "POST /core/control/tokens": [
    { name: "c2" },
    { name: "c2", expire_after: 3600e9 },
    { name: "c2", expire_after: -1 },
    { name: "c2", expire_after: 1.5 },
    { name: "c2", expire_after: "1h" },
    { name: "-c2" },
    {},
  ],
  "PUT /core/control/app-version": [
    { app_version: "1.2.3" },
    { app_version: "1 2" },
    { app_version: "" },
    { app_version: "x".repeat(64) },
    { app_version: "x".repeat(65) },
    { app_version: 1 },
  ],
  "POST /core/internal/cluster": [
    joinRequest({}),
    joinRequest({ extensions: "internal:runtime_extension_v1" }),
    joinRequest({ extensions: [] }),
    joinRequest({ extensions: [""] }),
    joinRequest({ extensions: ["x".repeat(257)] }),
    joinRequest({ app_version: "2.0.0", role: "", status: "", last_heartbeat: "" }),
    joinRequest({ schema_internal_version: -1 }),
    joinRequest({ schema_external_version: 2 ** 53 }),
    joinRequest({ secret: "" }),
    joinRequest({ certificate: "x".repeat(16385) }),
    joinRequest({ role: 1 }),
  ],
  "PUT /core/internal/cluster/{name}": [{}, { force: true }, { force: 1 }, { other: true }],
  "PUT /core/1.0/records/{key}": [
    { value: { port: 80 } },
    { value: "text" },
    { value: [1, 2] },
    { value: 1, other: true },
    [],
  ],
  "PUT /core/1.0/daemon/servers": [
    {},
    { web: { address: "10.0.0.1:9443" } },
    { web: { address: "[::1]:9443" }, metrics: { address: "host.example:8000" } },
    { web: { address: "10.0.0.1" } },
    { web: { address: "10.0.0.1:0" } },
    { web: { address: "10.0.0.1:9443", extra: 1 } },
    { web: {} },
    { web: "10.0.0.1:9443" },
  ],
  "PUT /core/1.0/cluster/certificates/{name}": [
    { cert: "-----BEGIN CERTIFICATE-----", key: "-----BEGIN PRIVATE KEY-----", ca: "" },
    { cert: "c", key: "k" },
    { cert: "c", key: "k", ca: "a" },
    { cert: "", key: "k", ca: "" },
    { cert: "c", ca: "" },
    { cert: "c", key: 1, ca: "" },
    { cert: "c", key: "k", ca: "", extra: 1 },
  ],
  "POST /core/internal/tokens/claim": CLAIMS,
  "POST /core/internal/tokens/release": CLAIMS,
  "POST /core/internal/sql": [
    { query: "SELECT 1" },
    { query: "" },
    { query: "x".repeat(1_048_576) },
    { query: "x".repeat(1_048_577) },
    { query: ["SELECT 1"] },
  ],
};

function joinRequest(over: Record<string, unknown>): Record<string, unknown> {
  return {
    name: "c2",
    address: "10.0.0.2:9001",
    certificate: "-----BEGIN CERTIFICATE-----",
    schema_internal_version: 1,
    schema_external_version: 0,
    extensions: ["internal:runtime_extension_v1", "feature_a"],
    secret: "s3cret",
    ...over,
  };
}

test("request bodies: a sample the structs accept validates against the document, and one they refuse does not", async () => {
  const { body } = await fetchDocument();
  const validator = documentValidator(body);
  const withBody = Object.entries(OPERATIONS).filter(([, doc]) => doc.body);
  assert.equal(
    withBody.map(([k]) => k.replace(/:(\w+)/g, "{$1}")).sort(),
    Object.keys(SAMPLES).sort(),
    "every operation with a body has samples",
  );
  for (const [key, doc] of withBody) {
    const [method, path] = key.replace(/:(\w+)/g, "{$1}").split(" ");
    let accepted = 0;
    for (const sample of SAMPLES[`${method} ${path}`]) {
      const [refused] = doc.body!.validate(sample, { coerce: true });
      const valid = validator.body(method, path, sample);
      const shown = JSON.stringify(sample).slice(0, 120);
      assert.is(
        valid,
        !refused,
        `${key} ${shown}: struct ${refused ? "refuses" : "accepts"}, ` +
          `document ${valid ? "accepts" : `refuses (${validator.errors()})`}`,
      );
      if (!refused) accepted++;
    }
    assert.ok(accepted > 0, `${key}: no accepted sample`);
  }
});

test("request bodies: generated bodies get the same verdict from the structs and the document", async () => {
  const { body } = await fetchDocument();
  const validator = documentValidator(body);
  const value = fc.oneof(
    fc.constantFrom("c1", "10.0.0.1:9001", "1.2.3", "", "x", "internal:runtime_extension_v1"),
    fc.string({ maxLength: 8 }),
    fc.integer({ min: -3, max: 3 }),
    fc.double({ noNaN: true }),
    fc.boolean(),
    fc.constant(null),
    fc.array(fc.constantFrom("a", "", "feature_a"), { maxLength: 3 }),
    fc.dictionary(fc.constantFrom("a", "b"), fc.oneof(fc.string({ maxLength: 2 }), fc.nat(2)), {
      noNullPrototype: true,
    }),
    fc.constantFrom({ address: "10.0.0.1:9443" }, { address: "nowhere" }, { address: 1 }),
  );
  for (const [key, doc] of Object.entries(OPERATIONS).filter(([, d]) => d.body)) {
    const [method, path] = key.replace(/:(\w+)/g, "{$1}").split(" ");
    const schema = body.paths[path][method.toLowerCase()].requestBody.content["application/json"]
      .schema;
    // A record (daemon/servers) has no properties: its keys are names.
    const fields = Object.keys(schema.properties ?? { web: null });
    const bodies = fc.dictionary(fc.constantFrom(...fields, "unknown_field"), value);
    let accepted = 0;
    fc.assert(
      fc.property(bodies, fc.boolean(), (generated, complete) => {
        // As it arrives: parsed JSON (plain prototypes, no -0, no undefined).
        const sample = JSON.parse(JSON.stringify(generated));
        // Half of them well-formed but for the generated fields: the required ones filled in.
        for (const f of complete ? schema.required ?? [] : []) {
          if (!(f in sample)) sample[f] = (SAMPLES[`${method} ${path}`][0] as any)[f];
        }
        const [refused] = doc.body!.validate(sample, { coerce: true });
        if (!refused) accepted++;
        return validator.body(method, path, sample) === !refused;
      }),
      { numRuns: 500, seed: 14 },
    );
    assert.ok(accepted > 0, `${key}: no generated body was accepted`);
  }
});

const CERTIFICATE = "/core/1.0/cluster/certificates/{name}";
const PAIR = { cert: "c", key: "k", ca: "" };

test("answers validate against the documented schemas, errors included", async () => {
  const { body } = await fetchDocument();
  const validator = documentValidator(body);
  const service = new FakeService();
  const handler = createRouter(service);
  const call = async (method: string, path: string, caller: Caller, sent?: unknown) => {
    const res = await handler(
      new Request(`http://cohort${path}`, {
        method,
        ...(sent === undefined ? {} : { body: JSON.stringify(sent) }),
      }),
      caller,
    );
    return { status: res.status, answer: await res.json() };
  };
  const cases: [string, string, string, Caller, unknown?][] = [
    ["GET", "/core/1.0", "/core/1.0", ANONYMOUS],
    ["GET", "/core/1.0/cluster", "/core/1.0/cluster", TRUSTED], // 503: uninitialised
    ["POST", "/core/control", "/core/control", UNIX, SAMPLES["POST /core/control"][0]],
    ["POST", "/core/control", "/core/control", UNIX, SAMPLES["POST /core/control"][0]], // 409
    ["GET", "/core/1.0/cluster", "/core/1.0/cluster", TRUSTED],
    ["GET", "/core/1.0/cluster", "/core/1.0/cluster", STRANGER], // 403
    ["GET", "/core/1.0/extensions", "/core/1.0/extensions", TRUSTED],
    ["GET", "/core/1.0/upgrade", "/core/1.0/upgrade", TRUSTED],
    ["GET", "/core/1.0/ready", "/core/1.0/ready", TRUSTED],
    ["POST", "/core/control/tokens", "/core/control/tokens", UNIX, { name: "c2" }],
    ["GET", "/core/control/tokens", "/core/control/tokens", UNIX],
    ["DELETE", "/core/control/tokens/{name}", "/core/control/tokens/c2", UNIX],
    ["PUT", "/core/control/app-version", "/core/control/app-version", UNIX, { app_version: "2" }],
    ["PUT", "/core/control/app-version", "/core/control/app-version", UNIX, { app_version: "" }],
    ["POST", "/core/internal/cluster", "/core/internal/cluster", ANONYMOUS, joinRequest({})],
    ["PATCH", "/core/internal/database", "/core/internal/database", TRUSTED],
    ["POST", "/core/internal/sql", "/core/internal/sql", UNIX, { query: "SELECT 1" }],
    ["GET", "/core/internal/sql", "/core/internal/sql", UNIX],
    ["GET", "/core/internal/sql", "/core/internal/sql", TRUSTED], // 403
    ["DELETE", "/core/1.0/cluster/{name}", "/core/1.0/cluster/c9", TRUSTED],
    ["GET", "/core/1.0/openapi.json", "/core/1.0/openapi.json", ANONYMOUS], // 403
    // No extension servers: 404; the cluster's certificate: 501; a bad body: 400.
    ["PUT", CERTIFICATE, "/core/1.0/cluster/certificates/web", TRUSTED, PAIR],
    ["PUT", CERTIFICATE, "/core/1.0/cluster/certificates/cluster", TRUSTED, PAIR],
    ["PUT", CERTIFICATE, "/core/1.0/cluster/certificates/web", TRUSTED, { cert: "c" }],
  ];
  const statuses = new Set<number>();
  for (const [method, path, url, caller, sent] of cases) {
    const { status, answer } = await call(method, url, caller, sent);
    statuses.add(status);
    assert.ok(
      validator.answer(method, path, status, answer),
      `${method} ${url} ${status} ${JSON.stringify(answer).slice(0, 200)}: ${validator.errors()}`,
    );
  }
  assert.ok(
    [200, 400, 403, 404, 409, 501, 503].every((s) => statuses.has(s)),
    [...statuses].join(","),
  );
});

test("GET /core/1.0/openapi.json is served on the socket and to member certificates, 403 otherwise; the package ships the same document", async () => {
  const local = await fetchDocument(new FakeService(), UNIX);
  assert.is(local.status, 200);
  assert.is((await fetchDocument(new FakeService(), TRUSTED)).status, 200);
  for (const caller of [STRANGER, ANONYMOUS]) {
    const { status, body } = await fetchDocument(new FakeService(), caller);
    assert.is(status, 403);
    assert.match(body.error, /certificate/);
  }
  const packaged = resolve(root, "dist/openapi.json");
  if (!existsSync(packaged)) throw new Error("dist/openapi.json is missing: run npm run build");
  assert.equal(JSON.parse(readFileSync(packaged, "utf8")), local.body);
});

test.run();
