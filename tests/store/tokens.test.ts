import { suite } from "uvu";
import * as assert from "uvu/assert";
import { ConflictError, InvalidInputError } from "../../lib/errors.ts";
import { openStore, type Store } from "../../lib/store/open.ts";
import {
  consumeToken,
  hashTokenSecret,
  insertToken,
  listTokens,
  purgeExpired,
  revokeToken,
} from "../../lib/store/tokens.ts";
import { fileUrl, rejection, tempDir } from "./helpers.ts";

const test = suite<{ store: Store }>("store/tokens", { store: undefined as unknown as Store });

test.before.each(async (ctx) => {
  ctx.store = await openStore({ url: ":memory:" });
});
test.after.each((ctx) => {
  ctx.store.close();
});

const NOW = 1_700_000_000_000;
const HASH_A = hashTokenSecret("secret-a");
const HASH_B = hashTokenSecret("secret-b");

test("hashTokenSecret is SHA-256 hex", () => {
  assert.is(
    hashTokenSecret("abc"),
    "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
  );
});

test("insert stores only the hash; list returns unexpired tokens by name", async ({ store }) => {
  const a = await insertToken(store, { name: "c2", secretHash: HASH_A, expiresAt: NOW + 1000 });
  assert.equal(a, { id: a.id, name: "c2", secretHash: HASH_A, expiresAt: NOW + 1000 });
  await insertToken(store, { name: "b1", secretHash: HASH_B });
  await insertToken(store, {
    name: "old",
    secretHash: hashTokenSecret("x"),
    expiresAt: NOW - 1,
  });
  const raw = await store.client.execute("SELECT * FROM core_token_records");
  assert.not.match(JSON.stringify(raw.rows), /secret-a/);
  assert.equal((await listTokens(store, NOW)).map((t) => [t.name, t.expiresAt]), [
    ["b1", null],
    ["c2", NOW + 1000],
  ]);
  // at the expiry instant the token is no longer valid
  assert.equal((await listTokens(store, NOW + 1000)).map((t) => t.name), ["b1"]);
});

test("a raw secret is refused without being echoed", async ({ store }) => {
  const err = await rejection(insertToken(store, { name: "c2", secretHash: "secret-a" }));
  assert.instance(err, InvalidInputError);
  assert.not.match(err.message, /secret-a/);
  assert.instance(await rejection(consumeToken(store, "secret-a", NOW)), InvalidInputError);
});

test("consume is single-use and refuses expired tokens", async ({ store }) => {
  await insertToken(store, { name: "c2", secretHash: HASH_A, expiresAt: NOW + 1000 });
  await insertToken(store, { name: "c3", secretHash: HASH_B, expiresAt: NOW });
  const got = await consumeToken(store, HASH_A, NOW);
  assert.is(got?.name, "c2");
  assert.is(await consumeToken(store, HASH_A, NOW), undefined);
  assert.is(await consumeToken(store, HASH_B, NOW), undefined);
  // the expired one stays until purged
  assert.is(await purgeExpired(store, NOW), 1);
  assert.is(await purgeExpired(store, NOW), 0);
});

test("two concurrent consumers: exactly one wins (file database, pooled connections)", async () => {
  const tmp = tempDir();
  const store = await openStore({ url: fileUrl(tmp.dir) });
  // a second client on the same file plays another daemon process
  const other = await openStore({ url: fileUrl(tmp.dir) });
  try {
    for (let round = 0; round < 20; round++) {
      const hash = hashTokenSecret(`s${round}`);
      await insertToken(store, { name: `t${round}`, secretHash: hash });
      const results = await Promise.all(
        Array.from({ length: 4 }, (_, i) => consumeToken(i % 2 ? other : store, hash, NOW)),
      );
      assert.is(results.filter((r) => r !== undefined).length, 1, `round ${round}`);
    }
  } finally {
    store.close();
    other.close();
    tmp.remove();
  }
});

test("revoke deletes by name", async ({ store }) => {
  await insertToken(store, { name: "c2", secretHash: HASH_A });
  assert.is(await revokeToken(store, "c2"), true);
  assert.is(await revokeToken(store, "c2"), false);
  assert.equal(await listTokens(store, NOW), []);
});

test("a duplicate hash is a ConflictError that does not leak the hash", async ({ store }) => {
  await insertToken(store, { name: "c2", secretHash: HASH_A });
  const err = await rejection(insertToken(store, { name: "c3", secretHash: HASH_A }));
  assert.instance(err, ConflictError);
  assert.is(
    err.message,
    'Insert token "c3": another record already has the same "secret_hash" (core_token_records.secret_hash)',
  );
  assert.not.match(err.message, HASH_A);
  assert.not.match(String((err as Error & { cause?: Error }).cause?.message), HASH_A);
  const dupName = await rejection(insertToken(store, { name: "c2", secretHash: HASH_B }));
  assert.instance(dupName, ConflictError);
  assert.match(dupName.message, /"name"/);
  assert.not.match(dupName.message, HASH_B);
});

test.run();
