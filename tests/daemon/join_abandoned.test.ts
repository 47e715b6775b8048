/**
 * The admitting member and a joiner that stopped waiting (its request's connection closed, so
 * the request's signal aborted) during the claim round: the joiner is refused, with the reason,
 * and its token is not consumed, so the same joiner's next request is admitted. Before, a member
 * starved of CPU admitted joiners that had given up (issue 15: at N = 100, one admitted 8 s after
 * its joiner's request timed out), leaving a half-joined member listed.
 */
import process from "node:process";
import { suite } from "../helpers/suite.ts";
import * as assert from "uvu/assert";
import { createMember, type Daemon, silentLogger } from "../../mod.ts";
import { inProcessIssuer } from "../../lib/net/cert_issuer.ts";
import { decodeToken } from "../../lib/cluster/token.ts";
import { generateCertificate } from "../../lib/net/certificates.ts";
import { UnavailableError } from "../../lib/errors.ts";
import { freePort, removeDir, tempDir } from "../helpers/process.ts";

const test = suite<{ daemon?: Daemon; dir?: string }>("a joiner that stopped waiting");

test.after.each(async (ctx) => {
  await ctx.daemon?.stop();
  if (ctx.dir) removeDir(ctx.dir);
});

test("is refused after the claim round, and its token still admits it", async (ctx) => {
  const a = await bootstrapped(ctx);
  const request = await joinRequest(a, "j");
  const gone = new AbortController();
  gone.abort();
  const err = await a.acceptJoin(request, gone.signal).then(() => undefined, (e: unknown) => e);
  assert.instance(err, UnavailableError, String(err));
  assert.match((err as Error).message, "the joiner stopped waiting");
  assert.equal((await a.clusterMembers()).map((m) => m.name), ["a"]);
  const admitted = await a.acceptJoin(request);
  assert.equal(admitted.cluster_members.map((m) => m.name).sort(), ["a", "j"]);
});

test("that stops waiting while its admission is written is taken out again", async (ctx) => {
  const a = await bootstrapped(ctx);
  const request = await joinRequest(a, "j");
  const gone = new AbortController();
  // The admission is announced before this member's store has it: the joiner's request ends
  // then, while the write is under way (as a joiner's did whose wait ran out during a slow
  // write, issue 15: it stayed listed as joining and its retry was refused "already exists").
  const off = a.on("member-join", ({ name }) => {
    if (name === "j") gone.abort();
  });
  const err = await a.acceptJoin(request, gone.signal).then(() => undefined, (e: unknown) => e);
  off();
  assert.ok(gone.signal.aborted, "the joiner stopped waiting during the admission");
  assert.instance(err, UnavailableError, String(err));
  assert.match((err as Error).message, "the joiner stopped waiting");
  assert.equal((await a.clusterMembers()).map((m) => m.name), ["a"]);
  // Its retry with a fresh token is admitted under the same name.
  const again = await joinRequest(a, "j");
  const admitted = await a.acceptJoin(again);
  assert.equal(admitted.cluster_members.map((m) => m.name).sort(), ["a", "j"]);
});

/** A bootstrapped member `a` in a state directory of its own, stopped after the test. */
async function bootstrapped(ctx: { daemon?: Daemon; dir?: string }): Promise<Daemon> {
  ctx.dir = tempDir("cohort-abandoned-");
  const a = ctx.daemon = await createMember({
    stateDir: ctx.dir,
    extensions: ["feature_a"],
    gossipPreset: "local",
    logger: process.env.DEBUG_E2E ? undefined : silentLogger,
    // Key pairs made here (this file loads the X.509 library for its joiners' certificates
    // anyway), not in a certificate process per member: under Node that process boots the
    // test's TypeScript loader and the library's sources, 0.7 s of CPU each.
    certificateIssuer: inProcessIssuer,
  });
  await a.initialize({ bootstrap: true, name: "a", address: `127.0.0.1:${await freePort()}` });
  return a;
}

/** A join request of a new machine `name` with a fresh token of `a`. */
async function joinRequest(a: Daemon, name: string) {
  const token = decodeToken(await a.createToken(name, 0));
  const cert = await generateCertificate({ name, addresses: ["127.0.0.1"] });
  const [own] = await a.clusterMembers();
  return {
    name,
    address: `127.0.0.1:${await freePort()}`,
    certificate: cert.cert,
    schema_internal_version: own.schema_internal_version,
    schema_external_version: own.schema_external_version,
    extensions: own.extensions,
    app_version: "0.0.0",
    secret: token.secret,
  };
}

test.run();
