/**
 * The rolling upgrade of tests/e2e/upgrade.test.ts in the seeded in-memory simulation, with 100
 * members: members upgrade one by one (new app schema version and one more extension, gossiped
 * through `updateMeta`), and every upgraded member runs the real gate (lib/cluster/gating.ts
 * `evaluateGate`) over its own gossip view on every view change, as the daemon's UpgradeGate
 * does. Bounds come from the gossip configuration, never from wall-clock time.
 */
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { resolveConfig, retransmitLimit } from "../../gossip/config.ts";
import type { Gossip } from "../../gossip/api.ts";
import { createSimCluster } from "../../gossip/sim.ts";
import type { MemberVersion } from "../../lib/cluster/compat.ts";
import { evaluateGate, type GateMember } from "../../lib/cluster/gating.ts";

const test = suite("rolling upgrade in the simulation");

const N = 100;
const OLD: MemberVersion = { schemaInternal: 2, schemaExternal: 1, extensions: ["a", "b"] };
const NEW: MemberVersion = { schemaInternal: 2, schemaExternal: 2, extensions: ["a", "b", "c"] };
/** Simulated time between two members' upgrades. */
const GAP_MS = 500;

/**
 * One member's view of every other member's version, as lib/daemon/view.ts `versionOf`
 * derives it: the gossiped metadata with its list once known (or ours when the digests match),
 * else the last version this member knew (every member starts knowing every other's).
 */
function viewOf(
  g: Gossip,
  self: string,
  names: readonly string[],
  local: MemberVersion,
  known: Map<string, MemberVersion>,
): GateMember[] {
  const out: GateMember[] = [];
  for (const name of names) {
    if (name === self) continue;
    const info = g.member(name);
    const meta = info?.meta;
    const list = meta?.extensions ??
      (g.extensionStatus(name)?.verdict === "equal" ? local.extensions : undefined);
    if (meta && list) {
      known.set(name, {
        schemaInternal: meta.schemaInternal,
        schemaExternal: meta.schemaExternal,
        extensions: list,
      });
    }
    const up = info?.state === "alive" || info?.state === "suspect";
    out.push({ name, version: known.get(name), up, downSince: up ? undefined : 0 });
  }
  return out;
}

test("100 members upgrade one by one: upgraded members wait until the last one upgrades, none opens early, all open within the dissemination bound", () => {
  const c = createSimCluster({
    size: N,
    seed: 5,
    form: "restore",
    meta: () => ({
      schemaInternal: OLD.schemaInternal,
      schemaExternal: OLD.schemaExternal,
      extensions: OLD.extensions,
    }),
  });
  try {
    const config = resolveConfig("lan");
    const local: MemberVersion[] = c.names.map(() => OLD);
    const known = c.names.map(() => new Map<string, MemberVersion>());
    for (const k of known) for (const n of c.names) k.set(n, OLD);
    const openedAt: (number | undefined)[] = c.names.map(() => undefined);
    const early: string[] = [];
    let lastUpgradeAt = Infinity;

    // The gate of member i, level-triggered: re-decided on every change of its view.
    const decide = (i: number) => {
      if (local[i] !== NEW || openedAt[i] !== undefined) return;
      const g = c.members[i];
      const d = evaluateGate(local[i], viewOf(g, c.names[i], c.names, local[i], known[i]), {
        now: c.clock.now(),
      });
      assert.not.equal(d.decision, "refuse", `${c.names[i]}: ${d.message}`);
      if (d.decision !== "open") return;
      openedAt[i] = c.clock.now();
      if (c.clock.now() < lastUpgradeAt) early.push(`${c.names[i]} at ${c.clock.now()} ms`);
    };
    c.members.forEach((g, i) => {
      for (const ev of ["member-join", "member-update", "member-failed", "member-left"] as const) {
        g.on(ev, () => decide(i));
      }
    });

    for (let i = 0; i < N; i++) {
      // A restart with the new binary: new schema version and list, gossiped as new metadata.
      if (i === N - 1) lastUpgradeAt = c.clock.now();
      local[i] = NEW;
      c.members[i].updateMeta({
        schemaExternal: NEW.schemaExternal,
        extensions: NEW.extensions,
      });
      // The start-up decision, before any event.
      decide(i);
      if (i < N - 1) {
        c.clock.advance(GAP_MS);
        const waiting = openedAt.slice(0, i + 1).filter((t) => t === undefined).length;
        assert.is(waiting, i + 1, `after ${i + 1} upgrades every upgraded member still waits`);
      }
    }
    assert.equal(early, [], "no member opens before the last one upgrades");

    // The last member's new metadata is pushed at once and retransmitted for at most
    // retransmitLimit rounds; every member must have heard it (and opened) by then.
    const bound = retransmitLimit(config.retransmitMult, N) * config.gossipIntervalMs +
      config.pushRounds * config.pushRoundGapMs;
    c.clock.runWhileNot(() => openedAt.every((t) => t !== undefined), bound, 10);
    const late = c.names.filter((_, i) => openedAt[i] === undefined);
    assert.equal(late, [], `every member opens within ${bound} ms of the last upgrade`);
    const slowest = Math.max(...openedAt.map((t) => t! - lastUpgradeAt));
    assert.ok(slowest <= bound, `slowest opened ${slowest} ms after the last upgrade`);
    // The last member itself opens at once: every other member already runs its versions.
    assert.is(openedAt[N - 1], lastUpgradeAt);
  } finally {
    c.stop();
  }
});

test.run();
