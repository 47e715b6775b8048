/**
 * Benchmark: what an open, idle TLS connection costs a Node process in resident memory, and how
 * that grows with the largest burst it ever carried (issue 15, "Memory": an idle member keeps
 * one gossip connection to each other member, so its RSS grows with N).
 *
 * One process holds both ends of `--connections` loopback TLS connections (the client end with
 * a shared secure context, as a member's dials have). On each, each end writes `--burst` bytes
 * once (in one write), the other reads them, then the connection idles. Printed per burst size,
 * in a fresh process each: RssAnon, V8 heap used and external memory per connection (both ends),
 * after full collections: the growth from a quarter of the connections open to all of them.
 *
 * What it shows (Node 20): the heap holds 5-10 KB per connection, the rest is native: the TLS
 * socket's buffers (Node keeps the ring buffers its reads and writes grew to, up to 64 KB a
 * read, until the socket is closed; `MALLOC_TRIM_THRESHOLD_`/`MALLOC_MMAP_THRESHOLD_` do not
 * return them). So a connection that once carried a large frame (a joiner's view, a burst of
 * coalesced frames) keeps several times what a handshake alone costs.
 *
 * Measured (Node 20.20, 300 connections, load 13-15): 62 KB a connection after the handshake
 * alone, 151 KB after 20 000 bytes each way, 424 KB after 100 000: about 31, 76 and 212 KB an end.
 *
 * Usage: `node --import tsx scripts/bench/tls_memory.ts [--connections 100]
 *   [--bursts 0,4096,20000,100000]`
 */
import { spawnSync } from "node:child_process";
import { once } from "node:events";
import { readFileSync } from "node:fs";
import { connect, createSecureContext, createServer, type TLSSocket } from "node:tls";
import process from "node:process";
import { parseArgs } from "node:util";
import { generateCertificate } from "../../lib/net/certificates.ts";

const { values: opts } = parseArgs({
  options: {
    connections: { type: "string", default: "100" },
    bursts: { type: "string", default: "0,4096,20000,100000" },
    child: { type: "string" },
  },
});
const CONNECTIONS = Math.max(1, Math.min(2000, Number(opts.connections) || 100));

/** A `/proc/self/status` field, kB. */
const status = (name: string) =>
  Number(
    new RegExp(`^${name}:\\s+(\\d+)`, "m").exec(readFileSync("/proc/self/status", "utf8"))?.[1],
  );

async function settled(): Promise<{ anon: number; heap: number; external: number }> {
  const gc = (globalThis as { gc?: () => void }).gc;
  for (let i = 0; i < 3; i++) {
    gc?.();
    await new Promise((r) => setTimeout(r, 100));
  }
  const m = process.memoryUsage();
  return { anon: status("RssAnon"), heap: m.heapUsed / 1024, external: m.external / 1024 };
}

/** Reads until `bytes` arrived on `socket`. */
function receive(socket: TLSSocket, bytes: number): Promise<void> {
  let got = 0;
  return bytes === 0 ? Promise.resolve() : new Promise((resolve) => {
    const onData = (d: Buffer) => {
      got += d.length;
      if (got >= bytes) {
        socket.off("data", onData);
        resolve();
      }
    };
    socket.on("data", onData);
  });
}

/** One measurement in this process: prints a JSON line. */
async function child(burst: number): Promise<void> {
  const pair = await generateCertificate({ name: "tls-memory", addresses: ["127.0.0.1"] });
  const served: Promise<void>[] = [];
  const server = createServer({ cert: pair.cert, key: pair.key }, (socket) => {
    socket.on("error", () => {});
    served.push(
      receive(socket, burst).then(() => void (burst && socket.write(Buffer.alloc(burst, 1)))),
    );
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const { port } = server.address() as { port: number };
  const context = createSecureContext({ ca: pair.cert });
  const sockets: TLSSocket[] = [];
  // The slope between a quarter of the connections and all of them: the first ones reuse what
  // the process freed before (the certificate's generation, start-up).
  const first = Math.floor(CONNECTIONS / 4);
  let before = await settled();
  for (let i = 0; i < CONNECTIONS; i++) {
    if (i === first) {
      await Promise.all(served);
      before = await settled();
    }
    const socket = connect({
      port,
      host: "127.0.0.1",
      secureContext: context,
      checkServerIdentity: () => undefined,
    });
    socket.on("error", () => {});
    await once(socket, "secureConnect");
    const answered = receive(socket, burst);
    if (burst) socket.write(Buffer.alloc(burst, 2));
    await answered;
    sockets.push(socket);
  }
  await Promise.all(served);
  const after = await settled();
  const per = (k: keyof typeof after) =>
    +((after[k] - before[k]) / (CONNECTIONS - first)).toFixed(1);
  console.log(
    JSON.stringify({ burst, anon: per("anon"), heap: per("heap"), external: per("external") }),
  );
  for (const s of sockets) s.destroy();
  server.close();
}

if (opts.child !== undefined) {
  await child(Number(opts.child));
  process.exit(0);
}

const load = () =>
  spawnSync("uptime", { encoding: "utf8" }).stdout.trim().replace(/^.*load/, "load");
console.log(
  `\n${CONNECTIONS} idle TLS connections, both ends in one process; Node ${process.version}; ${load()}\n`,
);
console.log(
  "| burst each way (bytes) | RssAnon per connection (KB) | V8 heap (KB) | external (KB) |",
);
console.log("|---|---|---|---|");
for (const burst of opts.bursts.split(",").map(Number)) {
  const run = spawnSync(
    process.execPath,
    [
      ...process.execArgv,
      "--expose-gc",
      process.argv[1],
      "--child",
      String(burst),
      "--connections",
      String(CONNECTIONS),
    ],
    { encoding: "utf8" },
  );
  const line = run.stdout.trim().split("\n").at(-1) ?? "";
  try {
    const r = JSON.parse(line);
    console.log(`| ${burst} | ${r.anon} | ${r.heap} | ${r.external} |`);
  } catch {
    console.log(`| ${burst} | failed: ${run.stderr.trim().split("\n").at(-1)} | | |`);
  }
}
console.log(`\n${load()}`);
