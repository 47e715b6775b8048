/**
 * A seed replays exactly: the same script, log lines and violations from one run to the next,
 * under Node and under Deno (see `determinism.ts`); and the partition step's shuffle is the one
 * Node 20 made when the seeds recorded in the tests were found.
 */
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { createRandom } from "../../gossip/random.ts";
import { runSeed, sortLikeNode20 } from "./operator.ts";

const test = suite("simulation replay");

/** Everything a run shows, without the world's temporary directory name. */
async function played(seed: number): Promise<string> {
  const r = await runSeed(seed, { members: 3, steps: 8, logs: true });
  return [...r.script, ...r.violations, ...r.logs].join("\n").replace(/cohort-sim-\w+/g, "DIR");
}

// Seeds whose scripts restart, kill, join and remove members (file operations of every kind).
for (const seed of [5, 973]) {
  test(`seed ${seed} plays the same run twice`, async () => {
    const first = await played(seed);
    const second = await played(seed);
    assert.ok(first.split("\n").length > 50, "a run with log lines");
    assert.fixture(second, first);
  });
}

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
