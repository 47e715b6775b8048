/**
 * The status behind the event stream: what the tracker makes of gossip events, joins and upgrade
 * reports, and the stream the router serves from it (access, first snapshot, a snapshot after a
 * change, the end when the member stops).
 */
// deno-lint-ignore-file no-explicit-any
import { suite } from "uvu";
import * as assert from "uvu/assert";
import type { MemberInfo, MemberState } from "../../lib/cluster/membership.ts";
import type { UpgradeReport } from "../../lib/daemon/service.ts";
import { observeService } from "../../lib/metrics/observed_service.ts";
import { StatusTracker } from "../../lib/status/tracker.ts";
import { IncompatibleError } from "../../lib/errors.ts";
import { createRouter } from "../../routes/router.ts";
import { FakeService, TRUSTED, UNIX } from "../routes/fake_service.ts";
import { documentValidator } from "../helpers/openapi.ts";
import { SseReader } from "../helpers/sse.ts";

const test = suite("status tracker and event stream");

/** A gossip view whose events the test fires. */
class FakeView {
  readonly listeners = new Map<string, ((e: any) => void)[]>();
  on(name: string, fn: (e: any) => void): () => void {
    this.listeners.set(name, [...(this.listeners.get(name) ?? []), fn]);
    return () => this.listeners.set(name, this.listeners.get(name)!.filter((f) => f !== fn));
  }
  emit(name: string, payload: unknown): void {
    for (const fn of this.listeners.get(name) ?? []) fn(payload);
  }
}

const meta = (over: Partial<MemberInfo["meta"]> = {}): MemberInfo["meta"] => ({
  address: "10.0.0.2:9001",
  fingerprint: "",
  role: "voter",
  schemaInternal: 1,
  schemaExternal: 0,
  appVersion: "1.0",
  extensionCount: 2,
  extensionDigest: "d1",
  ...over,
});

const info = (name: string, state: MemberState, m = meta()): MemberInfo => ({
  name,
  state,
  incarnation: 1,
  meta: m,
  lastHeartbeat: 0,
  stateChangedAt: 0,
});

const settle = () => new Promise((r) => setTimeout(r, 30));

function setup() {
  const service = new FakeService();
  const completed: number[] = [];
  const tracker = new StatusTracker({ settleMs: 5, onUpgradeCompleted: (s) => completed.push(s) });
  tracker.bind(service);
  const view = new FakeView();
  tracker.watch(view);
  return { service, tracker, view, completed };
}

test("gossip events become the recent events, with what changed; a refreshed incarnation is not news", async () => {
  const { tracker, view, service } = setup();
  await service.initialize({ bootstrap: true, name: "c1", address: "10.0.0.1:9001" });
  view.emit("member-join", { member: info("c2", "alive"), previous: undefined });
  view.emit("member-update", { member: info("c2", "alive"), previous: "alive" });
  view.emit("member-update", {
    member: info(
      "c2",
      "alive",
      meta({ appVersion: "1.1", extensionCount: 3, extensionDigest: "d2" }),
    ),
    previous: "alive",
  });
  view.emit("member-suspect", { member: info("c2", "suspect"), previous: "alive" });
  view.emit("member-update", { member: info("c2", "alive"), previous: "suspect" });
  view.emit("member-failed", { member: info("c2", "dead"), previous: "suspect" });
  view.emit("member-join", { member: info("c2", "alive"), previous: "dead" });
  view.emit("member-left", { member: info("c2", "left"), previous: "alive" });
  view.emit("record-change", {
    record: { kind: "member", key: "c2", value: null },
    previous: { kind: "member", key: "c2", value: { address: "x" } },
  });
  await settle();
  const { events } = await tracker.snapshot();
  assert.equal(events.map((e) => `${e.kind}: ${e.message}`), [
    "join: c2 joined",
    "update: c2 changed: app version 1.0 → 1.1, extensions 2 → 3",
    "suspect: c2 is suspected: it missed its probes",
    "alive: c2 refuted the suspicion",
    "failed: c2 failed: no answer, declared dead",
    "rejoin: c2 is back (was dead)",
    "left: c2 left",
    "removed: c2 was removed from the cluster",
    "phase: This member is now online (was uninitialized)",
  ]);
  assert.ok(events.every((e, i) => e.id === events[0].id + i && !Number.isNaN(Date.parse(e.time))));
});

test("the upgrade: members done since when, a refused join, a member back behind refused, and the completion timed once", async () => {
  const { tracker, view, service, completed } = setup();
  await service.initialize({ bootstrap: true, name: "c1", address: "10.0.0.1:9001" });
  let report: UpgradeReport = {
    target: { schema_internal: 1, schema_external: 0, extensions: 3 },
    complete: false,
    done: ["c1"],
    pending: [{ name: "c2", lacks: "extension feature_c" }, {
      name: "c3",
      lacks: "extension feature_c",
    }],
    since: new Date().toISOString(),
    waiting_since: new Date().toISOString(),
    excluded: ["c3"],
    refused: [],
  };
  (service as any).upgradeStatus = () => report;
  const observed = observeService(service, tracker.hooks);
  service.fault = new IncompatibleError("lacks extension feature_c");
  await observed.acceptJoin({
    name: "c4",
    address: "10.0.0.4:9001",
    certificate: "PEM",
    schema_internal_version: 1,
    schema_external_version: 0,
    extensions: [],
    secret: "s",
  }).catch(() => {});
  service.fault = undefined;
  view.emit("member-join", { member: info("c2", "alive"), previous: "left" });
  await settle();
  let s = await tracker.snapshot();
  assert.equal(s.upgrade!.members.map((m) => `${m.name} ${m.state} ${m.lacks ?? ""}`.trim()), [
    "c1 done",
    "c2 pending extension feature_c",
    "c3 excluded extension feature_c",
  ]);
  assert.equal(s.upgrade!.refused.map((r) => `${r.member} ${r.kind}`), ["c4 join", "c2 restart"]);
  assert.match(s.upgrade!.refused[0].reason, /lacks extension feature_c/);
  assert.match(s.upgrade!.refused[1].reason, /came back without the upgrade/);
  assert.equal(completed, []);
  report = { ...report, complete: true, done: ["c1", "c2", "c3"], pending: [], excluded: [] };
  view.emit("member-update", {
    member: info("c2", "alive", meta({ extensionCount: 3, extensionDigest: "d3" })),
    previous: "alive",
  });
  await settle();
  s = await tracker.snapshot();
  assert.is(completed.length, 1);
  assert.ok(completed[0] >= 0 && completed[0] < 5, String(completed[0]));
  assert.ok(s.events.some((e) => e.message.startsWith("Upgrade complete: every member runs")));
  assert.ok(s.upgrade!.members.every((m) => m.state === "done"));
});

test("GET /core/control/events: a snapshot at once, another after a change, the end when the member stops", async () => {
  const { tracker, view, service } = setup();
  await service.initialize({ bootstrap: true, name: "c1", address: "10.0.0.1:9001" });
  const handler = createRouter(service, { status: tracker });
  const res = await handler(new Request("http://cohort/core/control/events"), UNIX);
  // A failed assertion still ends the stream: its phase timer would keep the file running.
  try {
    await eventStream(tracker, view, handler, res);
  } finally {
    tracker.close();
  }
});

async function eventStream(
  tracker: StatusTracker,
  view: FakeView,
  handler: ReturnType<typeof createRouter>,
  res: Response,
): Promise<void> {
  assert.is(res.status, 200);
  assert.is(res.headers.get("content-type"), "text/event-stream; charset=utf-8");
  const reader = new SseReader(res.body!);
  const first = await reader.next();
  assert.is(first!.event, "snapshot");
  assert.equal(reader.retries, [1000]);
  const snapshot = JSON.parse(first!.data);
  assert.is(snapshot.member.name, "c1");
  assert.is(snapshot.members[0].certificate, undefined, "no certificates on the page");
  // The data is what the OpenAPI document says.
  const doc = await (await handler(new Request("http://cohort/core/1.0/openapi.json"), UNIX))
    .json();
  const validator = documentValidator(doc);
  assert.ok(validator.schema("StatusSnapshot", snapshot), validator.errors());
  view.emit("member-join", { member: info("c2", "alive"), previous: undefined });
  // Snapshots of changes made before the join (the bootstrap's own, still settling while the
  // document above was built) may come first; each has the next id, and one shows the join.
  let id = Number(first!.id);
  for (let i = 0;; i++) {
    const next = await reader.next();
    assert.ok(next, "the stream ended before the join was shown");
    assert.is(Number(next.id), ++id);
    if (/c2 joined/.test(next.data)) break;
    assert.ok(i < 3, `no snapshot shows c2's join: ${next.data.slice(0, 200)}`);
  }
  tracker.close();
  assert.is(await reader.next(), undefined, "the stream ends when the member stops");
}

test("GET /core/control/events with Accept: application/json answers the current snapshot in an envelope", async () => {
  const { tracker, service } = setup();
  await service.initialize({ bootstrap: true, name: "c1", address: "10.0.0.1:9001" });
  const handler = createRouter(service, { status: tracker });
  const res = await handler(
    new Request("http://cohort/core/control/events", { headers: { accept: "application/json" } }),
    UNIX,
  );
  assert.is(res.status, 200);
  const body = await res.json() as any;
  assert.is(body.type, "sync");
  assert.is(body.metadata.member.name, "c1");
  const doc = await (await handler(new Request("http://cohort/core/1.0/openapi.json"), UNIX))
    .json();
  const validator = documentValidator(doc);
  assert.ok(
    validator.answer("GET", "/core/control/events", 200, body, "application/json"),
    validator.errors(),
  );
});

test("GET /core/control/events is for the control socket only, and 501 without a status", async () => {
  const { tracker, service } = setup();
  const handler = createRouter(service, { status: tracker });
  const res = await handler(new Request("http://cohort/core/control/events"), TRUSTED);
  assert.is(res.status, 403);
  assert.match((await res.json() as any).error, /only served on the local control socket/);
  const bare = await createRouter(service)(new Request("http://cohort/core/control/events"), UNIX);
  assert.is(bare.status, 501);
  await bare.body?.cancel();
});

test("a client that goes away stops its subscription", async () => {
  const { tracker, service, view } = setup();
  const handler = createRouter(service, { status: tracker });
  const controller = new AbortController();
  const res = await handler(
    new Request("http://cohort/core/control/events", { signal: controller.signal }),
    UNIX,
  );
  const reader = new SseReader(res.body!);
  await reader.next();
  assert.is(tracker.subscribers, 1);
  await reader.cancel();
  assert.is(tracker.subscribers, 0, "the stream's subscription ended with it");
  let calls = 0;
  const off = tracker.subscribe(() => calls++);
  view.emit("member-join", { member: info("c9", "alive"), previous: undefined });
  await settle();
  assert.is(calls, 1, "the remaining subscriber still hears");
  off();
  tracker.close();
});

test.run();
