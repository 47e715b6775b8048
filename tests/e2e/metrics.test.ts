/**
 * End to end, with real member daemons on loopback: the metrics a scraper reads after known
 * events (joins, a kill -9, a rolling upgrade), checked by promtool, through `cohort metrics`,
 * the opt-in plain-HTTP listener and HTTPS.
 */
import { suite } from "../helpers/suite.ts";
import * as assert from "uvu/assert";
import { get as httpsGet } from "node:https";
import {
  eventually,
  EXTENSIONS,
  FULL_EXTENSIONS,
  kill,
  type Member,
  run,
  stop,
  stopMembers,
} from "../helpers/cluster.ts";
import { checkMetrics, promtool, value } from "../helpers/metrics.ts";
import { formWith, logged, startWith } from "../helpers/upgrade.ts";

interface Ctx {
  m: Member[];
}

const test = suite<Ctx>("metrics of a live cluster");
const NEW = [...EXTENSIONS, "feature_c"];

test.before(async (ctx) => {
  ctx.m = await formWith(
    ["m1", "m2", "m3"],
    (name) => (name === "m1" ? { flags: ["--metrics-address", "127.0.0.1:0"] } : {}),
  );
});

test.after(async (ctx) => {
  await stopMembers(ctx.m ?? []);
});

/** `cohort metrics` on `m`. */
async function scrape(m: Member): Promise<string> {
  const r = await run(m, ["metrics"]);
  if (r.code !== 0) throw new Error(`cohort metrics on ${m.name}: ${r.stderr}`);
  return r.stdout;
}

/** The plain-HTTP metrics address `m` logged. */
function metricsAddress(m: Member): string {
  const line = logged(m, "Serving metrics over plain HTTP").at(-1);
  if (!line) throw new Error(`${m.name} logged no metrics listener:\n${m.daemon?.logs()}`);
  return line.address;
}

test("after the joins: three members online, three voters, two admissions on the first, one join on each other", async ({ m }) => {
  const [m1, m2, m3] = m;
  const text = await scrape(m1);
  // m1's first scrape: its event loop lag figures have no sample yet, and say so (NaN), never
  // an empty histogram's raw figures (min 9223372036.854776 s), which an alert takes for real.
  assert.not.match(text, /9223372036/);
  for (const figure of ["min", "max", "mean", "p50", "p99"]) {
    assert.ok(Number.isNaN(value(text, `nodejs_eventloop_lag_${figure}_seconds`)), figure);
  }
  assert.is(value(text, "cohort_member_phase", { phase: "online" }), 1);
  assert.is(value(text, "cohort_members", { status: "ONLINE" }), 3);
  assert.is(value(text, "cohort_members", { role: "voter" }), 3);
  for (const name of ["m1", "m2", "m3"]) {
    assert.is(
      value(text, "cohort_member_info", {
        member: name,
        status: "ONLINE",
        extensions: String(FULL_EXTENSIONS.length),
        extension_verdict: "equal",
      }),
      1,
      name,
    );
  }
  assert.is(
    value(text, "cohort_join_duration_seconds_count", { side: "admitting", result: "accepted" }),
    2,
  );
  assert.is(
    value(text, "cohort_http_request_duration_seconds_count", {
      route: "/core/internal/cluster",
      status: "200",
    }),
    2,
  );
  for (const joiner of [m2, m3]) {
    const own = await scrape(joiner);
    assert.is(
      value(own, "cohort_join_duration_seconds_count", { side: "joiner", result: "accepted" }),
      1,
      joiner.name,
    );
    assert.is(value(own, "cohort_join_duration_seconds_count", { side: "admitting" }) ?? 0, 0);
  }
  // Probing starts after a random stagger: the first pings may not have gone out yet.
  const later = await eventually("m1's first probes", async () => {
    const t = await scrape(m1);
    return value(t, "cohort_gossip_messages_total", { direction: "sent", type: "ping" })! > 0 && t;
  });
  assert.ok(value(later, "cohort_gossip_bytes_total", { direction: "received" })! > 0);
  assert.ok(value(later, "cohort_gossip_probes_total")! > 0);
  assert.is(value(text, "cohort_gossip_members", { state: "alive" }), 3);
  assert.ok(value(text, "process_resident_memory_bytes")! > 0);
  assert.ok(value(text, "nodejs_eventloop_lag_p99_seconds") !== undefined);
});

test("promtool check metrics passes on a live member's output, from the CLI and from the plain-HTTP listener", async ({ m }) => {
  const tool = promtool();
  if ("skip" in tool) {
    console.log(`  skipped: ${tool.skip}`);
    return;
  }
  const fromCli = checkMetrics(tool.path, await scrape(m[0]));
  assert.is(fromCli.code, 0, fromCli.output);
  const res = await fetch(`http://${metricsAddress(m[0])}/metrics`);
  assert.is(res.status, 200);
  const fromHttp = checkMetrics(tool.path, await res.text());
  assert.is(fromHttp.code, 0, fromHttp.output);
});

test("over HTTPS the metrics need a member certificate; the plain-HTTP listener binds loopback and serves only them", async ({ m }) => {
  const address = metricsAddress(m[0]);
  assert.match(address, /^127\.0\.0\.1:\d+$/);
  const plain = await fetch(`http://${address}/metrics`);
  assert.match(await plain.text(), /^cohort_members\{status="ONLINE",role="voter"\} 3$/m);
  const other = await fetch(`http://${address}/core/1.0/cluster`);
  assert.is(other.status, 404);
  await other.body?.cancel();
  // A client without a certificate (and not checking the member's): refused before any metric.
  const anonymous = await new Promise<{ status: number; body: string }>((resolve, reject) => {
    const req = httpsGet(
      `https://${m[0].address}/core/1.0/metrics`,
      { rejectUnauthorized: false },
      (res) => {
        let body = "";
        res.on("data", (d) => (body += d));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
      },
    );
    req.on("error", reject);
  });
  assert.is(anonymous.status, 403);
  assert.match(anonymous.body, /A trusted client certificate is required/);
});

test("kill -9 of a member: the others count it UNREACHABLE and dead in their gossip table", async ({ m }) => {
  const [m1, , m3] = m;
  await kill(m3);
  const text = await eventually(
    "m3 UNREACHABLE in m1's metrics",
    async () => {
      const t = await scrape(m1);
      return value(t, "cohort_members", { status: "UNREACHABLE" }) === 1 ? t : undefined;
    },
    30_000,
    250,
  );
  assert.is(value(text, "cohort_members", { status: "ONLINE" }), 2);
  assert.is(value(text, "cohort_member_info", { member: "m3", status: "UNREACHABLE" }), 1);
  assert.is(value(text, "cohort_gossip_members", { state: "dead" }), 1);
  assert.is(value(text, "cohort_gossip_members", { state: "alive" }), 2);
});

test("a rolling upgrade: the first member restarted ahead waits, and once every member runs the target each waiting member counts its wait", async ({ m }) => {
  const [m1, m2, m3] = m;
  await startWith(m3, { extensions: NEW });
  let text = await eventually("m3 waiting", async () => {
    const t = await scrape(m3);
    return value(t, "cohort_member_phase", { phase: "waiting" }) === 1 ? t : undefined;
  });
  assert.is(value(text, "cohort_upgrade_members", { state: "pending" }), 2);
  assert.is(value(text, "cohort_upgrade_complete"), 0);
  assert.is(value(text, "cohort_members", { status: "NEEDS UPGRADE" }), 2);
  for (const member of [m1, m2]) {
    await stop(member);
    await startWith(member, {
      extensions: NEW,
      flags: member === m1 ? ["--metrics-address", "127.0.0.1:0"] : [],
    });
  }
  for (const member of m) {
    text = await eventually(`${member.name} complete`, async () => {
      const t = await scrape(member);
      // The completion is timed once the member's status settled (a few ms after the view).
      const timed = member === m2 || value(t, "cohort_upgrade_duration_seconds_count") === 1;
      return value(t, "cohort_upgrade_complete") === 1 &&
          value(t, "cohort_member_phase", { phase: "online" }) === 1 && timed
        ? t
        : undefined;
    });
    assert.is(value(text, "cohort_members", { status: "ONLINE" }), 3, member.name);
    assert.is(
      value(text, "cohort_member_info", { extensions: String(FULL_EXTENSIONS.length + 1) }),
      3,
      member.name,
    );
    // m3 and m1 restarted ahead of someone and waited; m2 came last and opened at once.
    assert.is(
      value(text, "cohort_upgrade_wait_seconds_count"),
      member === m2 ? 0 : 1,
      member.name,
    );
    // Both watched the upgrade from its first sight (m3) or their restart (m1) to its end.
    if (member !== m2) {
      assert.is(value(text, "cohort_upgrade_duration_seconds_count"), 1, member.name);
    }
  }
  assert.ok(value(await scrape(m3), "cohort_upgrade_wait_seconds_sum")! > 0);
});

test.run();
