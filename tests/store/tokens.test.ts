import { suite } from "uvu";
import * as assert from "uvu/assert";
import { hashSecret } from "../../lib/cluster/token.ts";
import { ConflictError, InvalidInputError } from "../../lib/errors.ts";
import { openStore, type Store } from "../../lib/store/open.ts";
import { listTokens, replaceTokens } from "../../lib/store/tokens.ts";
import { rejection } from "./helpers.ts";

const test = suite<{ store: Store }>("store/tokens", { store: undefined as unknown as Store });

test.before.each(async (ctx) => {
  ctx.store = await openStore({ url: ":memory:" });
});
test.after.each((ctx) => {
  ctx.store.close();
});

const NOW = 1_700_000_000_000;
const HASH_A = hashSecret("secret-a");
const HASH_B = hashSecret("secret-b");

test("replaceTokens() stores only hashes; listTokens() returns unexpired ones by name", async ({ store }) => {
  await replaceTokens(store, [
    { name: "c2", secretHash: HASH_A, expiresAt: NOW + 1000 },
    { name: "b1", secretHash: HASH_B },
    { name: "old", secretHash: hashSecret("x"), expiresAt: NOW - 1 },
  ]);
  const raw = await store.client.execute("SELECT * FROM core_token_records");
  assert.is(raw.rows.length, 3);
  assert.not.match(JSON.stringify(raw.rows), /secret-a/);
  assert.equal((await listTokens(store, NOW)).map((t) => [t.name, t.secretHash, t.expiresAt]), [
    ["b1", HASH_B, null],
    ["c2", HASH_A, NOW + 1000],
  ]);
  // at the expiry instant the token is no longer valid
  assert.equal((await listTokens(store, NOW + 1000)).map((t) => t.name), ["b1"]);
});

test("replaceTokens() rewrites the whole table", async ({ store }) => {
  await replaceTokens(store, [{ name: "c2", secretHash: HASH_A }]);
  await replaceTokens(store, [{ name: "c3", secretHash: HASH_B }]);
  assert.equal((await listTokens(store, NOW)).map((t) => t.name), ["c3"]);
  await replaceTokens(store, []);
  assert.equal(await listTokens(store, NOW), []);
});

test("a raw secret is refused without being echoed, and nothing is written", async ({ store }) => {
  await replaceTokens(store, [{ name: "keep", secretHash: HASH_B }]);
  const err = await rejection(replaceTokens(store, [
    { name: "c1", secretHash: HASH_A },
    { name: "c2", secretHash: "secret-a" },
  ]));
  assert.instance(err, InvalidInputError);
  assert.not.match(err.message, /secret-a/);
  assert.equal((await listTokens(store, NOW)).map((t) => t.name), ["keep"]);
});

test("a duplicate name is a ConflictError that leaves the table as it was", async ({ store }) => {
  await replaceTokens(store, [{ name: "keep", secretHash: HASH_B }]);
  const err = await rejection(replaceTokens(store, [
    { name: "c2", secretHash: HASH_A },
    { name: "c2", secretHash: hashSecret("other") },
  ]));
  assert.instance(err, ConflictError);
  assert.not.match(err.message, new RegExp(HASH_A));
  assert.equal((await listTokens(store, NOW)).map((t) => t.name), ["keep"]);
});

test.run();
