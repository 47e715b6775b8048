/**
 * A seed replays exactly: the same script, log lines and violations from one run to the next,
 * under Node and under Deno, however long its members' store writes take on libSQL's threads
 * (see `determinism.ts`); and the partition step's shuffle is the one Node 20 made when the
 * seeds recorded in the tests were found.
 */
import { suite } from "uvu";
import * as assert from "uvu/assert";
import Database from "libsql/promise";
import { createRandom } from "../../gossip/random.ts";
import { runSeed, sortLikeNode20 } from "./operator.ts";

const test = suite("simulation replay");

/** Everything a run shows, without the world's temporary directory name. */
async function played(seed: number, steps = 8): Promise<string> {
  const r = await runSeed(seed, { members: 3, steps, logs: true });
  return [...r.script, ...r.violations, ...r.logs].join("\n").replace(/cohort-sim-\w+/g, "DIR");
}

/**
 * How long the `n`th commit on a store writer's thread (counted from 0 in a run) is held before
 * it runs, real ms: a machine's load decides that for each write.
 */
let commitDelay: (n: number) => number = () => 0;
let commits = 0;
const asyncDb = Database.prototype as unknown as { exec(sql: string): Promise<unknown> };
const exec = asyncDb.exec;
asyncDb.exec = async function (this: unknown, sql: string) {
  const ms = sql === "COMMIT" ? commitDelay(commits++) : 0;
  if (ms > 0) await new Promise((r) => setTimeout(r, ms));
  return await exec.call(this, sql);
};

// Seeds whose scripts restart, kill, join and remove members (file operations of every kind).
for (const seed of [5, 973]) {
  test(`seed ${seed} plays the same run twice`, async () => {
    const first = await played(seed);
    const second = await played(seed);
    assert.ok(first.split("\n").length > 50, "a run with log lines");
    assert.fixture(second, first);
  });
}

// Seeds whose runs in a batch of seeds 1..500 (4 steps) differed from run to run on a loaded
// machine: two members' reads waited for their own store writes on the threads, and went on in
// the order those writes ended.
for (const seed of [104, 294]) {
  test(`seed ${seed} plays the same run however long its store writes take`, async () => {
    const delays: Record<string, (n: number) => number> = {
      "every other commit, odd": (n) => (n % 2 ? 30 : 0),
      "every other commit, even": (n) => (n % 2 ? 0 : 30),
      "every third commit": (n) => (n % 3 ? 0 : 30),
    };
    let first: string | undefined;
    try {
      for (const [name, delay] of Object.entries(delays)) {
        commitDelay = delay;
        commits = 0;
        const run = await played(seed, 4);
        assert.ok(commits > 20, `${name}: a run with store writes (${commits} commits)`);
        if (first === undefined) first = run;
        else assert.fixture(run, first, `${name} delayed by 30 ms`);
      }
    } finally {
      commitDelay = () => 0;
    }
  });
}

test("a seed's key pairs past keys.json are made for its world, not kept from the seed before", async () => {
  // m6 has none in keys.json: a world makes its key pairs, as when its seed runs alone.
  const made = async () => {
    const r = await runSeed(1, { members: 6, steps: 0, logs: true });
    assert.equal(r.violations, [], "the cluster formed");
    return r.logs.filter((l) => l.includes(" m6 info Generated key pair ")).map((l) =>
      JSON.parse(l.slice(l.indexOf("{"))).fingerprint as string
    );
  };
  const first = await made();
  const second = await made();
  assert.ok(first.length > 0, "m6 made a key pair");
  assert.equal(second.filter((f) => first.includes(f)), [], "no key pair of the first run");
});

test("sortLikeNode20 sorts as Node 20's Array.prototype.sort, comparator calls included", () => {
  // Recorded under Node 20: [order, comparator calls] for five random comparators each.
  const expected: Record<number, string[]> = {
    3: ["m2,m1,m3|3", "m3,m2,m1|2", "m1,m2,m3|2", "m2,m1,m3|3", "m1,m2,m3|2"],
    4: ["m2,m1,m3,m4|5", "m4,m3,m2,m1|3", "m3,m4,m2,m1|5", "m2,m1,m4,m3|5", "m3,m2,m4,m1|5"],
  };
  for (const n of [3, 4]) {
    const random = createRandom(n);
    const names = Array.from({ length: n }, (_, i) => `m${i + 1}`);
    const got = expected[n].map(() => {
      let calls = 0;
      const order = sortLikeNode20(names, () => (calls++, random.next() - 0.5));
      return `${order.join(",")}|${calls}`;
    });
    assert.equal(got, expected[n], `${n} names`);
  }
});

test.run();
