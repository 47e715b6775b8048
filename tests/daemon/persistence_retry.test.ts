/**
 * The view's persistence: what a flush could not write is written by the next one. A removed
 * member's row is deleted even when the first delete fails (it used to be forgotten, leaving a
 * removed member in the store for good).
 */
import * as assert from "uvu/assert";
import { systemClock } from "../../lib/cluster/membership.ts";
import { MEMBER_RECORD } from "../../lib/cluster/roster.ts";
import { silentLogger } from "../../lib/log.ts";
import { ViewPersistence } from "../../lib/daemon/persistence.ts";
import type { ClusterView } from "../../lib/daemon/view.ts";
import { insertMember, listMembers } from "../../lib/store/members.ts";
import { openStore, type Store } from "../../lib/store/open.ts";
import { coreClusterMembers } from "../../lib/store/schema.ts";
import { suite } from "../helpers/suite.ts";

const test = suite<{ store: Store }>("view persistence");

test.before.each(async (ctx) => {
  ctx.store = await openStore({ url: ":memory:" });
  await insertMember(ctx.store, { name: "m1", address: "10.0.0.1:7443", certificate: "c1" });
  await insertMember(ctx.store, { name: "m2", address: "10.0.0.2:7443", certificate: "c2" });
});
test.after.each(({ store }) => store.close());

test("a removed member's row whose delete failed is deleted by the next flush", async ({ store }) => {
  let failures = 1;
  const db = new Proxy(store.db, {
    get(target, property, receiver) {
      const value = Reflect.get(target, property, receiver);
      if (property !== "delete") return value;
      return (table: unknown) => {
        if (table === coreClusterMembers && failures > 0) {
          failures--;
          throw Object.assign(new Error("disk I/O error"), { code: "SQLITE_IOERR" });
        }
        return value.call(target, table);
      };
    },
  });
  const persistence = new ViewPersistence({
    store: { ...store, db },
    view: {} as ClusterView,
    clock: { ...systemClock, now: () => 1_000 },
    entries: () => [],
    logger: silentLogger,
  });
  persistence.onChange({
    kind: "record",
    record: { kind: MEMBER_RECORD, key: "m2", value: null, version: 2, origin: "m1" },
    previous: { kind: MEMBER_RECORD, key: "m2", value: {}, version: 1, origin: "m1" },
    removed: { name: "m2", hadJoined: true },
  });
  // A roster change starts a flush at once (it fails to delete); this one follows it.
  await persistence.flush();
  assert.is(failures, 0, "the first delete failed");
  assert.equal((await listMembers(store)).map((m) => m.name), ["m1"]);
});

test.run();
