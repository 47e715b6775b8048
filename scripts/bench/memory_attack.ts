/**
 * Benchmark: the memory-exhaustion attack of issue 12 replayed against a real cohort daemon.
 * `--connections` TLS connections (default 1 500) without a client certificate each send
 * `POST /core/1.0/ready` with `Content-Length: 1048576` and then write the body as fast as the
 * daemon reads it, holding back its last byte. Meanwhile another client (from another loopback address: another peer)
 * asks `GET /core/1.0` every 100 ms on a fresh connection (curl, in its own process). The daemon's peak RSS (the kernel's
 * high-water mark, `VmHWM`) and the latency of those requests are reported, with the machine's
 * load (targets: peak RSS < 150 MB, every `GET /core/1.0` answered in < 1 s).
 *
 * Usage: `npm run build && tsx scripts/bench/memory_attack.ts [--connections 1500]
 *         [--hold 20] [--spread 1] [--route /core/1.0/ready]`
 * - `--hold`: seconds the attack lasts once every connection is open;
 * - `--spread N`: attacking connections come from N loopback addresses (127.0.1.x), to load the
 *   per-listener limits rather than the per-address ones;
 * - `--route`: the path attacked (`/core/internal/cluster` reads bodies from anyone);
 * - `--port P --pid PID`: attack a listener already running on 127.0.0.1:P in process PID (e.g.
 *   one instrumented to print its own figures) instead of starting a daemon.
 * The daemon runs with the runtime that runs this script (node → `node dist/mod.js`,
 * deno → `deno run -A mod.ts`).
 */
import { execFile } from "node:child_process";
import { readFileSync } from "node:fs";
import { connect as tcpConnect } from "node:net";
import { loadavg } from "node:os";
import { connect, type TLSSocket } from "node:tls";
import { parseArgs } from "node:util";
import {
  cohort,
  freePort,
  removeDir,
  startDaemonProcess,
  tempDir,
} from "../../tests/helpers/process.ts";

const { values } = parseArgs({
  options: {
    connections: { type: "string", default: "1500" },
    hold: { type: "string", default: "20" },
    spread: { type: "string", default: "1" },
    route: { type: "string", default: "/core/1.0/ready" },
    port: { type: "string" },
    pid: { type: "string" },
  },
});
const CONNECTIONS = Number(values.connections);
const HOLD_S = Number(values.hold);
const SPREAD = Math.max(1, Math.min(250, Number(values.spread)));
const ROUTE = values.route!;
const DECLARED = 1_048_576;

/** Resident and peak resident memory of `pid`, in MB. */
function memory(pid: number): { rss: number; hwm: number } {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const kb = (name: string) => Number(status.match(new RegExp(`${name}:\\s+(\\d+)`))?.[1] ?? 0);
  return { rss: kb("VmRSS") / 1024, hwm: kb("VmHWM") / 1024 };
}

/** A TLS connection to the daemon from a given loopback address, without a certificate. */
function tlsFrom(port: number, from: string): TLSSocket {
  const tcp = tcpConnect({ host: "127.0.0.1", port, localAddress: from });
  tcp.on("error", () => {});
  return connect({ socket: tcp, rejectUnauthorized: false });
}

/** What happened to one attacking connection. */
type Outcome = "open" | `HTTP ${string}` | "closed" | "error" | "refused";

/** The first answer seen with each status, to tell unexpected ones apart. */
const sampleAnswers = new Map<string, string>();
/** Attacking connections whose TLS handshake completed (the others were closed before it). */
let handshakes = 0;

/** One attacking connection: headers, then the body in slow chunks, never its last byte. */
function attack(port: number, from: string, outcomes: Outcome[], i: number): TLSSocket {
  const chunk = Buffer.alloc(16 * 1024, 0x61);
  let sent = 0;
  let answer = "";
  outcomes[i] = "open";
  const socket = tlsFrom(port, from);
  const pump = () => {
    // As fast as the daemon reads, one shared chunk at a time (the attacker stays small).
    while (!socket.destroyed && sent < DECLARED - 1) {
      const n = Math.min(chunk.length, DECLARED - 1 - sent);
      sent += n;
      if (!socket.write(n === chunk.length ? chunk : chunk.subarray(0, n))) {
        return void socket.once("drain", pump);
      }
    }
  };
  socket.once("secureConnect", () => {
    handshakes++;
    socket.write(
      `POST ${ROUTE} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\n` +
        `Content-Type: application/json\r\nContent-Length: ${DECLARED}\r\n\r\n`,
    );
    pump();
  });
  socket.on("data", (d) => {
    answer += d;
    const status = answer.match(/^HTTP\/1\.1 (\d{3})/)?.[1];
    if (status) outcomes[i] = `HTTP ${status}`;
    if (status && !sampleAnswers.has(status) && answer.includes("\r\n\r\n")) {
      sampleAnswers.set(status, answer.slice(answer.indexOf("\r\n\r\n") + 4, 300));
    }
  });
  socket.on("error", (err: Error & { code?: string }) => {
    if (outcomes[i] === "open") outcomes[i] = err.code === "ECONNREFUSED" ? "refused" : "error";
  });
  socket.on("close", () => {
    if (outcomes[i] === "open") outcomes[i] = "closed";
  });
  return socket;
}

/**
 * `GET /core/1.0` on a fresh connection from another peer address; its latency in ms, as curl
 * measures it (connect, TLS handshake, answer). The probe runs in its own process: timed from
 * this one, it would also count this event loop's own work for 1 500 attacking sockets.
 */
function probe(port: number): Promise<number | undefined> {
  return new Promise((done) => {
    execFile(
      "curl",
      [
        "--insecure",
        "--silent",
        "--max-time",
        "10",
        "--interface",
        "127.0.0.2",
        "--output",
        "/dev/null",
        "--write-out",
        "%{http_code} %{time_total}",
        `https://127.0.0.1:${port}/core/1.0`,
      ],
      (_err, stdout) => {
        const [code, seconds] = String(stdout).trim().split(" ");
        done(code === "200" ? Number(seconds) * 1000 : undefined);
      },
    );
  });
}

/** A daemon of our own, bootstrapped on a free port; absent with `--port`. */
async function startDaemon() {
  const dir = tempDir("cohort-attack-");
  const port = await freePort();
  const daemon = startDaemonProcess(["--state-dir", dir], undefined, { COHORT_LOG_LEVEL: "warn" });
  const stop = async () => {
    daemon.child.kill("SIGTERM");
    await daemon.exited;
    removeDir(dir);
  };
  try {
    await cohort(["waitready", "--timeout", "30", "--state-dir", dir]);
    const init = await cohort([
      "init",
      "bench",
      `127.0.0.1:${port}`,
      "--bootstrap",
      "--state-dir",
      dir,
    ]);
    if (init.code !== 0) throw new Error(`bootstrap failed: ${init.stderr}`);
  } catch (err) {
    await stop();
    throw err;
  }
  return { port, pid: daemon.child.pid!, stop };
}

const target = values.port
  ? { port: Number(values.port), pid: Number(values.pid), stop: () => Promise.resolve() }
  : await startDaemon();
const { port, pid } = target;
const sockets: TLSSocket[] = [];
try {
  await new Promise((r) => setTimeout(r, 1000));
  const before = memory(pid);

  /** Latencies while the attack connects, and while it holds its connections. */
  const latencies = { opening: [] as number[], holding: [] as number[] };
  let phase: keyof typeof latencies = "opening";
  let unanswered = 0;
  let probing = true;
  const prober = (async () => {
    while (probing) {
      const during = phase;
      const ms = await probe(port);
      if (ms === undefined) unanswered++;
      else latencies[during].push(ms);
      await new Promise((r) => setTimeout(r, 100));
    }
  })();

  const outcomes: Outcome[] = [];
  const opened = performance.now();
  for (let i = 0; i < CONNECTIONS; i++) {
    sockets.push(attack(port, `127.0.1.${1 + (i % SPREAD)}`, outcomes, i));
    // Open in bursts of 50 so the attacker's own handshakes do not starve the probe's.
    if (i % 50 === 49) await new Promise((r) => setTimeout(r, 10));
  }
  const openMs = performance.now() - opened;
  phase = "holding";
  let peakRss = before.rss;
  const end = Date.now() + HOLD_S * 1000;
  while (Date.now() < end) {
    peakRss = Math.max(peakRss, memory(pid).rss);
    await new Promise((r) => setTimeout(r, 200));
  }
  const after = memory(pid);
  probing = false;
  await prober;
  const load = loadavg().map((n) => n.toFixed(2)).join(", ");

  const counts = new Map<string, number>();
  for (const o of outcomes) counts.set(o, (counts.get(o) ?? 0) + 1);
  const summary = (xs: number[]) => {
    const sorted = [...xs].sort((a, b) => a - b);
    const pct = (p: number) =>
      sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]?.toFixed(0);
    return `${pct(0.5)} / ${pct(0.95)} / ${
      sorted.at(-1)?.toFixed(0)
    } ms (${sorted.length} answered)`;
  };
  const isDeno = "Deno" in globalThis;
  console.log(
    `\nMemory attack: ${CONNECTIONS} TLS connections without a client certificate from ${SPREAD} address(es), ` +
      `POST ${ROUTE} declaring ${DECLARED} bytes, held ${HOLD_S} s (daemon on ${
        isDeno ? "deno" : "node"
      }; opened in ${(openMs / 1000).toFixed(1)} s)`,
  );
  console.log("| figure | value |");
  console.log("|---|---|");
  console.log(`| daemon RSS before | ${before.rss.toFixed(0)} MB |`);
  console.log(`| daemon peak RSS (VmHWM) | ${after.hwm.toFixed(0)} MB |`);
  console.log(`| daemon RSS at the end | ${after.rss.toFixed(0)} MB |`);
  console.log(
    `| GET /core/1.0 p50 / p95 / max, while connecting | ${summary(latencies.opening)} |`,
  );
  console.log(`| GET /core/1.0 p50 / p95 / max, while holding | ${summary(latencies.holding)} |`);
  console.log(`| GET /core/1.0 unanswered (10 s) | ${unanswered} |`);
  console.log(
    `| attacking connections | ${[...counts].sort().map(([k, v]) => `${k}: ${v}`).join(", ")} |`,
  );
  console.log(`| attacking connections through the TLS handshake | ${handshakes} |`);
  console.log(`| load average (1, 5, 15 min) | ${load} |`);
  for (const [status, body] of [...sampleAnswers].sort()) {
    console.log(`answer ${status}: ${body.replace(/\s+/g, " ")}`);
  }
} finally {
  for (const s of sockets) s.destroy();
  await target.stop();
}
