/**
 * `Store.flush` (`flush_log.ts`) while another connection reads the database, as an operator's
 * `sqlite3` session or a backup does: the checkpoint answered "busy" and synced nothing, and
 * the flush resolved as if the commits were stored. With a real daemon (its stop's exit status
 * on a failing disk), see `tests/faults/disk_stop.fault.ts`.
 */
import { statSync } from "node:fs";
import { type Client, createClient, type Transaction } from "@libsql/client";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { diskFault, isCohortError } from "../../lib/errors.ts";
import { asyncFiles, type Files, useFiles } from "../../lib/files.ts";
import { openStore } from "../../lib/store/open.ts";
import { count, fileUrl, rejection, tempDir } from "./helpers.ts";

const test = suite("store/flush_log");

const INSERT = (name: string) =>
  `INSERT INTO core_cluster_members (name, address, certificate) VALUES ('${name}', 'a:1', 'c')`;

/** A second connection to `url` holding a read transaction, as `BEGIN; SELECT …` does. */
async function holdRead(url: string): Promise<{ close(): void }> {
  const client: Client = createClient({ url });
  const tx: Transaction = await client.transaction("read");
  await tx.execute("SELECT count(*) FROM core_cluster_members");
  return {
    close() {
      tx.close();
      client.close();
    },
  };
}

/** Runs `body` with the process's file operations recording (or failing) each sync. */
async function withSyncs<T>(
  body: (synced: string[]) => Promise<T>,
  fail?: (path: string) => Error,
): Promise<T> {
  const synced: string[] = [];
  const previous = useFiles(
    {
      ...asyncFiles,
      sync: (path: string) => {
        synced.push(path);
        return fail ? Promise.reject(fail(path)) : asyncFiles.sync(path);
      },
    } satisfies Files,
  );
  try {
    return await body(synced);
  } finally {
    useFiles(previous);
  }
}

test("no other reader: the log is copied in and emptied, nothing else synced", async () => {
  const tmp = tempDir();
  try {
    const url = fileUrl(tmp.dir);
    const store = await openStore({ url });
    try {
      await store.client.execute(INSERT("m1"));
      await withSyncs(async (synced) => {
        assert.equal(await store.flush(), { logKept: false });
        assert.equal(synced, [], "the checkpoint synced the log itself");
      });
      assert.is(statSync(`${url.slice("file:".length)}-wal`).size, 0);
    } finally {
      store.close();
    }
  } finally {
    tmp.remove();
  }
});

test("a reader's open transaction: the log is synced and kept, and the next open has it", async () => {
  const tmp = tempDir();
  try {
    const url = fileUrl(tmp.dir);
    const log = `${url.slice("file:".length)}-wal`;
    const store = await openStore({ url });
    const reader = await holdRead(url);
    try {
      await store.client.execute(INSERT("m1"));
      await withSyncs(async (synced) => {
        // It resolved as if stored, with the commit's frames never synced.
        assert.equal(await store.flush(), { logKept: true });
        assert.equal(synced, [log], "the log itself was synced");
      });
      assert.ok(statSync(log).size > 0, "the log still holds the commit");
    } finally {
      store.close();
      reader.close();
    }
    const again = await openStore({ url });
    try {
      assert.is(await count(again.client, "core_cluster_members"), 1);
    } finally {
      again.close();
    }
  } finally {
    tmp.remove();
  }
});

test("a reader's open transaction and a failing disk: the flush fails as the disk's fault", async () => {
  const tmp = tempDir();
  try {
    const url = fileUrl(tmp.dir);
    const store = await openStore({ url });
    const reader = await holdRead(url);
    try {
      await store.client.execute(INSERT("m1"));
      const err = await withSyncs(
        () => rejection(store.flush()),
        (path) => Object.assign(new Error(`EIO: i/o error, fsync '${path}'`), { code: "EIO" }),
      );
      assert.ok(isCohortError(err), String(err));
      assert.is((err as { status?: number }).status, 507);
      assert.ok(diskFault(err) !== undefined, "a disk fault, as the stop's outcome reads it");
      assert.match((err as Error).message, /^Sync the database's log: the disk of its state/);
      assert.not.match((err as Error).message, tmp.dir, "no path");
    } finally {
      store.close();
      reader.close();
    }
  } finally {
    tmp.remove();
  }
});

test.run();
