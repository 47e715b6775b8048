/**
 * The member's file operations (lib/files.ts): one contract, run against both implementations
 * (`node:fs/promises` and the synchronous one simulations install), and the process-wide choice.
 */
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { asyncFiles, type Files, files, syncFiles, useFiles } from "../lib/files.ts";

const test = suite("member file operations");

/** The error code a promise rejects with (it must reject, never throw). */
async function codeOf(run: () => Promise<unknown>): Promise<string | undefined> {
  let p: Promise<unknown>;
  try {
    p = run();
  } catch (err) {
    return `threw synchronously: ${(err as Error).message}`;
  }
  try {
    await p;
    return undefined;
  } catch (err) {
    return (err as { code?: string }).code;
  }
}

const POSIX = process.platform !== "win32";

for (const [name, fs] of [["asyncFiles", asyncFiles], ["syncFiles", syncFiles]] as const) {
  const withDir = async (fn: (dir: string, fs: Files) => Promise<void>) => {
    const dir = mkdtempSync(join(tmpdir(), "cohort-files-"));
    try {
      await fn(dir, fs);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  };

  test(`${name}: a file written is read back as UTF-8 text`, () =>
    withDir(async (dir) => {
      const path = join(dir, "a.txt");
      await fs.writeFile(path, "héllo\n");
      assert.is(await fs.readFile(path), "héllo\n");
      await fs.writeFile(path, "again");
      assert.is(await fs.readFile(path), "again", "w replaces");
    }));

  test(`${name}: errors reject with node:fs codes (ENOENT, EEXIST), never throw`, () =>
    withDir(async (dir) => {
      const path = join(dir, "x");
      assert.is(await codeOf(() => fs.readFile(path)), "ENOENT");
      assert.is(await codeOf(() => fs.rm(path)), "ENOENT");
      assert.is(await codeOf(() => fs.rename(path, join(dir, "y"))), "ENOENT");
      assert.is(await codeOf(() => fs.chmod(path, 0o600)), "ENOENT");
      await fs.writeFile(path, "1");
      assert.is(await codeOf(() => fs.writeFile(path, "2", { flag: "wx" })), "EEXIST");
      assert.is(await fs.readFile(path), "1", "wx left the file as it was");
    }));

  test(`${name}: rm with force ignores a missing file; recursive removes a directory`, () =>
    withDir(async (dir) => {
      assert.is(await codeOf(() => fs.rm(join(dir, "none"), { force: true })), undefined);
      const sub = join(dir, "a", "b");
      await fs.mkdir(sub, { recursive: true });
      await fs.mkdir(sub, { recursive: true }); // existing: no error
      await fs.writeFile(join(sub, "f"), "x");
      await fs.rm(join(dir, "a"), { recursive: true, force: true });
      assert.is(await codeOf(() => fs.readFile(join(sub, "f"))), "ENOENT");
    }));

  test(`${name}: rename replaces its target; modes are set`, () =>
    withDir(async (dir) => {
      const a = join(dir, "a");
      const b = join(dir, "b");
      await fs.writeFile(a, "new", { mode: 0o600, flag: "wx" });
      await fs.writeFile(b, "old");
      await fs.rename(a, b);
      assert.is(await fs.readFile(b), "new");
      assert.is(await codeOf(() => fs.readFile(a)), "ENOENT");
      if (POSIX) {
        assert.is(statSync(b).mode & 0o777, 0o600, "the mode it was created with");
        await fs.chmod(b, 0o640);
        assert.is(statSync(b).mode & 0o777, 0o640);
        await fs.mkdir(join(dir, "private"), { mode: 0o700 });
        assert.is(statSync(join(dir, "private")).mode & 0o777, 0o700);
      }
    }));
}

test("syncFiles has done the operation when its call returns", async () => {
  const dir = mkdtempSync(join(tmpdir(), "cohort-files-"));
  try {
    const path = join(dir, "now");
    const p = syncFiles.writeFile(path, "done");
    assert.is(statSync(path).size, 4, "written before the promise is awaited");
    await p;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("useFiles changes what files() returns for the process, and returns the previous one", () => {
  const before = files();
  const previous = useFiles(syncFiles);
  try {
    assert.is(previous, before);
    assert.is(files(), syncFiles);
  } finally {
    useFiles(before);
  }
  assert.is(files(), before);
});

test.run();
