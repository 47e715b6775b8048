/**
 * Benchmark: what serving metrics and the event stream costs an idle member, in CPU and memory.
 * Five members of one loopback cluster (the `lan` gossip preset, as in production) run side by
 * side, so they share the machine's noise:
 * - two `bare` members: metrics off (`createMember({ metrics: false })`), nobody watching (the
 *   difference between the two is the noise floor of the figures);
 * - two `served` members: metrics on, scraped every 15 s over the plain-HTTP listener, and one
 *   client on the event stream (as `cohort ui` holds one) for the whole run;
 * - one `unwatched` member: metrics on (the default), never scraped, no stream.
 * After a warm-up, each process's CPU time and resident memory are sampled from /proc every
 * second. Target (issue 14): `served` costs under 0.2 % of a core and under 5 MB more than
 * `bare`. Print `uptime` with the result: a loaded machine blurs the figures.
 *
 * Usage: `npm run build && tsx scripts/bench/operator_idle.ts [--seconds 60] [--warmup 20]`
 */
import { execFileSync, spawn } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { request } from "node:http";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import process from "node:process";
import { setTimeout as sleep } from "node:timers/promises";
import { parseArgs } from "node:util";
import { freePort, removeDir, waitForSocket } from "../../tests/helpers/process.ts";
import { issueToken, type Member, run } from "../../tests/helpers/cluster.ts";

const { values } = parseArgs({
  options: {
    seconds: { type: "string", default: "60" },
    warmup: { type: "string", default: "20" },
  },
});
const SECONDS = Number(values.seconds);
const WARMUP = Number(values.warmup);
const SCRAPE_MS = 15_000;
const root = resolve(import.meta.dirname ?? ".", "../..");
const dist = join(root, "dist/mod.js");

// A member as `cohort daemon` runs it (same V8 flag), with metrics on or off.
const work = mkdtempSync(join(tmpdir(), "cohort-bench-idle-"));
const runner = join(work, "member.mjs");
writeFileSync(
  runner,
  `import v8 from "node:v8";
v8.setFlagsFromString("--semi-space-growth-factor=1");
const { createMember } = await import(${JSON.stringify(dist)});
const [stateDir, metrics, metricsAddress] = process.argv.slice(2);
const member = await createMember({
  stateDir,
  extensions: ["feature_a", "feature_b"],
  gossipPreset: "lan",
  metrics: metrics === "on",
  metricsAddress: metricsAddress || undefined,
});
process.on("SIGTERM", () => void member.stop());
await member.closed;
process.exit(0);
`,
);

interface Bench extends Member {
  stream?: { events: number; close(): void };
  config: "bare" | "served" | "unwatched";
  pid: number;
  logs: string;
}

async function start(name: string, config: Bench["config"]): Promise<Bench> {
  const port = await freePort();
  const dir = mkdtempSync(join(work, `${name}-`));
  const args = [runner, dir, config === "bare" ? "off" : "on"];
  if (config === "served") args.push("127.0.0.1:0");
  const child = spawn(process.execPath, args, { stdio: ["ignore", "ignore", "pipe"] });
  const m: Bench = {
    name,
    dir,
    port,
    address: `127.0.0.1:${port}`,
    config,
    pid: child.pid!,
    logs: "",
  };
  child.stderr!.on("data", (d) => (m.logs += d));
  await waitForSocket(dir);
  return m;
}

const HZ = Number(execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).trim()) || 100;

/** utime + stime of `pid`, in seconds; VmRSS in bytes. */
function sample(pid: number): { cpu: number; rss: number } {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  const ticks = Number(fields[11]) + Number(fields[12]); // utime, stime
  const rss = Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))![1]);
  return { cpu: ticks / HZ, rss: rss * 1024 };
}

/** Holds the member's event stream open for the whole run, counting what arrives. */
function watchEvents(m: Member): { events: number; close(): void } {
  const state = { events: 0, close: () => {} };
  const req = request({
    socketPath: join(m.dir, "control.socket"),
    path: "/core/control/events",
    agent: false,
  }, (res) => {
    res.on("data", (chunk: Buffer) => {
      state.events += chunk.toString().split("event: snapshot").length - 1;
    });
  });
  req.on("error", () => {});
  req.end();
  state.close = () => req.destroy();
  return state;
}

const load = () => execFileSync("uptime", { encoding: "utf8" }).trim();
const list: Bench[] = [];
try {
  console.log(`machine: ${load()}`);
  const configs: [string, Bench["config"]][] = [
    ["bare1", "bare"],
    ["served1", "served"],
    ["unwatched", "unwatched"],
    ["bare2", "bare"],
    ["served2", "served"],
  ];
  for (const [name, config] of configs) list.push(await start(name, config));
  const [seed, ...others] = list;
  const init = await run(seed, ["init", seed.name, seed.address, "--bootstrap"]);
  if (init.code !== 0) throw new Error(`bootstrap: ${init.stderr}`);
  for (const m of others) {
    const token = await issueToken(seed, m.name);
    const r = await run(m, ["init", m.name, m.address, "--token", token]);
    if (r.code !== 0) throw new Error(`join ${m.name}: ${r.stderr}`);
  }
  const served = list.filter((m) => m.config === "served");
  const addresses = served.map((m) => {
    const found = /"msg":"Serving metrics over plain HTTP","address":"([^"]+)"/.exec(m.logs)?.[1];
    if (!found) throw new Error(`no metrics listener on ${m.name}:\n${m.logs}`);
    return found;
  });
  for (const m of served) m.stream = watchEvents(m);
  let scrapes = 0;
  const scrape = async () => {
    for (const address of addresses) {
      const res = await fetch(`http://${address}/metrics`);
      await res.text();
      scrapes++;
    }
  };
  await scrape();
  const scraper = setInterval(() => void scrape(), SCRAPE_MS);
  console.log(`warm-up ${WARMUP} s, then ${SECONDS} s of samples…`);
  await sleep(WARMUP * 1000);
  const first = list.map((m) => sample(m.pid));
  const rss: number[][] = list.map(() => []);
  for (let s = 0; s < SECONDS; s++) {
    await sleep(1000);
    list.forEach((m, i) => rss[i].push(sample(m.pid).rss));
  }
  const last = list.map((m) => sample(m.pid));
  clearInterval(scraper);
  for (const m of served) m.stream!.close();
  const mb = (b: number) => b / 1024 / 1024;
  const rows = list.map((m, i) => ({
    member: m.name,
    cpuPct: ((last[i].cpu - first[i].cpu) / SECONDS) * 100,
    rssMb: mb(rss[i].reduce((a, b) => a + b, 0) / rss[i].length),
  }));
  console.log("\nmember      CPU % of a core   RSS mean (MB)");
  for (const r of rows) {
    console.log(
      `${r.member.padEnd(11)} ${r.cpuPct.toFixed(3).padStart(15)}   ${
        r.rssMb.toFixed(1).padStart(13)
      }`,
    );
  }
  const mean = (config: Bench["config"]) => {
    const of = rows.filter((_, i) => list[i].config === config);
    return {
      cpuPct: of.reduce((s, r) => s + r.cpuPct, 0) / of.length,
      rssMb: of.reduce((s, r) => s + r.rssMb, 0) / of.length,
    };
  };
  const [b, sv, un] = [mean("bare"), mean("served"), mean("unwatched")];
  const bares = rows.filter((_, i) => list[i].config === "bare");
  const line = (label: string, x: { cpuPct: number; rssMb: number }, y: typeof x) =>
    `${label.padEnd(18)} ${(x.cpuPct - y.cpuPct).toFixed(3).padStart(7)} % CPU  ` +
    `${(x.rssMb - y.rssMb).toFixed(1).padStart(5)} MB`;
  console.log("");
  console.log(`${line("served − bare:", sv, b)}   (target < 0.2 %, < 5 MB)`);
  console.log(line("unwatched − bare:", un, b));
  console.log(`${line("bare1 − bare2:", bares[0], bares[1])}   (noise)`);
  const snapshots = served.reduce((s, m) => s + m.stream!.events, 0);
  console.log(`scrapes: ${scrapes}, stream snapshots received: ${snapshots}`);
  console.log(`machine: ${load()}`);
} finally {
  for (const m of list) {
    try {
      process.kill(m.pid, "SIGTERM");
    } catch { /* gone */ }
  }
  await sleep(1500);
  for (const m of list) {
    try {
      process.kill(m.pid, "SIGKILL");
    } catch { /* stopped */ }
  }
  removeDir(work);
}
