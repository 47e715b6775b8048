/**
 * Benchmark: the CPU one `GET /core/1.0/cluster` costs the member that answers it (issue 15,
 * "status at scale"), on its control socket, beside the floor: a bare `node:http` server on a
 * unix socket answering the same bytes. Each figure is the answering process's CPU (its threads'
 * run time, /proc/PID/task/TID/schedstat) over `--requests` sequential requests, its idle CPU
 * over the same time subtracted, per request, in two client shapes:
 *
 * - `fresh`: one connection per request (`connection: close`), as the CLI and `scale.ts` ask;
 * - `keep-alive`: one connection for all, to tell the connection's cost from the request's.
 *
 * One real cluster of `--members` (default 3, up to 100) is formed; member i runs the i-th build
 * under test (`--dist`, a comma-separated list of built trees: an A/B run keeps a copy of each
 * build), the members past them the first build. The members measured thus hold the same view
 * of N members and meet the same gossip beside them; runs alternate between the targets round
 * by round so drift hits all alike.
 *
 * `--paired`: the builds under test alone (two or more in `--dist`), one request to each in
 * turn, `--requests` times per shape; each request's figure is the member's CPU from its
 * request's start to its next one's (what a fresh connection's close costs after the answer
 * counts). Reported: each build's median and quartiles, and the median of the differences of
 * the requests taken side by side against the first build. On a loaded machine the rounds'
 * totals swing more than the builds differ; side by side, both builds meet the same load.
 *
 * `--profile DIR`: after the measured rounds, the member running the first build and the bare
 * server are profiled over one run of each shape (`list_profile.ts`).
 *
 * Usage: `npm run build && node --import tsx scripts/bench/cluster_list.ts [--members 3]
 *   [--requests 2000] [--rounds 3] [--runtime node|deno] [--dist dist[,DIR…]] [--paired] [--profile DIR]
 *   [--warmup 1000]`
 * (`--runtime`: what runs the members and the bare server; the client is this process).
 *
 * @module
 */
import type { ChildProcess } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { Agent } from "node:http";
import { join, resolve } from "node:path";
import process from "node:process";
import { parseArgs } from "node:util";
import { requestJson } from "../../lib/net/client.ts";
import { freePort, removeDir, spawnTracked, tempDir } from "../../tests/helpers/process.ts";
import { threadRunMs } from "./run_time.ts";
import { profileList } from "./list_profile.ts";

const root = resolve(import.meta.dirname ?? ".", "../..");
const { values: opts } = parseArgs({
  options: {
    members: { type: "string", default: "3" },
    requests: { type: "string", default: "2000" },
    rounds: { type: "string", default: "3" },
    runtime: { type: "string", default: "node" },
    dist: { type: "string", default: "dist" },
    profile: { type: "string" },
    paired: { type: "boolean", default: false },
    warmup: { type: "string", default: "1000" },
  },
});
const MEMBERS = Math.max(1, Math.min(100, Number(opts.members) || 3));
const REQUESTS = Math.max(100, Math.min(20_000, Number(opts.requests) || 2000));
const ROUNDS = Math.max(1, Math.min(15, Number(opts.rounds) || 3));
const RUNTIME = opts.runtime === "deno" ? "deno" : "node";
const DISTS = opts.dist.split(",").map((d) => resolve(d));
const DENO = join(root, "node_modules", ".bin", "deno");
const PROFILE_DIR = opts.profile ? resolve(opts.profile) : undefined;
const WARMUP = Math.max(0, Math.min(20_000, Number(opts.warmup) || 0));

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const note = (s: string) => console.error(`[cluster_list] ${s}`);
const load = () => readFileSync("/proc/loadavg", "utf8").split(" ").slice(0, 3).join(" ");

/** A process answering on a unix socket. */
interface Target {
  label: string;
  child: ChildProcess;
  socket: string;
  stderr: () => string;
}

/** `node FILE args` or `deno run -A FILE args`, inspectable when `inspect` (a port). */
function start(file: string, args: string[], inspect?: number): Target["child"] {
  const flag = inspect ? [`--inspect=127.0.0.1:${inspect}`] : [];
  const [command, prefix] = RUNTIME === "deno"
    ? [DENO, ["run", "-A", ...flag, file]]
    : [process.execPath, [...flag, file]];
  const child = spawnTracked(command, [...prefix, ...args], {
    stdio: ["ignore", "ignore", "pipe"],
    env: { ...process.env, NO_COLOR: "1", COHORT_LOG_LEVEL: "info" },
  });
  started.push(child);
  return child;
}

/** Every member and server started here, stopped at the end. */
const started: ChildProcess[] = [];

function collect(child: ChildProcess): () => string {
  let text = "";
  child.stderr!.on("data", (d) => (text = (text + d).slice(-200_000)));
  return () => text;
}

async function answers(socket: string, path = "/core/1.0"): Promise<void> {
  for (let k = 0; k < 1200; k++) {
    try {
      await requestJson({ method: "GET", path, socketPath: socket, timeoutMs: 2000 });
      return;
    } catch {
      await sleep(50);
    }
  }
  throw new Error(`nothing answers on ${socket}`);
}

/**
 * Forms one cluster of {@link MEMBERS}, member i from `DISTS[i]` (the first build past them);
 * returns the members that run the builds under test, in `DISTS`' order.
 */
async function cluster(scratch: string, inspect: number): Promise<Target[]> {
  const dist = (i: number) => DISTS[i] ?? DISTS[0];
  const dirs = Array.from({ length: MEMBERS }, (_, i) => join(scratch, `m${i}`));
  const ports: number[] = [];
  for (let i = 0; i < MEMBERS; i++) ports.push(await freePort());
  const cli = async (args: string[], input = "") => {
    const child = spawnTracked(process.execPath, [join(DISTS[0], "cli.cjs"), ...args], {
      stdio: ["pipe", "pipe", "pipe"],
      env: { ...process.env, NO_COLOR: "1" },
    });
    let out = "";
    let err = "";
    child.stdout!.on("data", (d) => (out += d));
    child.stderr!.on("data", (d) => (err += d));
    child.stdin!.end(input);
    const code = await new Promise<number>((ok) => child.on("close", (c) => ok(c ?? -1)));
    if (code !== 0) throw new Error(`cohort ${args.join(" ")}: ${err}`);
    return out.trim();
  };
  const members: Omit<Target, "label">[] = [];
  // Five at a time: fifty runtimes starting at once on two cores outlast any timeout.
  for (let i = 0; i < MEMBERS; i += 5) {
    const batch = dirs.slice(i, i + 5).map((dir, k) => {
      const child = start(join(dist(i + k), "mod.js"), [
        "daemon",
        "--state-dir",
        dir,
        "--gossip-preset",
        "lan",
        "--extensions",
        "feature_a",
      ], i + k === 0 ? inspect : undefined);
      return { child, stderr: collect(child), socket: join(dir, "control.socket") };
    });
    for (const m of batch) await answers(m.socket);
    members.push(...batch);
  }
  // A port free a moment ago may be taken by another process meanwhile: the init is refused
  // before the token is spent, and tried again at another port.
  const init = async (i: number, args: string[], input = "") => {
    for (let attempt = 1;; attempt++) {
      try {
        return await cli(["init", `m${i}`, `127.0.0.1:${ports[i]}`, ...args], input);
      } catch (err) {
        if (attempt >= 5 || !/EADDRINUSE/.test(String(err))) throw err;
        ports[i] = await freePort();
      }
    }
  };
  await init(0, ["--bootstrap", "--state-dir", dirs[0]]);
  for (let i = 1; i < MEMBERS; i++) {
    const token = await cli(["tokens", "add", `m${i}`, "--state-dir", dirs[0]]);
    await init(i, ["--token", "-", "--state-dir", dirs[i]], token);
  }
  return DISTS.map((d, i) => ({
    label: `cohort ${d.replace(root + "/", "")} (m${i})`,
    ...members[i],
  }));
}

const BARE = `
import { createServer } from "node:http";
import { readFileSync } from "node:fs";
const [socket, file] = process.argv.slice(-2);
const body = readFileSync(file);
createServer((req, res) => {
  req.resume();
  res.writeHead(200, { "content-type": "application/json", "content-length": body.length });
  res.end(body);
}).listen(socket, () => console.error("ready"));
`;

/**
 * cohort's serving layer alone (`lib/net`: admission, limits, the adapter, the `Request` and the
 * answer) around a handler that answers the same bytes at once: what the layer adds to the
 * floor, apart from the routes and the daemon behind them.
 */
const NET_ONLY = `
import { readFileSync } from "node:fs";
const [dist, socket, file] = process.argv.slice(-3);
const { serveUnix } = await import(dist + "/lib/net/serve.js");
const { jsonResponse } = await import(dist + "/lib/net/json_response.js");
const body = readFileSync(file, "utf8");
await serveUnix({ path: socket, handler: () => Promise.resolve(jsonResponse(body, 200)) });
console.error("ready");
`;

/** The answering process's CPU per request (ms), its idle rate over 2 s subtracted. */
async function measure(t: Target, keepAlive: boolean, requests = REQUESTS): Promise<number> {
  const pid = t.child.pid!;
  const i0 = threadRunMs(pid);
  const w0 = performance.now();
  await sleep(2000);
  const idleRate = (threadRunMs(pid) - i0) / (performance.now() - w0);
  const agent = keepAlive ? new Agent({ keepAlive: true, maxSockets: 1 }) : undefined;
  const c0 = threadRunMs(pid);
  const t0 = performance.now();
  for (let i = 0; i < requests; i++) await listOnce(t, agent);
  const took = performance.now() - t0;
  agent?.destroy();
  return Math.max(0, threadRunMs(pid) - c0 - idleRate * took) / requests;
}

/** One `GET /core/1.0/cluster` to `t` (on `agent`'s connection when given); throws unless 200. */
async function listOnce(t: Target, agent: Agent | undefined): Promise<void> {
  const r = await requestJson({
    method: "GET",
    path: "/core/1.0/cluster",
    socketPath: t.socket,
    ...(agent ? { agent } : {}),
  });
  if (r.status !== 200) throw new Error(`${t.label}: GET /core/1.0/cluster: ${r.status}`);
}

/**
 * `--warmup` requests of each shape to each target before anything is measured: the first few
 * hundred answers of a process run its request path cold (interpreted, then compiled on V8's
 * background threads, whose CPU counts too), about twice a warm answer's cost.
 */
async function warm(all: Target[]): Promise<void> {
  if (!WARMUP) return;
  for (const t of all) {
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    for (let i = 0; i < WARMUP; i++) await listOnce(t, i % 2 ? agent : undefined);
    agent.destroy();
  }
  note(`warmed up: ${WARMUP} requests to each target (load ${load()})`);
}

/**
 * `--paired`: one request to each of `builds` in turn, `REQUESTS` times; each sample is the
 * member's CPU (ms) from the start of its request to the start of its next one.
 */
async function paired(builds: Target[], keepAlive: boolean): Promise<number[][]> {
  const agents = builds.map(() =>
    keepAlive ? new Agent({ keepAlive: true, maxSockets: 1 }) : undefined
  );
  const samples: number[][] = builds.map(() => []);
  const last = builds.map((t) => threadRunMs(t.child.pid!));
  for (let i = 0; i <= REQUESTS; i++) {
    for (const [j, t] of builds.entries()) {
      const now = threadRunMs(t.child.pid!);
      if (i > 0) samples[j].push(now - last[j]);
      last[j] = now;
      if (i === REQUESTS) continue;
      await listOnce(t, agents[j]);
    }
  }
  for (const a of agents) a?.destroy();
  return samples;
}

/** The `p` quantile of `v` (nearest rank). */
function quantile(v: number[], p: number): number {
  const s = [...v].sort((a, b) => a - b);
  return s[Math.floor(p * (s.length - 1))];
}

const scratch = tempDir("cohort-list-");
const targets: Target[] = [];
try {
  if (DISTS.length > MEMBERS) throw new Error(`--members ${MEMBERS}: fewer than the builds`);
  const port = PROFILE_DIR ? await freePort() : 0;
  const f0 = performance.now();
  note(`forming ${MEMBERS} members from ${DISTS.join(", ")} (${RUNTIME}; load ${load()})`);
  targets.push(...await cluster(scratch, port));
  note(`formed in ${((performance.now() - f0) / 1000).toFixed(0)} s (load ${load()})`);
  if (opts.paired) {
    await sleep(3000); // the joins' last gossip settles
    await warm(targets);
    console.log(
      `\nGET /core/1.0/cluster on the control socket, CPU of the member answering (ms per ` +
        `request), ${REQUESTS} requests to each build in turn, ${MEMBERS} members, ${RUNTIME}\n`,
    );
    console.log(
      "| build | connection | median ms | p25–p75 | median of (first − this), side by side |",
    );
    console.log("|---|---|---|---|---|");
    for (const keepAlive of [false, true]) {
      const l0 = load();
      const samples = await paired(targets, keepAlive);
      for (const [j, t] of targets.entries()) {
        const v = samples[j];
        const diff = j === 0 ? "–" : quantile(v.map((x, k) => samples[0][k] - x), 0.5).toFixed(4);
        console.log(
          `| ${t.label} | ${keepAlive ? "keep-alive" : "fresh"} | ${
            quantile(v, 0.5).toFixed(3)
          } | ` +
            `${quantile(v, 0.25).toFixed(3)}–${quantile(v, 0.75).toFixed(3)} | ${diff} |`,
        );
      }
      note(`${keepAlive ? "keep-alive" : "fresh"} done (load ${l0} → ${load()})`);
    }
    await stopAll();
    process.exit(0);
  }
  // The floor answers exactly what cohort answers.
  const sample = await requestJson({
    method: "GET",
    path: "/core/1.0/cluster",
    socketPath: targets[0].socket,
  });
  writeFileSync(join(scratch, "answer.json"), JSON.stringify(sample.body));
  writeFileSync(join(scratch, "bare.mjs"), BARE);
  const barePort = PROFILE_DIR ? await freePort() : 0;
  const bareSocket = join(scratch, "bare.socket");
  const bare = start(
    join(scratch, "bare.mjs"),
    [bareSocket, join(scratch, "answer.json")],
    barePort || undefined,
  );
  const bareTarget = {
    label: `bare ${RUNTIME}:http`,
    child: bare,
    socket: bareSocket,
    stderr: collect(bare),
  };
  await answers(bareSocket);
  writeFileSync(join(scratch, "net_only.mjs"), NET_ONLY);
  const netSocket = join(scratch, "net.socket");
  const net = start(join(scratch, "net_only.mjs"), [
    DISTS[0],
    netSocket,
    join(scratch, "answer.json"),
  ]);
  const netTarget = { label: `lib/net only`, child: net, socket: netSocket, stderr: collect(net) };
  await answers(netSocket);
  targets.unshift(bareTarget, netTarget);
  await sleep(3000); // the joins' last gossip settles
  await warm(targets);

  const figures = new Map<string, number[]>();
  const loads: string[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    for (const keepAlive of [false, true]) {
      for (const t of r % 2 ? [...targets].reverse() : targets) {
        const key = `${t.label} | ${keepAlive ? "keep-alive" : "fresh"}`;
        figures.set(key, [...(figures.get(key) ?? []), await measure(t, keepAlive)]);
      }
    }
    loads.push(load());
    note(`round ${r + 1}/${ROUNDS} done (load ${loads.at(-1)})`);
  }
  const median = (v: number[]) => [...v].sort((a, b) => a - b)[Math.floor((v.length - 1) / 2)];
  console.log(
    `\nGET /core/1.0/cluster on the control socket, CPU of the process answering (ms per ` +
      `request, idle subtracted), ${REQUESTS} sequential requests x ${ROUNDS} rounds, ` +
      `${MEMBERS} members, ${RUNTIME}; load per round: ${loads.join(" / ")}\n`,
  );
  console.log("| target | connection | median ms | min–max |");
  console.log("|---|---|---|---|");
  for (const [key, v] of figures) {
    console.log(
      `| ${key} | ${median(v).toFixed(3)} | ${Math.min(...v).toFixed(3)}–${
        Math.max(...v).toFixed(3)
      } |`,
    );
  }

  if (PROFILE_DIR) {
    const options = { dir: PROFILE_DIR, runtime: RUNTIME, requests: REQUESTS };
    for (const t of [targets[2], bareTarget]) await profileList(t, measure, options);
  }
} finally {
  await stopAll();
}

/** Stops every member and server started here and removes the scratch directory. */
async function stopAll(): Promise<void> {
  for (const child of started) child.kill("SIGTERM");
  await Promise.all(
    started.map((child) =>
      child.exitCode === null && child.signalCode === null
        ? new Promise((ok) => child.once("close", ok))
        : undefined
    ),
  );
  removeDir(scratch);
}
