/**
 * The durable replacement of a file (lib/write_durably.ts), driven through the `files()` seam as
 * every writer of the state directory calls it: the order that survives an operating-system
 * crash, the modes, and a failed write leaving the target as it was and no temporary behind.
 */
import { readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { asyncFiles, type Files, useFiles } from "../lib/files.ts";
import { makeDirDurably, syncDirAsync, writeDurablyAsync } from "../lib/write_durably.ts";
import { durableProblem, recordFiles } from "./helpers/durable_order.ts";
import { removeDir, tempDir } from "./helpers/process.ts";

const test = suite("writeDurablyAsync");

test("a new file and a replaced one: synced before the rename, the directory after", async () => {
  const dir = tempDir();
  const rec = recordFiles();
  try {
    const target = join(dir, "state.json");
    await writeDurablyAsync(dir, target, "one\n");
    assert.is(durableProblem(rec.ops, target), undefined);
    rec.ops.length = 0;
    await writeDurablyAsync(dir, target, "two\n");
    assert.is(durableProblem(rec.ops, target), undefined);
    assert.is(readFileSync(target, "utf8"), "two\n");
    assert.equal(readdirSync(dir), ["state.json"], "no temporary left");
  } finally {
    rec.restore();
    removeDir(dir);
  }
});

test("makeDirDurably: every directory it made is synced into its parent; one already there syncs nothing", async () => {
  const dir = tempDir();
  const rec = recordFiles();
  try {
    const deep = join(dir, "a", "b");
    await makeDirDurably(deep);
    assert.is(statSync(deep).mode & 0o777, 0o700);
    const synced = rec.ops.filter((o) => o.op === "sync").map((o) => o.paths[0]);
    assert.equal(synced.sort(), [dir, join(dir, "a")].sort(), "a into dir, b into a");
    rec.ops.length = 0;
    await makeDirDurably(deep);
    assert.equal(rec.ops, [], "nothing made, nothing synced");
  } finally {
    rec.restore();
    removeDir(dir);
  }
});

test("private by default; a mode given is the file's mode", async () => {
  const dir = tempDir();
  try {
    await writeDurablyAsync(dir, join(dir, "a.key"), "k");
    assert.is(statSync(join(dir, "a.key")).mode & 0o777, 0o600);
    await writeDurablyAsync(dir, join(dir, "a.crt"), "c", 0o644);
    assert.is(statSync(join(dir, "a.crt")).mode & 0o777, 0o644);
  } finally {
    removeDir(dir);
  }
});

for (const failing of ["writeFile", "sync", "rename"] as const) {
  test(`a ${failing} that fails: rejects with its error, target as it was, no temporary`, async () => {
    const dir = tempDir();
    const target = join(dir, "state.json");
    writeFileSync(target, "before\n");
    const eio = Object.assign(new Error(`${failing}: input/output error`), { code: "EIO" });
    const refusing: Files = {
      ...asyncFiles,
      // The temporary is written first, so a full disk can leave part of it behind.
      writeFile: (p, d, o) =>
        failing === "writeFile"
          ? asyncFiles.writeFile(p, d.slice(0, 1), o).then(() => Promise.reject(eio))
          : asyncFiles.writeFile(p, d, o),
      sync: (p) => failing === "sync" ? Promise.reject(eio) : asyncFiles.sync(p),
      rename: (a, b) => failing === "rename" ? Promise.reject(eio) : asyncFiles.rename(a, b),
    };
    const previous = useFiles(refusing);
    try {
      let caught: unknown;
      await writeDurablyAsync(dir, target, "after\n").catch((err) => caught = err);
      assert.is(caught, eio);
      assert.is(readFileSync(target, "utf8"), "before\n");
      assert.equal(readdirSync(dir), ["state.json"], "the temporary removed");
    } finally {
      useFiles(previous);
      removeDir(dir);
    }
  });
}

test("a directory sync the platform refuses is no error (the rename is atomic anyway)", async () => {
  const dir = tempDir();
  try {
    await syncDirAsync(join(dir, "missing"));
  } finally {
    removeDir(dir);
  }
});

test.run();
