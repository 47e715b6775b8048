/**
 * What the disk fault files share: a suite that prints its members' last log lines when a test
 * fails, members whose state directory is a file system of its own (a small tmpfs, an ext4 file
 * system on a loop device), the teardown that unmounts those before the directories go, and the
 * checks every case ends with (the roster a member lists, its database's integrity).
 *
 * Needs root (mount, losetup); the files register their cases through `faultTest`.
 *
 * @module
 */
import { createClient } from "@libsql/client";
import { readdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import type { Test } from "uvu";
import * as assert from "uvu/assert";
import {
  daemonsLastLines,
  type Member,
  members,
  newMember,
  startMember,
  stop,
  stopMembers,
} from "../helpers/cluster.ts";
import { tempWriter } from "../../lib/temp_name.ts";
import { suite } from "../helpers/suite.ts";
import { forget, onExit } from "./cleanup.ts";
import { sh } from "./system.ts";

/** A file system mounted under a member's state directory, by one of this module's mounts. */
export interface Mounted {
  /** Unmounts it (lazily: a daemon may still hold it) and removes what backs it. */
  remove(): void;
}

/** A disk fault file's suite and the members of its test under way. */
export interface DiskSuite {
  test: Test;
  /** The members of the test under way (emptied before each), for its failure report. */
  current: Member[];
  /** A new member named `name` (in {@link current}), started. */
  member(name: string): Promise<Member>;
  /**
   * A new member named `name` (in {@link current}) whose state directory is the file system
   * `mount` puts there, started; the mount is removed if the start fails.
   */
  memberOn<M extends Mounted>(name: string, mount: (dir: string) => M): Promise<[Member, M]>;
}

/** A suite titled `title` whose failure report holds the last lines of its members' daemons. */
export function diskSuite(title: string): DiskSuite {
  const current: Member[] = [];
  const test = suite(title, {}, () => `daemons' last lines:\n${daemonsLastLines(current, 40)}`);
  test.before.each(() => void current.splice(0));
  return {
    test,
    current,
    async member(name) {
      const m = await newMember(name);
      current.push(m);
      return await startMember(m);
    },
    async memberOn(name, mount) {
      const m = await newMember(name);
      current.push(m);
      const mounted = mount(m.dir);
      try {
        return [await startMember(m), mounted];
      } catch (err) {
        mounted.remove();
        throw err;
      }
    },
  };
}

/** Stops `list`, removes what was mounted (before the directories are removed), removes them. */
export async function teardown(list: Member[], mounted: Mounted[]): Promise<void> {
  await Promise.all(list.map((m) => stop(m).catch(() => {})));
  for (const fs of mounted) fs.remove();
  await stopMembers(list);
}

/** The members `m` lists, as `name:STATUS`. */
export async function names(m: Member): Promise<string[]> {
  return (await members(m)).map((e) => `${e.name}:${e.status}`);
}

/** Asserts that the database of `m` (stopped) passes SQLite's integrity check. */
export async function assertIntact(m: Member): Promise<void> {
  const db = createClient({ url: `file:${join(m.dir, "database", "cohort.db")}` });
  try {
    const check = await db.execute("PRAGMA integrity_check");
    assert.equal(check.rows.map((row) => row[0]), ["ok"], `${m.name}'s database`);
  } finally {
    db.close();
  }
}

/** What a member whose disk is full tells a client (the CLI prints it after "Error: "). */
export const NO_SPACE = /No space left on the member's disk/;

/**
 * Fills the file system of `dir` with `dir/filler*` until at most `leave` bytes are left for half
 * a second: the daemon beside may still write, or remove a file its join no longer needs.
 */
export async function fill(dir: string, leave = 0): Promise<void> {
  const avail = () => Number(sh("df", ["-B1", "--output=avail", dir]).out.trim().split("\n").pop());
  for (let i = 0; i < 20; i++) {
    const left = avail();
    if (left > leave) {
      const file = join(dir, `filler${i}`);
      if (!sh("fallocate", ["-l", String(left - leave), file]).ok && leave === 0) {
        sh("dd", ["if=/dev/zero", `of=${file}`, "bs=4k"]); // stops at ENOSPC
      }
      continue;
    }
    await sleep(500);
    if (avail() <= leave) return;
  }
  assert.ok(avail() <= leave, `at most ${leave} bytes left on ${dir}: ${avail()}`);
}

/** Makes room again: removes what {@link fill} wrote in `dir`. */
export function unfill(dir: string): void {
  for (const f of readdirSync(dir)) if (f.startsWith("filler")) rmSync(join(dir, f));
}

/** Temporary files a write left behind in `dir` (a torn write of a full disk). */
export function leftovers(dir: string): string[] {
  return readdirSync(dir).filter((f) => tempWriter(f) !== undefined);
}

/** A tmpfs of `size` mounted on `dir`, an empty directory. */
export function tmpfs(dir: string, size: string): Mounted {
  const r = sh("mount", ["-t", "tmpfs", "-o", `size=${size},mode=0700`, "tmpfs", dir]);
  assert.ok(r.ok, `mount tmpfs on ${dir}: ${r.err}`);
  const undo = () => void sh("umount", ["-l", dir]);
  const id = onExit(undo);
  return {
    remove() {
      undo();
      forget(id);
    },
  };
}

/** An ext4 file system of its own under a member's state directory. */
export interface Ext4 extends Mounted {
  /** The loop device it is mounted from. */
  readonly device: string;
  /** Breaks it as an I/O error does: ext4 remounts it read-only. */
  fail(): void;
  /**
   * Unmounts it, repairs it with `e2fsck` and mounts it again, writable (the daemon stopped);
   * `fix` runs between the unmount and the check (a failing device replaced).
   */
  repair(fix?: () => void): void;
}

/**
 * Mounts an ext4 file system (`errors=remount-ro`) on `dir`, an empty directory: a new 32 MB one
 * in `dir.ext4`, or the one made in `image` (a file another file system may serve: see
 * `failing_disk.ts`), which {@link Ext4.remove} leaves.
 */
export function ext4(dir: string, image?: string): Ext4 {
  const file = image ?? `${dir}.ext4`;
  // A loop device of our own for each mount, detached at each unmount: `mount -o loop` could
  // reuse the device of the mount before, still attached, whose cache e2fsck bypassed (the file
  // system then came back read-only once in four runs).
  let device = "";
  const mount = () => {
    const loop = sh("losetup", ["--find", "--show", file]);
    assert.ok(loop.ok, `losetup ${file}: ${loop.err}`);
    device = loop.out.trim();
    const r = sh("mount", ["-o", "errors=remount-ro", device, dir]);
    assert.ok(r.ok, `mount ${device} on ${dir}: ${r.err}`);
    sh("chmod", ["0700", dir]);
  };
  const unmount = (lazy: boolean) => {
    const r = sh("umount", lazy ? ["-l", dir] : [dir]);
    sh("losetup", ["-d", device]);
    return r;
  };
  if (image === undefined) makeExt4(file);
  const remove = () => {
    unmount(true);
    if (image === undefined) rmSync(file, { force: true });
  };
  const id = onExit(remove);
  mount();
  return {
    get device() {
      return device;
    },
    fail() {
      const name = device.split("/").pop();
      writeFileSync(`/sys/fs/ext4/${name}/trigger_fs_error`, "cohort fault test\n");
      assert.throws(() => writeFileSync(join(dir, "probe"), "x"), /EROFS/, "read-only now");
    },
    repair(fix) {
      const r = unmount(false);
      assert.ok(r.ok, `umount ${dir}: ${r.err}`);
      fix?.();
      const fsck = sh("e2fsck", ["-f", "-y", file]);
      assert.ok(fsck.ok || /FILE SYSTEM WAS MODIFIED/.test(fsck.out), `e2fsck: ${fsck.out}`);
      mount();
      const writable = sh("touch", [join(dir, "probe")]);
      assert.ok(writable.ok, `writable again: ${writable.err}\ne2fsck: ${fsck.out}`);
    },
    remove() {
      remove();
      forget(id);
    },
  };
}

/** Makes a new 32 MB ext4 file system in the file `image`. */
export function makeExt4(image: string): void {
  assert.ok(sh("truncate", ["-s", "32M", image]).ok, `truncate ${image}`);
  const made = sh("mkfs.ext4", ["-q", "-F", image]);
  assert.ok(made.ok, `mkfs.ext4: ${made.err}`);
}
