/**
 * A joiner does its heavy local work before its gossip starts: from the moment a member hears
 * from it, it must answer every probe, and writing the whole view it was handed to its store (one
 * synchronous transaction) used to hold its event loop right after its gossip started, so the
 * members it had just talked to suspected it while it finished its join (issue 15: at N = 50,
 * hundreds of suspicions per formation). Whole members on the simulated clock.
 */
import { suite } from "uvu";
import * as assert from "uvu/assert";
import type { Daemon } from "../../lib/daemon/daemon.ts";
import type { GossipFactory } from "../../lib/daemon/gossip_port.ts";
import { memberAddress, MemoryCluster } from "../helpers/memory_member.ts";

const test = suite("a joiner's start");

test("the admitting member's view is in the joiner's store before its gossip starts", async () => {
  const sim = new MemoryCluster(7);
  try {
    const members = await sim.form(4);
    // Records of every kind the store keeps: a live token too.
    await members[0].createToken("spare", 0);
    await sim.run(3000);
    const ref: { joiner?: Daemon } = {};
    let atStart: Promise<[unknown, unknown]> | undefined;
    const gossip: GossipFactory = (setup) => {
      const handle = sim.gossip(setup);
      const start = handle.start.bind(handle);
      handle.start = () => {
        // Read as the store is at this moment (libSQL runs the statement when it is issued).
        atStart ??= Promise.all([
          ref.joiner!.sql("SELECT name FROM core_cluster_members ORDER BY name"),
          ref.joiner!.sql("SELECT kind, key FROM core_records ORDER BY kind, key"),
        ]);
        start();
      };
      return handle;
    };
    const joiner = ref.joiner = await sim.start("m5", { gossip });
    const token = await members[0].createToken("m5", 0);
    await sim.drive(
      joiner.initialize({
        bootstrap: false,
        name: "m5",
        address: memberAddress(5),
        join_token: token,
      }),
    );
    assert.ok(atStart, "the joiner's gossip never started");
    const [rows, records] = await atStart;
    const names = (rows as { rows: { name: string }[] }).rows.map((r) => r.name);
    assert.equal(names, ["m1", "m2", "m3", "m4", "m5"]);
    const kinds = (records as { rows: { kind: string; key: string }[] }).rows.map((r) =>
      `${r.kind}/${r.kind === "member" ? r.key : "…"}`
    );
    for (const m of ["m1", "m2", "m3", "m4", "m5"]) {
      assert.ok(kinds.includes(`member/${m}`), `member/${m} not stored at start: ${kinds}`);
    }
    assert.ok(kinds.some((k) => k.startsWith("token/")), `no token stored at start: ${kinds}`);
  } finally {
    await sim.stop();
  }
});

test.run();
