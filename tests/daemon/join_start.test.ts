/**
 * A joiner's start (issue 15): it takes the admitting member's view in before its gossip starts,
 * and answers once committed without waiting for its store to hold that view: the view is kept
 * in `join_view.json` (written before the commit) until a batch of the store holds it whole,
 * then the file goes. On a loaded machine the store write was most of what `init --token`
 * waited for after its admission (a member killed in between: `e2e/join_view_restart`). Whole
 * members on the simulated clock.
 */
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { joinViewPath, readJoinView } from "../../lib/daemon/join_view.ts";
import { readJoinSeed } from "../../lib/daemon/join_config.ts";
import { statePaths } from "../../lib/daemon/state_dir.ts";
import { writeTransition } from "../../lib/daemon/transition.ts";
import { decodeToken } from "../../lib/cluster/token.ts";
import { memberAddress, MemoryCluster } from "../helpers/memory_member.ts";

const test = suite("a joiner's start");

test("the view is kept in join_view.json until the joiner's store holds it", async () => {
  const sim = new MemoryCluster(7);
  const dir = mkdtempSync(join(tmpdir(), "cohort-join-start-"));
  try {
    const members = await sim.form(4);
    // Records of every kind the store keeps: a live token too.
    await sim.drive(members[0].createToken("spare", 0));
    await sim.run(3000);
    const paths = statePaths(dir);
    const names = async () =>
      (await joiner.sql("SELECT name FROM core_cluster_members ORDER BY name")).rows
        .map((r) => String(r.name));
    const joiner = await sim.start("m5", { stateDir: dir });
    const token = await sim.drive(members[0].createToken("m5", 0));
    await sim.drive(
      joiner.initialize({
        bootstrap: false,
        name: "m5",
        address: memberAddress(5),
        join_token: token,
      }),
    );
    // Answered: the view is durable, in the file or (its batch already written) in the store.
    const kept = await readJoinView(paths);
    const all = ["m1", "m2", "m3", "m4", "m5"];
    if (kept) assert.is(kept.via, memberAddress(1), "the admitting member is named");
    else assert.equal(await names(), all, "no file kept: the store holds the view");
    const gone = () => !existsSync(joinViewPath(paths)) && !readJoinSeed(paths);
    assert.ok(await sim.until(gone, 5000), "join_view.json or daemon.json's seed stays");
    assert.equal(await names(), all);
    const records = await joiner.sql("SELECT kind, key FROM core_records ORDER BY kind, key");
    const kinds = records.rows.map((r) => `${r.kind}/${r.kind === "member" ? r.key : "…"}`);
    for (const m of all) {
      assert.ok(kinds.includes(`member/${m}`), `member/${m} not stored: ${kinds}`);
    }
    assert.ok(kinds.some((k) => k.startsWith("token/")), `no token stored: ${kinds}`);
  } finally {
    await sim.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});

test("a join cut short after its admission asks the member that admitted it first, named by join_view.json", async () => {
  const sim = new MemoryCluster(8);
  const dir = mkdtempSync(join(tmpdir(), "cohort-join-undo-"));
  try {
    const [m1] = await sim.form(2);
    const joiner = await sim.start("m3", { stateDir: dir });
    const token = await sim.drive(m1.createToken("m3", 0));
    await sim.drive(
      joiner.initialize({
        bootstrap: false,
        name: "m3",
        address: memberAddress(3),
        join_token: token,
      }),
    );
    await sim.drive(joiner.stop());
    // As a kill after the admission, before the commit, leaves it: no daemon.json, the mark
    // listing the token's addresses (here the admitting member last, after one that never
    // answers), the view naming the admitting member.
    const paths = statePaths(dir);
    rmSync(paths.config);
    const fingerprint = decodeToken(token).fingerprint;
    const peers = [memberAddress(9), memberAddress(2), memberAddress(1)];
    await writeTransition(paths, { step: "join", name: "m3", peers, fingerprint, at: 0 });
    writeFileSync(joinViewPath(paths), JSON.stringify({ via: memberAddress(1), state: {} }));
    const asked: string[] = [];
    const restarted = await sim.start("m3", {
      stateDir: dir,
      peers: {
        request: (r) => {
          if (r.method === "DELETE") asked.push(r.address);
          return sim.peers.request(r);
        },
      },
    });
    assert.equal(asked, [memberAddress(1)], "asked to be taken out, in order");
    assert.is(restarted.status(), "uninitialized");
    for (const f of ["transition.json", "join_view.json", "daemon.json", "cluster.key"]) {
      assert.not.ok(existsSync(join(dir, f)), `${f} left`);
    }
    assert.equal((await m1.clusterMembers()).map((e) => e.name).sort(), ["m1", "m2"]);
  } finally {
    await sim.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});

test.run();
