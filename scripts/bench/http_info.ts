/**
 * Benchmark: requests per second of `GET /core/1.0` over HTTPS from a real cohort daemon,
 * against a bare `node:https` server answering the same JSON with the same certificate, on the
 * same machine. Runs alternate (bare, cohort, bare, cohort, …) so drift hits both alike, and the
 * table reports the median of each and their ratio (target: cohort ÷ bare ≥ 0.8).
 *
 * Usage: `npm run build && tsx scripts/bench/http_info.ts [--seconds 5] [--rounds 3]
 *         [--concurrency 16] [--runtime node|deno]` (the load generator runs under Node or Deno,
 * whichever runs this script; servers run under --runtime, default: the same).
 */
import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { Agent, request } from "node:https";
import { join, resolve } from "node:path";
import process from "node:process";
import { parseArgs } from "node:util";
import { fingerprint } from "../../lib/net/certificates.ts";
import { pinnedTlsOptions } from "../../lib/net/pin.ts";
import {
  cohort,
  freePort,
  removeDir,
  startDaemonProcess,
  tempDir,
} from "../../tests/helpers/process.ts";

const { values } = parseArgs({
  options: {
    seconds: { type: "string", default: "5" },
    rounds: { type: "string", default: "3" },
    concurrency: { type: "string", default: "16" },
  },
});
const SECONDS = Number(values.seconds);
const ROUNDS = Number(values.rounds);
const CONCURRENCY = Number(values.concurrency);
const root = resolve(import.meta.dirname ?? ".", "../..");

/** Fires requests with `CONCURRENCY` keep-alive connections for `SECONDS`; returns req/s. */
async function load(port: number, tls: object): Promise<number> {
  const agent = new Agent({ keepAlive: true, maxSockets: CONCURRENCY, ...tls });
  const end = Date.now() + SECONDS * 1000;
  let done = 0;
  let failed = 0;
  const one = () =>
    new Promise<void>((ok) => {
      const req = request(
        { host: "127.0.0.1", port, path: "/core/1.0", method: "GET", agent, ...tls },
        (res) => {
          res.resume();
          res.on("end", () => {
            if (res.statusCode === 200) done++;
            else failed++;
            ok();
          });
        },
      );
      req.on("error", () => {
        failed++;
        ok();
      });
      req.end();
    });
  const started = Date.now();
  await Promise.all(Array.from({ length: CONCURRENCY }, async () => {
    while (Date.now() < end) await one();
  }));
  agent.destroy();
  if (failed) console.error(`  ${failed} requests failed`);
  return done / ((Date.now() - started) / 1000);
}

const BARE_SERVER = `
import { createServer } from "node:https";
import { readFileSync } from "node:fs";
const [dir, port] = process.argv.slice(-2);
const body = readFileSync(dir + "/info.json");
createServer({ cert: readFileSync(dir + "/cluster.crt"), key: readFileSync(dir + "/cluster.key"),
  requestCert: true, rejectUnauthorized: false }, (req, res) => {
  res.writeHead(200, { "content-type": "application/json" }).end(body);
}).listen(Number(port), "127.0.0.1", () => console.log("ready"));
`;

const dir = tempDir("cohort-bench-");
const port = await freePort();
const barePort = await freePort();
const daemon = startDaemonProcess(["--state-dir", dir, "--extensions", "feature_a,feature_b"]);
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
  const cert = readFileSync(join(dir, "cluster.crt"), "utf8");
  // peerCert pinning (the certificate as the only CA) works with a keep-alive agent.
  const tls = pinnedTlsOptions({ fingerprint: fingerprint(cert), peerCert: cert });

  // The bare server answers exactly what cohort answers.
  const { writeFileSync } = await import("node:fs");
  const info = await new Promise<string>((ok, fail) => {
    const req = request({ host: "127.0.0.1", port, path: "/core/1.0", ...tls }, (res) => {
      let text = "";
      res.on("data", (d) => (text += d));
      res.on("end", () => ok(text));
    });
    req.on("error", fail);
    req.end();
  });
  writeFileSync(join(dir, "info.json"), info);
  writeFileSync(join(dir, "bare.mjs"), BARE_SERVER);
  const isDeno = "Deno" in globalThis;
  const bare = spawn(
    process.execPath,
    isDeno
      ? ["run", "-A", join(dir, "bare.mjs"), dir, String(barePort)]
      : [join(dir, "bare.mjs"), dir, String(barePort)],
    { stdio: ["ignore", "pipe", "inherit"], cwd: root },
  );
  await new Promise((ok) => bare.stdout!.once("data", ok));

  const bareRps: number[] = [];
  const cohortRps: number[] = [];
  for (let round = 0; round < ROUNDS; round++) {
    bareRps.push(await load(barePort, tls));
    cohortRps.push(await load(port, tls));
    console.error(
      `round ${round + 1}: bare ${bareRps.at(-1)!.toFixed(0)} req/s, cohort ${
        cohortRps.at(-1)!.toFixed(0)
      } req/s`,
    );
  }
  bare.kill();
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  const b = median(bareRps);
  const c = median(cohortRps);
  console.log(
    `\nGET /core/1.0 over HTTPS, ${CONCURRENCY} keep-alive connections, ${SECONDS} s x ${ROUNDS} rounds (${
      isDeno ? "deno" : "node"
    })`,
  );
  console.log("| server | median req/s |");
  console.log("|---|---|");
  console.log(`| bare node:https | ${b.toFixed(0)} |`);
  console.log(`| cohort daemon | ${c.toFixed(0)} |`);
  console.log(`| ratio cohort / bare | ${(c / b).toFixed(2)} |`);
} finally {
  daemon.child.kill("SIGTERM");
  await daemon.exited;
  removeDir(dir);
}
