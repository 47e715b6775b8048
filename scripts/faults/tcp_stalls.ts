/**
 * How late small messages arrive over one TCP connection on a lossy real path: two network
 * namespaces, `--loss` % of packets dropped both ways (as `scripts/faults/run.ts loss` drops
 * them), a client sending a timestamped line every `--every` ms for `--seconds` s; prints the
 * share of messages at least 0.2, 0.6, 1.4, 3, 6.2, 12.6 s late (what the simulation's `stream`
 * loss model, `gossip/memory_transport.ts`, is calibrated against).
 *
 * Usage (as root): `node --import tsx scripts/faults/tcp_stalls.ts [--loss 30] [--every 50]
 * [--seconds 60]`
 */
import { spawn } from "node:child_process";
import process from "node:process";
import { parseArgs } from "node:util";
import { FaultNet } from "../../tests/faults/netns.ts";

const { values } = parseArgs({
  options: {
    loss: { type: "string", default: "30" },
    every: { type: "string", default: "50" },
    seconds: { type: "string", default: "60" },
  },
});
const loss = Number(values.loss);
const every = Number(values.every);
const seconds = Number(values.seconds);

const SERVER = `
const net = require("node:net");
net.createServer((s) => {
  let buf = "";
  s.on("data", (d) => {
    buf += d;
    let i;
    while ((i = buf.indexOf("\\n")) >= 0) {
      const sent = Number(buf.slice(0, i));
      buf = buf.slice(i + 1);
      process.stdout.write((Date.now() - sent) + "\\n");
    }
  });
}).listen(9000, () => process.stderr.write("listening\\n"));
`;
const CLIENT = (ip: string) => `
const net = require("node:net");
const s = net.connect(9000, "${ip}", () => {
  s.setNoDelay(true);
  const t = setInterval(() => s.write(Date.now() + "\\n"), ${every});
  setTimeout(() => { clearInterval(t); s.end(); }, ${seconds * 1000});
});
s.on("error", (e) => { console.error(e.message); process.exit(1); });
`;

const net = FaultNet.create(2);
try {
  const srv = net.command(1, process.execPath, ["-e", SERVER]);
  const server = spawn(srv.command, srv.args, { stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  server.stdout.on("data", (d) => (out += d));
  await new Promise<void>((ok) => server.stderr.once("data", () => ok()));
  net.loss(loss);
  const cli = net.command(0, process.execPath, ["-e", CLIENT(net.nodes[1].ip)]);
  const client = spawn(cli.command, cli.args, { stdio: "inherit" });
  await new Promise((ok) => client.on("exit", ok));
  // What is still in flight gets a while to arrive.
  await new Promise((ok) => setTimeout(ok, 30_000));
  server.kill();
  const delays = out.trim().split("\n").map(Number).filter((n) => Number.isFinite(n));
  const sent = Math.floor(seconds * 1000 / every);
  const share = (ms: number) => (delays.filter((d) => d >= ms).length / delays.length * 100);
  console.log(
    `${loss} % loss, a message every ${every} ms for ${seconds} s: ${delays.length} of ~${sent} arrived; late by ≥ ` +
      [200, 600, 1400, 3000, 6200, 12600].map((ms) => `${ms / 1000} s: ${share(ms).toFixed(1)} %`)
        .join(", ") +
      `; max ${(Math.max(...delays) / 1000).toFixed(1)} s`,
  );
} finally {
  net.destroy();
}
process.exit(0);
