/**
 * What the gossip trust rules cost (issue 12): signing and verifying a member claim with a
 * member key (ECDSA P-256 through node:crypto), the bytes signatures add to an update, a state
 * entry and a roster record, the CPU a restarted member spends verifying an N-member cluster,
 * and what a steady cluster verifies (nothing: claims held are never checked again).
 *
 * Usage: `npx tsx scripts/bench/gossip_trust.ts` or `deno run -A scripts/bench/gossip_trust.ts`.
 * Prints one table; numbers depend on the machine and its load (say `uptime` beside them).
 */
import process from "node:process";
import { claimPayload } from "../../gossip/claims.ts";
import type { WireMeta } from "../../gossip/messages.ts";
import { createSimCluster } from "../../gossip/sim.ts";
import type { RecordStore, ReplicatedRecord } from "../../lib/cluster/replicated_record.ts";
import { extensionDigest } from "../../lib/cluster/extensions.ts";
import { rosterTrust } from "../../lib/cluster/roster_trust.ts";
import { generateCertificate, type KeyPair } from "../../lib/net/certificates.ts";

const runtime = "Deno" in globalThis ? "deno" : `node ${process.versions.node}`;
const rows: [string, string][] = [];
const time = (n: number, fn: () => void): number => {
  const t = performance.now();
  for (let i = 0; i < n; i++) fn();
  return ((performance.now() - t) * 1000) / n;
};

const pairs: KeyPair[] = [];
for (let i = 0; i < 3; i++) {
  pairs.push(await generateCertificate({ name: `m${i}`, addresses: ["127.0.0.1"] }));
}

// A member's trust over a fixed roster (bootstrap m0 admitted the others).
const records: ReplicatedRecord[] = [];
const store: RecordStore = {
  setRecord: () => {
    throw new Error("read-only");
  },
  record: (kind, key) => records.find((r) => r.kind === kind && r.key === key),
  records: (kind) => records.filter((r) => r.kind === kind),
};
const trusts = pairs.map((p, i) =>
  rosterTrust(p)({ name: `m${i}`, records: store, now: () => 0, onRecordChange: () => {} })
);
for (const [i, p] of pairs.entries()) {
  const unsigned: ReplicatedRecord = {
    kind: "member",
    key: `m${i}`,
    value: {
      address: `10.0.0.${i}:7443`,
      certificate: p.cert,
      fingerprint: p.fingerprint,
      joinedAt: 1000 + i,
    },
    version: 1000 + i,
    origin: `m${i}`,
  };
  records.push(trusts[i].seal(unsigned));
  rows.push([
    `roster record m${i}`,
    `${JSON.stringify(unsigned).length} → ${JSON.stringify(records[i]).length} chars`,
  ]);
  if (i === 0) {
    rows.push(["  of which certificate (PEM)", `${p.cert.length} chars`]);
  }
}

const m: WireMeta = {
  a: "10.0.0.1:7443",
  fp: pairs[1].fingerprint,
  r: "voter",
  si: 2,
  se: 1,
  v: "1.4.0",
  ec: 12,
  ed: extensionDigest(["a", "b"]),
};
const payload = claimPayload("alive", "m1", 7, m);
let sg = "";
rows.push(["sign a claim", `${time(500, () => (sg = trusts[1].sign(payload))).toFixed(0)} µs`]);
rows.push([
  "verify a claim",
  `${time(500, () => trusts[0].verify("m1", payload, sg)).toFixed(0)} µs`,
]);
const plain = { k: "alive", n: "m1", i: 7, m };
rows.push([
  "alive update",
  `${JSON.stringify(plain).length} → ${JSON.stringify({ ...plain, sg }).length} chars`,
]);

// A restarted member (empty table) verifies every member's claim once, at its first push-pull:
// N verifications. (A joiner takes its admitting member's state as it is: none.)
const verify = time(200, () => trusts[0].verify("m1", payload, sg));
for (const n of [10, 100, 1000]) {
  rows.push([`restart: verifying ${n} members`, `${((n * verify) / 1000).toFixed(1)} ms CPU`]);
}

// A steady simulated cluster (cheap simulation signatures, same code path): signatures checked
// while idle for a minute, after formation.
const c = createSimCluster({ size: 30, seed: 3 });
const before = c.members.reduce((s, g) => s + g.stats().signaturesChecked, 0);
c.clock.advance(60_000);
const after = c.members.reduce((s, g) => s + g.stats().signaturesChecked, 0);
rows.push(["signatures checked, 30 members idle 60 s", `${after - before}`]);
c.stop();

console.log(`gossip trust costs (${runtime})`);
const width = Math.max(...rows.map(([k]) => k.length));
for (const [k, v] of rows) console.log(`${k.padEnd(width)}  ${v}`);
