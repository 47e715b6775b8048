/**
 * The fault harness itself: namespaces with their own addresses on one bridge, rules that drop
 * exactly what they say (checked with UDP datagrams and the rules' own counters), names unique
 * per net, nothing left behind, and leftovers of a killed run swept by the next.
 */
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { spawn, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { FaultNet, harnessNamespaces, PREFIX, sweepStale } from "./netns.ts";
import { sh } from "./system.ts";
import { faultTest } from "./suite.ts";

const test = suite("fault harness");

/** Sends `count` UDP datagrams from node `from` to node `to` (bash's /dev/udp). */
function send(net: FaultNet, from: number, to: number, count: number): void {
  const ip = net.nodes[to].ip;
  const r = net.exec(from, "bash", [
    "-c",
    `for i in $(seq ${count}); do echo x > /dev/udp/${ip}/9; done`,
  ]);
  assert.ok(r.ok, r.err);
}

faultTest(test, "nodes reach each other; a partition drops across groups only", () => {
  const net = FaultNet.create(4);
  try {
    assert.equal(new Set(net.nodes.map((n) => n.ip)).size, 4);
    send(net, 1, 0, 5); // resolves neighbours before counting
    net.partition([[0, 1], [2, 3]]);
    send(net, 1, 0, 20);
    assert.is(net.dropped(0), 0, "same side: nothing dropped");
    send(net, 2, 0, 20);
    send(net, 0, 3, 20);
    assert.is(net.dropped(0), 20);
    assert.is(net.dropped(3), 20);
    net.heal();
    send(net, 2, 0, 20);
    assert.is(net.dropped(0), 0, "healed: counters reset with the rules, nothing dropped");
  } finally {
    net.destroy();
  }
});

faultTest(test, "a one-way partition drops one direction; loss drops about P %", () => {
  const net = FaultNet.create(2);
  try {
    send(net, 0, 1, 5);
    send(net, 1, 0, 5);
    net.oneWay(0, 1);
    send(net, 0, 1, 20);
    assert.is(net.dropped(1), 20, "1 does not hear 0");
    // (Counted at 0 only: 0's ICMP "port unreachable" answers are dropped at 1 too.)
    send(net, 1, 0, 20);
    assert.is(net.dropped(0), 0, "0 still hears 1");
    net.heal();
    net.loss(30);
    send(net, 0, 1, 1000);
    const dropped = net.dropped(1);
    // Binomial(1000, 0.3): ±6 standard deviations.
    assert.ok(dropped > 213 && dropped < 387, `30 % of 1000 dropped: ${dropped}`);
  } finally {
    net.destroy();
  }
});

faultTest(test, "two nets never share a name, and destroy leaves nothing", () => {
  const before = new Set(harnessNamespaces());
  const a = FaultNet.create(2);
  const b = FaultNet.create(2);
  try {
    assert.is.not(a.id, b.id);
    const mine = harnessNamespaces().filter((ns) => !before.has(ns));
    assert.is(mine.length, 6, mine.join(","));
  } finally {
    a.destroy();
    b.destroy();
  }
  assert.equal(harnessNamespaces().filter((ns) => !before.has(ns)), []);
});

faultTest(test, "what a run killed with SIGKILL left is swept by the next", async () => {
  // A PID that was just used and is gone: the owner of the leftovers.
  const owner = spawnSync("true").pid!;
  const tag = `${PREFIX}${owner.toString(36)}-swept`;
  const ns = `${tag}-n0`;
  assert.ok(sh("ip", ["netns", "add", ns]).ok);
  const left = spawn("ip", ["netns", "exec", ns, "sleep", "600"], { stdio: "ignore" });
  const dir = mkdtempSync(join(tmpdir(), `${tag}-m0-`));
  const gone = new Promise((done) => left.once("exit", done));
  const swept = sweepStale();
  assert.ok(swept.includes(ns) && swept.some((e) => dir.endsWith(e)), swept.join(","));
  assert.not.ok(harnessNamespaces().includes(ns));
  assert.not.ok(existsSync(dir));
  await gone;
});

test.run();
