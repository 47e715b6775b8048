/**
 * Issue 15: forming 50 real members beside two busy loops stopped at about the 40th join. The
 * joiner's `init --token` got no answer: the admitting member's token confirmation round
 * (`flows/confirm_use.ts`) outlasted the joiner's wait for its join request
 * (`JOIN_TIMEOUT_MS`), so the joiner gave up on that address while the member went on and
 * admitted it later, or refused and released too late: releases that did not arrive within
 * their one try left the token claimed for a machine that no longer existed, and the joiner's
 * next attempt was refused "claimed by another join".
 *
 * Whole members in simulated time (MemoryCluster), with the slowness injected: the admitting
 * member's own claim write stalls (a disk shared by fifty members, every one of them writing
 * its claim at once), or a member misses the claims and the releases for a while. Every
 * request between members is bounded by its `timeoutMs` on the simulated clock, as the HTTPS
 * transport bounds it. File operations are synchronous (`syncFiles`), so that the real time a
 * write takes on a loaded machine does not move the simulated clock: only the injected
 * slowness does.
 */
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { decodeToken, encodeToken } from "../../lib/cluster/token.ts";
import type { Daemon } from "../../lib/daemon/daemon.ts";
import { CLAIM_PATH, RELEASE_PATH } from "../../lib/daemon/flows/confirm_use.ts";
import type { PeerRequest, PeerTransport } from "../../lib/daemon/peers.ts";
import { CohortError, UnavailableError } from "../../lib/errors.ts";
import { type Files, syncFiles, useFiles } from "../../lib/files.ts";
import { MemoryCluster } from "../helpers/memory_member.ts";

const test = suite("a token confirmation round under load answers the joiner in time");

const address = (i: number) => `10.0.0.${i}:7443`;

/** `sim.peers`, each request given up after its `timeoutMs` of simulated time. */
function timed(sim: MemoryCluster, inner: PeerTransport = sim.peers): PeerTransport {
  return {
    request(r: PeerRequest) {
      return new Promise((resolve, reject) => {
        const timer = sim.clock.setTimeout(() => {
          reject(new UnavailableError(`Request ${r.path}: no answer within ${r.timeoutMs} ms`));
        }, r.timeoutMs);
        inner.request(r).then(resolve, reject).finally(() => sim.clock.clearTimeout(timer));
      });
    },
  };
}

/** The token with only member `at`'s address to join through. */
function via(token: string, at: number): string {
  return encodeToken({ ...decodeToken(token), join_addresses: [address(at)] });
}

/** `d` joins as `jx` through member `at`: `"joined"`, or the error its `init` met. */
async function join(sim: MemoryCluster, d: Daemon, token: string, at: number) {
  try {
    await sim.drive(d.initialize({
      bootstrap: false,
      name: "jx",
      address: address(11),
      join_token: via(token, at),
    }));
    return "joined";
  } catch (err) {
    return err as CohortError;
  }
}

const outcome = (r: string | CohortError) => r instanceof CohortError ? r.message : r;

let previousFiles: Files | undefined;
test.before.each(() => {
  previousFiles = useFiles(syncFiles);
});
test.after.each(() => {
  useFiles(previousFiles!);
});

test("the admitting member's own claim write stalls: the others' claims admit the joiner", async () => {
  const sim = new MemoryCluster(21);
  // m1's writes of its token claims take 20 s (longer than the joiner waits for an answer).
  const stalled: Files = {
    ...syncFiles,
    async sync(path) {
      if (path.includes("cohort-mem-m1-") && path.includes("token-claims")) {
        await new Promise<void>((r) => sim.clock.setTimeout(r, 20_000));
      }
      return syncFiles.sync(path);
    },
  };
  try {
    const [m1] = await sim.form(5, () => ({ peers: timed(sim) }));
    await sim.run(3000);
    const token = await sim.drive(m1.createToken("jx", 0));
    await sim.run(2000); // the token reaches every member
    const jx = await sim.start("jx", { peers: timed(sim) });
    useFiles(stalled);
    const result = await join(sim, jx, token, 1);
    useFiles(syncFiles);
    assert.is(outcome(result), "joined");
    assert.is(jx.status(), "online");
  } finally {
    await sim.stop();
  }
});

test("a release that could not be delivered at once is delivered later: the token admits again", async () => {
  const sim = new MemoryCluster(22);
  // m1's way to m2 and m3: while `lost`, their claims arrive but the answers are lost (a
  // loaded member answering after the round gave up), and releases do not get through.
  const state = { lost: false };
  const lossy: PeerTransport = {
    async request(r) {
      const far = r.address === address(2) || r.address === address(3);
      if (state.lost && far && r.path === RELEASE_PATH) {
        throw new UnavailableError(`Request ${r.path}: no answer within ${r.timeoutMs} ms`);
      }
      if (state.lost && far && r.path === CLAIM_PATH) {
        await sim.peers.request(r).catch(() => {});
        throw new UnavailableError(`Request ${r.path}: no answer within ${r.timeoutMs} ms`);
      }
      return sim.peers.request(r);
    },
  };
  try {
    const [m1] = await sim.form(3, (i) => ({ peers: i === 1 ? timed(sim, lossy) : timed(sim) }));
    await sim.run(3000);
    const token = await sim.drive(m1.createToken("jx", 0));
    await sim.run(2000);
    const jx = await sim.start("jx", { peers: timed(sim) });
    state.lost = true;
    const first = await join(sim, jx, token, 1);
    assert.instance(first, CohortError);
    assert.is((first as CohortError).status, 503, outcome(first));
    assert.match(outcome(first), /must confirm the token's single use/);
    assert.is(jx.status(), "uninitialized");
    // The members come back; the operator tries again as told (the joiner has a new key pair).
    state.lost = false;
    await sim.run(30_000);
    const again = await join(sim, jx, token, 1);
    assert.is(outcome(again), "joined");
  } finally {
    await sim.stop();
  }
});

test.run();
