/**
 * The join request over the token's addresses: a refusal proves that nothing was admitted only
 * when no address before it went unanswered (one that did not answer may have admitted the
 * joiner and been killed before its answer came back).
 */
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { UnavailableError } from "../../lib/errors.ts";
import { silentLogger } from "../../lib/log.ts";
import { JoinRefusedError, requestJoin } from "../../lib/daemon/join.ts";
import type { PeerAnswer, PeerTransport } from "../../lib/daemon/peers.ts";

const test = suite("join request");

/** Peers answering by address: a status, or a throw (not reached). */
function peers(answers: Record<string, number | "down">): PeerTransport {
  return {
    request({ address }): Promise<PeerAnswer> {
      const a = answers[address];
      if (a === "down") return Promise.reject(new UnavailableError(`Cannot reach ${address}`));
      return Promise.resolve({
        status: a,
        body: { type: "error", error: "Join refused: the token's use is not confirmed" },
      });
    },
  };
}

const token = {
  secret: "a".repeat(64),
  fingerprint: "b".repeat(64),
  join_addresses: ["10.0.0.1:7443", "10.0.0.2:7443"],
};
const request = {
  name: "x3",
  address: "10.0.0.3:7443",
  certificate: "PEM",
  schema_internal_version: 1,
  schema_external_version: 0,
  extensions: [],
};

async function refusal(answers: Record<string, number | "down">): Promise<JoinRefusedError> {
  try {
    await requestJoin(peers(answers), token, request, { cert: "", key: "" }, silentLogger);
  } catch (err) {
    if (err instanceof JoinRefusedError) return err;
    throw err;
  }
  throw new Error("the join was not refused");
}

test("a refusal from the first address proves that nothing was admitted", async () => {
  const err = await refusal({ "10.0.0.1:7443": 403, "10.0.0.2:7443": 403 });
  assert.equal(err.skipped, []);
});

test("a refusal after an address that did not answer names that address", async () => {
  // The first member may have admitted the joiner and been killed before answering.
  const err = await refusal({ "10.0.0.1:7443": "down", "10.0.0.2:7443": 503 });
  assert.is(err.skipped.length, 1);
  assert.match(err.skipped[0], /^10\.0\.0\.1:7443 /);
  assert.is(err.status, 503);
});

test.run();
