/**
 * A member's metrics behind the router: who may read them, what the member gauges say about a
 * (fake) member, the HTTP histogram's labels, joins reported by the observed service, and the
 * plain-HTTP listener.
 */
// deno-lint-ignore-file no-explicit-any
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { ForbiddenError, IncompatibleError } from "../../lib/errors.ts";
import { silentLogger } from "../../lib/log.ts";
import { parseMetricsAddress, serveMetrics } from "../../lib/metrics/listener.ts";
import { MemberMetrics } from "../../lib/metrics/member_metrics.ts";
import { observeService } from "../../lib/metrics/observed_service.ts";
import type { JoinOutcome } from "../../lib/metrics/observed_service.ts";
import { createRouter } from "../../routes/router.ts";
import { ANONYMOUS, FakeService, STRANGER, TRUSTED, UNIX } from "../routes/fake_service.ts";
import { value } from "../helpers/metrics.ts";
import type { Caller } from "../../lib/daemon/service.ts";

const test = suite("member metrics");

function setup() {
  const service = new FakeService();
  const metrics = new MemberMetrics({ processMetrics: false });
  metrics.bind(service);
  const handler = createRouter(service, { metrics });
  const get = async (path: string, caller: Caller = UNIX) => {
    const res = await handler(new Request(`http://cohort${path}`), caller);
    return { status: res.status, type: res.headers.get("content-type"), text: await res.text() };
  };
  return { service, metrics, handler, get };
}

test("GET /core/1.0/metrics: the text format on the socket and to member certificates, 403 to others, 501 without metrics", async () => {
  const { get } = setup();
  for (const caller of [UNIX, TRUSTED]) {
    const res = await get("/core/1.0/metrics", caller);
    assert.is(res.status, 200);
    assert.is(res.type, "text/plain; version=0.0.4; charset=utf-8");
    assert.match(res.text, /^# HELP cohort_/m);
  }
  for (const caller of [STRANGER, ANONYMOUS]) {
    const res = await get("/core/1.0/metrics", caller);
    assert.is(res.status, 403);
    assert.is.not(res.text.includes("cohort_member"), true);
  }
  const bare = createRouter(new FakeService());
  const res = await bare(new Request("http://cohort/core/1.0/metrics"), UNIX);
  assert.is(res.status, 501);
  assert.match(((await res.json()) as any).error, /does not collect metrics/);
});

test("the member gauges follow the member: its phase, then the members by status and role with their versions as labels", async () => {
  const { service, get } = setup();
  let text = (await get("/core/1.0/metrics")).text;
  assert.is(value(text, "cohort_member_phase", { phase: "uninitialized" }), 1);
  assert.is(value(text, "cohort_member_phase", { phase: "online" }), 0);
  assert.is(value(text, "cohort_members"), undefined, "no members before initialisation");
  await service.initialize({ bootstrap: true, name: "c1", address: "127.0.0.1:9001" });
  text = (await get("/core/1.0/metrics")).text;
  assert.is(value(text, "cohort_member_phase", { phase: "online" }), 1);
  assert.is(value(text, "cohort_members", { status: "ONLINE", role: "voter" }), 1);
  assert.is(
    value(text, "cohort_member_info", {
      member: "c1",
      address: "127.0.0.1:9001",
      role: "voter",
      schema_internal: "1",
    }),
    1,
  );
  assert.is(value(text, "cohort_extensions", { scope: "local" }), 2);
  assert.is(value(text, "cohort_upgrade_complete"), 1);
  assert.is(value(text, "cohort_upgrade_members", { state: "done" }), 1);
});

test("every request is timed under its route pattern, status and method; unknown paths and methods stay bounded", async () => {
  const { handler, get } = setup();
  await handler(new Request("http://cohort/core/1.0/cluster/x%20y", { method: "DELETE" }), TRUSTED);
  await handler(new Request("http://cohort/no/such/path/1"), UNIX);
  await handler(new Request("http://cohort/no/such/path/2"), UNIX);
  await handler(new Request("http://cohort/core/1.0", { method: "BREW" }), UNIX);
  const text = (await get("/core/1.0/metrics")).text;
  const count = "cohort_http_request_duration_seconds_count";
  assert.is(
    value(text, count, { method: "DELETE", route: "/core/1.0/cluster/:name", status: "503" }),
    1,
  );
  assert.is(value(text, count, { method: "GET", route: "unmatched", status: "404" }), 2);
  assert.is(value(text, count, { method: "other", route: "unmatched", status: "405" }), 1);
  assert.not.match(text, /no\/such|x%20y|BREW/);
});

test("the observed service reports joins with their outcome, and passes every other call through", async () => {
  const service = new FakeService();
  const seen: [string, JoinOutcome][] = [];
  const observed = observeService(service, {
    joined: (o) => seen.push(["joined", o]),
    admitted: (o) => seen.push(["admitted", o]),
    bootstrapped: (name) => seen.push(["bootstrapped", { name } as JoinOutcome]),
  });
  const join = {
    name: "c2",
    address: "10.0.0.2:9001",
    certificate: "PEM",
    schema_internal_version: 1,
    schema_external_version: 0,
    extensions: [],
    secret: "s",
  };
  await observed.acceptJoin(join);
  service.fault = new IncompatibleError("lacks feature_b");
  await observed.acceptJoin(join).catch(() => {});
  service.fault = new Error("disk on fire");
  await observed.acceptJoin(join).catch(() => {});
  service.fault = new ForbiddenError("Join token expired");
  await observed.initialize({ bootstrap: false, name: "c2", address: "1.2.3.4:5", join_token: "t" })
    .catch(() => {});
  service.fault = undefined;
  await observed.initialize({ bootstrap: true, name: "c1", address: "1.2.3.4:5" });
  assert.equal(seen.map(([k, o]) => `${k} ${o.name} ${o.result ?? ""} ${o.reason ?? ""}`.trim()), [
    "admitted c2 accepted",
    "admitted c2 refused lacks feature_b",
    "admitted c2 failed internal error",
    "joined c2 refused Join token expired",
    "bootstrapped c1",
  ]);
  assert.ok(seen.every(([, o]) => o.seconds === undefined || o.seconds >= 0));
  assert.is(observed.status(), "online");
  assert.is(observed.info().name, "c1");
  assert.is(observed.isTrusted("trusted-fp"), true);
});

test("--metrics-address: a bare port binds loopback; an address is checked like a member's", () => {
  assert.equal(parseMetricsAddress("9100"), { host: "127.0.0.1", port: 9100 });
  assert.equal(parseMetricsAddress(":0"), { host: "127.0.0.1", port: 0 });
  assert.equal(parseMetricsAddress("0.0.0.0:9100"), { host: "0.0.0.0", port: 9100 });
  assert.equal(parseMetricsAddress("[::1]:9100"), { host: "::1", port: 9100 });
  for (const bad of ["", "localhost", "1.2.3.4:70000", "a b:1", "99999"]) {
    assert.throws(() => parseMetricsAddress(bad), /Invalid metrics address/, bad);
  }
  assert.throws(
    () => parseMetricsAddress("localhost"),
    /\(or a bare port, on 127\.0\.0\.1\)$/,
    "the rule says both forms",
  );
});

test("the plain-HTTP listener serves the metrics at /metrics and /core/1.0/metrics, and nothing else", async () => {
  const { metrics } = setup();
  const listener = await serveMetrics("127.0.0.1:0", metrics, silentLogger);
  try {
    const base = `http://${listener.address}`;
    for (const path of ["/metrics", "/core/1.0/metrics"]) {
      const res = await fetch(base + path);
      assert.is(res.status, 200);
      assert.match(await res.text(), /^cohort_member_phase\{phase="uninitialized"\} 1$/m);
    }
    const other = await fetch(`${base}/core/1.0/cluster`);
    assert.is(other.status, 404);
    await other.body?.cancel();
    const post = await fetch(`${base}/metrics`, { method: "POST" });
    assert.is(post.status, 405);
    await post.body?.cancel();
  } finally {
    await listener.close();
  }
  const closed = await fetch(`http://${listener.address}/metrics`).then(() => false, () => true);
  assert.ok(closed, "nothing listens after close()");
});

test.run();
