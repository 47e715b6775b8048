/**
 * `placePair`: a pair handed over the API lands whole or not at all. A disk that fills up between
 * the key and the certificate leaves the pair that was there (or none), never a new key beside an
 * old certificate, and the error names both files, relative to the state directory.
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { placePair } from "../../lib/app/place_pair.ts";
import { NoSpaceError } from "../../lib/errors.ts";
import { asyncFiles, type Files, useFiles } from "../../lib/files.ts";

const test = suite<{ dir: string }>("placePair");

test.before.each((ctx) => {
  ctx.dir = mkdtempSync(join(tmpdir(), "cohort-place-pair-"));
});
test.after.each(({ dir }) => {
  useFiles(asyncFiles);
  rmSync(dir, { recursive: true, force: true });
});

/** The file system, but a write of a temporary file for `name` fails as a full disk does. */
function fullFor(name: string): Files {
  return {
    ...asyncFiles,
    writeFile: (path, data, options) =>
      path.includes(`${name}.`) && !path.endsWith(name)
        ? Promise.reject(Object.assign(new Error("ENOSPC: no space left"), { code: "ENOSPC" }))
        : asyncFiles.writeFile(path, data, options),
  };
}

const read = (dir: string) =>
  ["crt", "key"].map((e) => {
    const f = join(dir, "certificates", `web.${e}`);
    return existsSync(f) ? readFileSync(f, "utf8") : undefined;
  });

test("both files are written, the key 0600", async ({ dir }) => {
  await placePair(dir, "web", { cert: "C1", key: "K1" });
  assert.equal(read(dir), ["C1", "K1"]);
});

for (const [what, before] of [["a pair in place", ["C0", "K0"]], ["no pair", undefined]] as const) {
  test(`a full disk at the certificate leaves ${what} as it was`, async ({ dir }) => {
    if (before) {
      mkdirSync(join(dir, "certificates"));
      writeFileSync(join(dir, "certificates/web.crt"), before[0]);
      writeFileSync(join(dir, "certificates/web.key"), before[1]);
    }
    useFiles(fullFor("web.crt"));
    const err = await placePair(dir, "web", { cert: "C1", key: "K1" }).then(() => null, (e) => e);
    assert.instance(err, NoSpaceError);
    assert.is(
      err.message,
      "certificates/web.crt and certificates/web.key could not be written: the disk is full; free space",
    );
    assert.equal(read(dir), before ?? [undefined, undefined]);
  });
}

test("a full disk at the key changes nothing", async ({ dir }) => {
  useFiles(fullFor("web.key"));
  const err = await placePair(dir, "web", { cert: "C1", key: "K1" }).then(() => null, (e) => e);
  assert.instance(err, NoSpaceError);
  assert.equal(read(dir), [undefined, undefined]);
});

test.run();
