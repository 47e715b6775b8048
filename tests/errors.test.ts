/**
 * The error family's readings of a fault through a `cause` chain: the system's code names the
 * fault more exactly than cohort's own wrapper around it (a removal on a read-only file system
 * said "failed a write (read-only or failing)" once the sync's EROFS came wrapped in a DiskError).
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { descriptorFault, DiskError, diskFault, isNoSpace, NoSpaceError } from "../lib/errors.ts";

const fsError = (code: string) => Object.assign(new Error(`${code}: failed`), { code });

test("diskFault names the system's code under cohort's own, and cohort's own alone", () => {
  assert.is(diskFault(new DiskError("Sync", { cause: fsError("EROFS") })), "EROFS");
  assert.is(diskFault(new DiskError("Sync", { cause: fsError("EIO") })), "EIO");
  assert.is(diskFault(new DiskError("Sync")), "E_DISK");
  assert.is(diskFault(fsError("EROFS")), "EROFS");
  assert.is(diskFault(new Error("x", { cause: new DiskError("y") })), "E_DISK");
  assert.is(diskFault(fsError("ENOENT")), undefined);
  assert.is(diskFault("EIO"), undefined);
});

test("a full disk is told through the chain, by the system's code or cohort's own", () => {
  assert.ok(isNoSpace(new NoSpaceError("Write")));
  assert.ok(isNoSpace(new Error("Write", { cause: fsError("ENOSPC") })));
  assert.not.ok(isNoSpace(new DiskError("Write", { cause: fsError("EIO") })));
});

test("the chain is read 5 deep at most", () => {
  let err: Error = fsError("EROFS");
  for (let i = 0; i < 5; i++) err = new Error(`wrap ${i}`, { cause: err });
  assert.is(diskFault(err), undefined);
  assert.is(descriptorFault(new Error("x", { cause: fsError("EMFILE") })), "EMFILE");
});

test.run();
