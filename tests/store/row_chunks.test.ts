/**
 * A write's rows are cut into multi-row statements of power-of-two sizes (issue 15: the store's
 * writer keeps a prepared statement per text, and a text per batch size let an idle member of 50
 * keep dozens of them). What is cut must be every row, in order, once.
 */
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { rowChunks } from "../../lib/store/row_chunks.ts";

const test = suite("store: row chunks");

const isPowerOfTwo = (n: number) => n >= 1 && (n & (n - 1)) === 0;

test("every row once, in order, in chunks of powers of two, largest first, within the bound", () => {
  for (const max of [1, 32, 500, 512]) {
    for (let n = 0; n <= 1100; n++) {
      const rows = Array.from({ length: n }, (_, i) => i);
      const chunks = rowChunks(rows, max);
      assert.equal(chunks.flat(), rows, `n=${n} max=${max}`);
      const sizes = chunks.map((c) => c.length);
      assert.ok(sizes.every(isPowerOfTwo), `n=${n} max=${max}: ${sizes}`);
      assert.ok(sizes.every((s) => s <= max), `n=${n} max=${max}: ${sizes}`);
      assert.equal(sizes, [...sizes].sort((a, b) => b - a), `n=${n} max=${max}: ${sizes}`);
    }
  }
});

test("a batch below the bound is its binary digits: 49 rows are 32, 16 and 1", () => {
  assert.equal(rowChunks(Array.from({ length: 49 }, (_, i) => i), 512).map((c) => c.length), [
    32,
    16,
    1,
  ]);
  // A bound that is no power of two is rounded down to one: 500 → 256.
  assert.equal(rowChunks(Array.from({ length: 600 }, (_, i) => i), 500).map((c) => c.length), [
    256,
    256,
    64,
    16,
    8,
  ]);
  assert.equal(rowChunks([], 512), []);
});

test("few texts whatever the batch sizes: at most log2(bound) + 1 sizes", () => {
  const sizes = new Set<number>();
  for (let n = 1; n <= 1000; n++) {
    for (const c of rowChunks(new Array(n).fill(0), 512)) sizes.add(c.length);
  }
  assert.equal([...sizes].sort((a, b) => a - b), [1, 2, 4, 8, 16, 32, 64, 128, 256, 512]);
});

test.run();
