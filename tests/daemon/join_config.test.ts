/**
 * A join's `daemon.json` (`lib/daemon/join_config.ts`): prepared aside and put in place by one
 * rename, the view's seed kept in it until forgotten, and no `daemon.json` a leave removed ever
 * brought back; a seed that could not be dropped (a full disk) leaves no torn copy behind; an
 * earlier release's spelling of the address rewritten in the one spelling, the seed kept.
 */
import { readdirSync, readFileSync } from "node:fs";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import {
  commitDaemonConfig,
  discardDaemonConfig,
  forgetJoinSeed,
  prepareDaemonConfig,
  readJoinSeed,
  respellDaemonConfig,
  syncPreparedDaemonConfig,
} from "../../lib/daemon/join_config.ts";
import { readDaemonConfig, removeDaemonConfig, statePaths } from "../../lib/daemon/state_dir.ts";
import { asyncFiles, useFiles } from "../../lib/files.ts";
import { removeDir, tempDir } from "../helpers/process.ts";

const test = suite("a join's daemon.json");

test("a join's daemon.json: prepared aside, put in place with the view's seed, which goes once forgotten", async () => {
  const dir = tempDir();
  try {
    const paths = statePaths(dir);
    const config = { name: "j1", address: "127.0.0.1:9001" };
    const seed = { via: "127.0.0.1:9000", state: { t: "pp", f: "c1", rc: [] } };
    prepareDaemonConfig(paths, config, seed);
    await syncPreparedDaemonConfig(paths);
    assert.is(readDaemonConfig(paths), undefined, "not committed before the rename");
    commitDaemonConfig(paths);
    assert.equal(readDaemonConfig(paths), config, "the seed is not part of the member's config");
    assert.equal(readJoinSeed(paths), seed);
    await forgetJoinSeed(paths);
    assert.is(readJoinSeed(paths), undefined);
    assert.equal(readDaemonConfig(paths), config);
    assert.equal(readdirSync(dir), ["daemon.json"], "nothing left beside it");
    prepareDaemonConfig(paths, { name: "j2", address: "127.0.0.1:9002" });
    discardDaemonConfig(paths);
    assert.equal(readdirSync(dir), ["daemon.json"], "a discarded preparation leaves nothing");
    assert.equal(readDaemonConfig(paths), config);
  } finally {
    removeDir(dir);
  }
});

test("forgetJoinSeed() brings back no daemon.json removed while it wrote (a leave)", async () => {
  const dir = tempDir();
  try {
    const paths = statePaths(dir);
    prepareDaemonConfig(paths, { name: "j1", address: "127.0.0.1:9001" }, {
      via: "127.0.0.1:9000",
      state: {},
    });
    commitDaemonConfig(paths);
    const forgetting = forgetJoinSeed(paths); // read at once; written off the loop
    removeDaemonConfig(paths);
    await forgetting;
    assert.is(readDaemonConfig(paths), undefined);
    assert.equal(readdirSync(dir), [], "nothing left behind");
  } finally {
    removeDir(dir);
  }
});

test("forgetJoinSeed() on a full disk keeps the seed and leaves no torn copy", async () => {
  const dir = tempDir();
  // Writes start the file, then fail as on a full disk.
  const previous = useFiles({
    ...asyncFiles,
    writeFile: async (path, data, options) => {
      await asyncFiles.writeFile(path, data.slice(0, 3), options);
      throw Object.assign(new Error("ENOSPC: no space left on device, write"), { code: "ENOSPC" });
    },
  });
  try {
    const paths = statePaths(dir);
    const config = { name: "j1", address: "127.0.0.1:9001" };
    prepareDaemonConfig(paths, config, { via: "127.0.0.1:9000", state: { t: "pp" } });
    commitDaemonConfig(paths);
    let failed: unknown;
    await forgetJoinSeed(paths).catch((err) => (failed = err));
    assert.is((failed as { code?: string })?.code, "ENOSPC");
    assert.equal(readdirSync(dir), ["daemon.json"]);
    assert.equal(readJoinSeed(paths)?.via, "127.0.0.1:9000", "the seed stays");
  } finally {
    useFiles(previous);
    removeDir(dir);
  }
});

test("respellDaemonConfig() rewrites an earlier release's spelling, keeping a join's seed", async () => {
  const dir = tempDir();
  try {
    const paths = statePaths(dir);
    const seed = { via: "127.0.0.1:9000", state: { t: "pp" } };
    prepareDaemonConfig(paths, { name: "j1", address: "LOCALHOST:09001" }, seed);
    commitDaemonConfig(paths);
    const raw = () => JSON.parse(readFileSync(paths.config, "utf8")).address;
    assert.equal(await respellDaemonConfig(paths), {
      from: "LOCALHOST:09001",
      to: "localhost:9001",
    });
    assert.is(raw(), "localhost:9001");
    assert.equal(readJoinSeed(paths), seed, "the seed stays");
    assert.is(await respellDaemonConfig(paths), undefined, "nothing left to rewrite");
    assert.equal(readdirSync(dir), ["daemon.json"], "nothing left beside it");
  } finally {
    removeDir(dir);
  }
});

test.run();
