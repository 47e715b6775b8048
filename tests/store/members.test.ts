import { TransactionRollbackError } from "drizzle-orm";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { ConflictError, NotFoundError } from "../../lib/errors.ts";
import {
  deleteMember,
  getMember,
  insertMember,
  listMembers,
  type NewMember,
  respellMemberAddresses,
  updateMember,
  upsertMembers,
} from "../../lib/store/members.ts";
import { openStore, type Store } from "../../lib/store/open.ts";
import { rejection } from "./helpers.ts";

const test = suite<{ store: Store }>("store/members", { store: undefined as unknown as Store });

test.before.each(async (ctx) => {
  ctx.store = await openStore({ url: ":memory:" });
});
test.after.each((ctx) => {
  ctx.store.close();
});

const m = (name: string, extra: Partial<NewMember> = {}): NewMember => ({
  name,
  address: `10.0.0.${name.length}:9000`,
  certificate: `CERT ${name}`,
  ...extra,
});

test("insert fills defaults and returns the stored member", async ({ store }) => {
  const got = await insertMember(store, m("alpha"));
  assert.equal(got, {
    id: got.id,
    name: "alpha",
    address: "10.0.0.5:9000",
    certificate: "CERT alpha",
    schemaInternal: 0,
    schemaExternal: 0,
    heartbeat: 0,
    role: "PENDING",
    extensions: [],
    appVersion: "",
  });
  assert.type(got.id, "number");
  assert.equal(await getMember(store, "alpha"), got);
  assert.is(await getMember(store, "nobody"), undefined);
});

test("extensions round-trip as a JSON array in SQL", async ({ store }) => {
  const extensions = ["internal:runtime_extension_v1", "app_one", 'with "quotes"'];
  await insertMember(store, m("alpha", { extensions, role: "voter", appVersion: "1.2.3" }));
  const raw = await store.client.execute(
    "SELECT api_extensions, role, app_version FROM core_cluster_members",
  );
  assert.is(raw.rows[0][0], JSON.stringify(extensions));
  assert.is(raw.rows[0][1], "voter");
  assert.is(raw.rows[0][2], "1.2.3");
  assert.equal((await getMember(store, "alpha"))?.extensions, extensions);
});

test("a hand-edited, malformed api_extensions reads as an empty list", async ({ store }) => {
  await insertMember(store, m("alpha", { extensions: ["x"] }));
  await store.client.execute("UPDATE core_cluster_members SET api_extensions = 'not json'");
  assert.equal((await getMember(store, "alpha"))?.extensions, []);
});

test("an address a row of an earlier release holds reads in its one spelling", async ({ store }) => {
  await insertMember(store, m("alpha", { address: "127.0.0.1:09101" }));
  await insertMember(store, m("beta", { address: "[0:0:0:0:0:0:0:1]:9102" }));
  const raw = await store.client.execute("SELECT address FROM core_cluster_members ORDER BY name");
  assert.equal(raw.rows.map((r) => r[0]), ["127.0.0.1:09101", "[0:0:0:0:0:0:0:1]:9102"]);
  const read = (await listMembers(store)).map((x) => x.address);
  assert.equal(read, ["127.0.0.1:9101", "[::1]:9102"]);
});

test("rows an earlier release wrote are rewritten in their one spelling, the others left alone", async ({ store }) => {
  await insertMember(store, m("alpha", { address: "127.0.0.1:09101" }));
  await insertMember(store, m("beta", { address: "LOCALHOST:9102" }));
  await insertMember(store, m("gamma", { address: "10.0.0.5:9103", heartbeat: 7 }));
  assert.is(await respellMemberAddresses(store), 2);
  const raw = await store.client.execute(
    "SELECT address, heartbeat FROM core_cluster_members ORDER BY name",
  );
  assert.equal(raw.rows.map((r) => [r[0], r[1]]), [
    ["127.0.0.1:9101", 0],
    ["localhost:9102", 0],
    ["10.0.0.5:9103", 7],
  ]);
  assert.is(await respellMemberAddresses(store), 0, "nothing left to rewrite");
});

test("list is ordered by name", async ({ store }) => {
  for (const name of ["charlie", "alpha", "bravo"]) await insertMember(store, m(name));
  assert.equal((await listMembers(store)).map((x) => x.name), ["alpha", "bravo", "charlie"]);
});

test("duplicate name or certificate is a ConflictError naming the column", async ({ store }) => {
  await insertMember(store, m("alpha"));
  const dupName = await rejection(insertMember(store, m("alpha", { certificate: "other" })));
  assert.instance(dupName, ConflictError);
  assert.match(dupName.message, /"name".*core_cluster_members\.name/);
  const dupCert = await rejection(insertMember(store, m("beta", { certificate: "CERT alpha" })));
  assert.instance(dupCert, ConflictError);
  assert.match(dupCert.message, /^Insert cluster member "beta": .*"certificate"/);
  assert.not.match(dupCert.message, /CERT alpha/);
});

test("update changes only the given fields; unknown name is NotFound", async ({ store }) => {
  await insertMember(store, m("alpha", { extensions: ["a"] }));
  const got = await updateMember(store, "alpha", {
    heartbeat: 1234,
    role: "voter",
    extensions: ["a", "b"],
  });
  assert.is(got.heartbeat, 1234);
  assert.is(got.role, "voter");
  assert.equal(got.extensions, ["a", "b"]);
  assert.is(got.address, "10.0.0.5:9000");
  assert.equal(await updateMember(store, "alpha", {}), got);
  const err = await rejection(updateMember(store, "ghost", { heartbeat: 1 }));
  assert.instance(err, NotFoundError);
  assert.is(err.message, 'Update cluster member "ghost": no such member');
});

test("delete reports whether a row went", async ({ store }) => {
  await insertMember(store, m("alpha"));
  assert.is(await deleteMember(store, "alpha"), true);
  assert.is(await deleteMember(store, "alpha"), false);
  assert.equal(await listMembers(store), []);
});

test("upsert inserts and updates in one batch, keeping fields it was not given", async ({ store }) => {
  await insertMember(store, m("alpha", { heartbeat: 500, role: "voter", extensions: ["x"] }));
  const written = await upsertMembers(store, [
    { name: "alpha", address: "10.1.1.1:1", certificate: "CERT alpha", heartbeat: 900 },
    m("bravo", { role: "spare", extensions: ["y"] }),
    m("bravo", { role: "stand-by", extensions: ["z"] }),
  ]);
  assert.is(written, 2);
  const [alpha, bravo] = await listMembers(store);
  assert.is(alpha.address, "10.1.1.1:1");
  assert.is(alpha.heartbeat, 900);
  assert.is(alpha.role, "voter");
  assert.equal(alpha.extensions, ["x"]);
  assert.is(bravo.role, "stand-by");
  assert.equal(bravo.extensions, ["z"]);
});

test("upsert is all or nothing", async ({ store }) => {
  await insertMember(store, m("alpha"));
  const err = await rejection(upsertMembers(store, [
    m("bravo"),
    m("charlie", { certificate: "CERT alpha" }),
  ]));
  assert.instance(err, ConflictError);
  assert.equal((await listMembers(store)).map((x) => x.name), ["alpha"]);
});

test("upsert handles batches larger than one statement", async ({ store }) => {
  const rows = Array.from({ length: 1234 }, (_, i) =>
    m(`n${String(i).padStart(4, "0")}`, {
      certificate: `C${i}`,
      heartbeat: i,
    }));
  assert.is(await upsertMembers(store, rows), 1234);
  const all = await listMembers(store);
  assert.is(all.length, 1234);
  assert.is(all[1233].heartbeat, 1233);
  assert.is(await upsertMembers(store, []), 0);
});

test("repository functions run inside a caller's transaction", async ({ store }) => {
  const err = await rejection(store.db.transaction(async (tx) => {
    await insertMember({ db: tx }, m("alpha"));
    assert.is((await listMembers({ db: tx })).length, 1);
    tx.rollback();
  }));
  assert.instance(err, TransactionRollbackError);
  assert.equal(await listMembers(store), []);
});

test.run();
