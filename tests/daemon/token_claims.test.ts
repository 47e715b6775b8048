/**
 * A member's claims on join tokens: one machine per token, kept across restarts (a new instance
 * on the same state directory), released only by the machine that holds it, dropped once the
 * token is settled. A claim whose write failed (a full disk) was never granted: it is dropped,
 * so the joiner's next try, from a machine with a new key, is not refused; a claim granted
 * before stays held when a later write for it fails.
 */
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { SimClock } from "../../gossip/sim_clock.ts";
import { statePaths } from "../../lib/daemon/state_dir.ts";
import {
  claimsFile,
  removeClaims,
  type TokenClaim,
  TokenClaims,
} from "../../lib/daemon/token_claims.ts";
import { ForbiddenError, UnavailableError } from "../../lib/errors.ts";
import { files, useFiles } from "../../lib/files.ts";
import { silentLogger } from "../../lib/log.ts";

interface Ctx {
  dir: string;
}

const test = suite<Ctx>("token claims");

test.before.each((ctx) => {
  ctx.dir = mkdtempSync(join(tmpdir(), "cohort-claims-"));
});

test.after.each((ctx) => {
  rmSync(ctx.dir, { recursive: true, force: true });
});

const clock = new SimClock(Date.UTC(2026, 0, 1));
const open = (dir: string) => new TokenClaims(statePaths(dir), clock, silentLogger);
const never = () => false;
const machine = (n: number, hash = "a".repeat(64)): TokenClaim => ({
  hash,
  name: "jx",
  address: `10.0.0.${n}:7443`,
  fingerprint: String(n).repeat(64).slice(0, 64),
});

/** Asserts that `p` rejects with an error `check` accepts. */
async function rejects(p: Promise<unknown>, check: (err: unknown) => boolean): Promise<void> {
  let error: unknown;
  await p.then(() => {}, (err) => (error = err));
  assert.ok(error !== undefined, "it did not reject");
  assert.ok(check(error), `rejected with ${error}`);
}

test("one machine per token, across a restart", async ({ dir }) => {
  await open(dir).grant(machine(1), never);
  await open(dir).grant(machine(1), never); // the same machine again: a retry
  assert.is(statSync(claimsFile(statePaths(dir))).mode & 0o777, 0o600);
  const restarted = open(dir);
  await rejects(
    restarted.grant(machine(2), never),
    (err: unknown) =>
      err instanceof ForbiddenError &&
      err.message ===
        'Join token is claimed by another join of "jx" (address 10.0.0.1:7443): if that join ' +
          "failed, revoke the token and issue another",
  );
  await restarted.grant(machine(2, "b".repeat(64)), never); // another token is free
  assert.equal(restarted.holder("a".repeat(64))?.address, "10.0.0.1:7443");
});

test("only the holder releases; then another machine may claim", async ({ dir }) => {
  const claims = open(dir);
  await claims.grant(machine(1), never);
  assert.is(await claims.release(machine(2)), false);
  await rejects(open(dir).grant(machine(2), never), (e) => /claimed by another join/.test(`${e}`));
  assert.is(await claims.release(machine(1)), true);
  await open(dir).grant(machine(2), never);
  assert.is(open(dir).holder("a".repeat(64))?.address, "10.0.0.2:7443");
});

test("a claim on a settled token (used, revoked, expired) is dropped", async ({ dir }) => {
  await open(dir).grant(machine(1), never);
  const claims = open(dir);
  await claims.grant(machine(2), (hash) => hash === "a".repeat(64));
  assert.is(claims.holder("a".repeat(64))?.address, "10.0.0.2:7443");
});

/** Makes the claims file's writes fail (a full disk) until undone. */
function failWrites(dir: string): () => void {
  const target = claimsFile(statePaths(dir));
  const previous = files();
  useFiles({
    ...previous,
    writeFile: (path, data, options) =>
      path.startsWith(`${target}.`)
        ? Promise.reject(Object.assign(new Error("no space left on device"), { code: "ENOSPC" }))
        : previous.writeFile(path, data, options),
  });
  return () => void useFiles(previous);
}

test("a claim whose write failed was never granted: another machine may claim the token", async ({ dir }) => {
  const claims = open(dir);
  const undo = failWrites(dir);
  await rejects(claims.grant(machine(1), never), (e) => (e as { code?: string }).code === "ENOSPC");
  undo();
  await claims.grant(machine(2), never);
  assert.is(claims.holder("a".repeat(64))?.address, "10.0.0.2:7443");
  assert.is(open(dir).holder("a".repeat(64))?.address, "10.0.0.2:7443", "durable");
});

test("a claim granted before stays held when a retry's write fails", async ({ dir }) => {
  const claims = open(dir);
  await claims.grant(machine(1), never);
  const undo = failWrites(dir);
  await rejects(claims.grant(machine(1), never), (e) => (e as { code?: string }).code === "ENOSPC");
  undo();
  await rejects(claims.grant(machine(2), never), (e) => e instanceof ForbiddenError);
  // Read back from the file too: a restart holds it.
  await rejects(open(dir).grant(machine(2), never), (e) => e instanceof ForbiddenError);
});

test("a reset removes the claims", async ({ dir }) => {
  await open(dir).grant(machine(1), never);
  removeClaims(statePaths(dir));
  await open(dir).grant(machine(2), never);
});

test("claims granted at once are each durable once granted, and one machine wins a token", async ({ dir }) => {
  const claims = open(dir);
  const hashes = ["c", "d", "e", "f"].map((h) => h.repeat(64));
  const outcomes = await Promise.allSettled([
    ...hashes.map((hash, i) => claims.grant(machine(i + 1, hash), never)),
    claims.grant(machine(9, hashes[0]), never), // another machine, the same token: refused
  ]);
  assert.equal(outcomes.map((o) => o.status), [
    "fulfilled",
    "fulfilled",
    "fulfilled",
    "fulfilled",
    "rejected",
  ]);
  // What a restart reads: every granted claim, the first machine holding the contested token.
  const restarted = open(dir);
  for (const [i, hash] of hashes.entries()) {
    assert.is(restarted.holder(hash)?.address, `10.0.0.${i + 1}:7443`);
  }
  const released = await Promise.all([
    claims.release(machine(2, hashes[1])),
    claims.grant(machine(5, "9".repeat(64)), never),
  ]);
  assert.is(released[0], true);
  assert.is(open(dir).holder(hashes[1]), undefined);
  assert.is(open(dir).holder("9".repeat(64))?.address, "10.0.0.5:7443");
});

test("a claim arriving after its round's release is refused; a retry's round is not", async ({ dir }) => {
  const claims = open(dir);
  const round = (r: string) => ({ ...machine(1), round: r.repeat(32) });
  // The release of round a overtook its claim (a loaded member): the claim, late, is refused.
  assert.is(await claims.release(round("a")), false);
  await rejects(claims.grant(round("a"), never), (e) => e instanceof UnavailableError);
  assert.is(claims.holder(machine(1).hash), undefined, "nothing held for a round that ended");
  // The same machine tries again: a new round, granted.
  await claims.grant(round("b"), never);
  // A late release of the ended round leaves the retry's claim alone; its own release ends it.
  assert.is(await claims.release(round("a")), false);
  assert.is(claims.holder(machine(1).hash)?.round, "b".repeat(32));
  assert.is(await claims.release(round("b")), true);
  assert.is(claims.holder(machine(1).hash), undefined);
});

test("a claim two rounds of one machine counted ends with the release of both, in any order", async ({ dir }) => {
  const claims = open(dir);
  const round = (r: string) => ({ ...machine(1), round: r.repeat(32) });
  // Round a (at one admitting member) gave up; the machine asked through another member, whose
  // round b counted this claim too. Round a's release, late, must not end round b's claim.
  await claims.grant(round("a"), never);
  await claims.grant(round("b"), never);
  assert.is(await claims.release(round("a")), false);
  assert.is(open(dir).holder(machine(1).hash)?.fingerprint, machine(1).fingerprint);
  await rejects(claims.grant(machine(2), never), (e) => e instanceof ForbiddenError);
  assert.is(await claims.release(round("b")), true);
  assert.is(claims.holder(machine(1).hash), undefined);
  // The other order, across a restart.
  await claims.grant(round("c"), never);
  await claims.grant(round("d"), never);
  assert.is(await open(dir).release(round("d")), false);
  const restarted = open(dir);
  assert.ok(restarted.holder(machine(1).hash));
  assert.is(await restarted.release(round("c")), true);
  assert.is(open(dir).holder(machine(1).hash), undefined);
});

test.run();
