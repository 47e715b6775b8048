/**
 * Writes from different parts of a member never wait on each other's write lock with the event
 * loop held. libSQL's busy wait is synchronous: a write that meets a lock held by an interactive
 * transaction of the same process blocks the event loop until the busy timeout, so the
 * transaction can never finish, and the write fails "the database is busy". A member met this
 * when its app migrations ran (at an upgrade's opening) while its view was being saved.
 */
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { upsertMembers } from "../../lib/store/members.ts";
import { openStore } from "../../lib/store/open.ts";
import { replaceTokens } from "../../lib/store/tokens.ts";
import { saveRecords } from "../../lib/store/records.ts";
import { fileUrl, tempDir } from "./helpers.ts";

const test = suite("store: concurrent writes");

const members = (n: number, round: number) =>
  Array.from({ length: n }, (_, i) => ({
    name: `m${i}`,
    address: `10.0.${i >> 8}.${i & 255}:7443`,
    certificate: `CERT m${i}`,
    heartbeat: round,
  }));

test("saving the view, the tokens and the records beside a migration: none fails busy", async () => {
  const { dir, remove } = tempDir();
  const store = await openStore({ url: fileUrl(dir), busyTimeoutMs: 200 });
  try {
    for (let round = 1; round <= 20; round++) {
      await Promise.all([
        upsertMembers(store, members(300, round)),
        replaceTokens(store, [{ name: `t${round}`, secretHash: "a".repeat(64) }]),
        saveRecords(store, [{
          kind: "k",
          key: `r${round}`,
          value: round,
          version: round,
          origin: "m1",
        }], 0),
        store.client.migrate([`CREATE TABLE IF NOT EXISTS app_${round} (id integer)`]),
      ]);
    }
    const rows = await store.client.execute("SELECT count(*) AS n FROM core_cluster_members");
    assert.is(Number(rows.rows[0].n), 300);
  } finally {
    store.close();
    remove();
  }
});

test.run();
