/**
 * A join refused for too few token confirmations, then tried again with the same token, must not
 * be answered "claimed by another join" (seen forming 50 members at load 50). The cause: at a
 * loaded member the claim of the refused round arrived after that round's release (the claim
 * waited for a connection while the release got through), so the member granted a claim nobody
 * would release any more, for a machine that does not exist any more (a refused joiner drops
 * its key pair; its retry is another certificate). Whole members in simulated time; the
 * admitting member's requests are delayed and reordered on the in-memory transport.
 */
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { decodeToken, encodeToken } from "../../lib/cluster/token.ts";
import type { Daemon } from "../../lib/daemon/daemon.ts";
import { CLAIM_PATH, RELEASE_PATH } from "../../lib/daemon/flows/confirm_use.ts";
import type { PeerRequest, PeerTransport } from "../../lib/daemon/peers.ts";
import { CohortError, UnavailableError } from "../../lib/errors.ts";
import { MemoryCluster } from "../helpers/memory_member.ts";

const test = suite("a token claim that arrives after its round's release");

const address = (i: number) => `10.0.0.${i}:7443`;

/** m1's way to the others: m2 cut while `cut`; m3's claims held back until m3 got a release. */
function reordering(sim: MemoryCluster, state: { cut: boolean; late: boolean }): PeerTransport {
  const held: PeerRequest[] = [];
  return {
    async request(r) {
      if (state.cut && r.address === address(2)) {
        throw new UnavailableError(`Cannot reach ${r.address}: timed out`);
      }
      if (state.late && r.address === address(3) && r.path === CLAIM_PATH) {
        held.push(r); // delivered later; m1 gives up on it
        throw new UnavailableError(`Cannot reach ${r.address}: timed out`);
      }
      const answer = await sim.peers.request(r);
      if (r.address === address(3) && r.path === RELEASE_PATH) {
        // The release got through first; now the claim it was meant to undo arrives.
        for (const late of held.splice(0)) await sim.peers.request(late).catch(() => {});
      }
      return answer;
    },
  };
}

async function join(sim: MemoryCluster, d: Daemon, token: string, at: number) {
  const only = encodeToken({ ...decodeToken(token), join_addresses: [address(at)] });
  try {
    await sim.drive(d.initialize({
      bootstrap: false,
      name: "jx",
      address: address(11),
      join_token: only,
    }));
    return "joined";
  } catch (err) {
    return err as CohortError;
  }
}

test("the refused join tried again with the same token is admitted", async () => {
  const sim = new MemoryCluster(3);
  const state = { cut: false, late: false };
  try {
    const [m1] = await sim.form(3, (i) => i === 1 ? { peers: reordering(sim, state) } : {});
    await sim.run(3000);
    const token = await sim.drive(m1.createToken("jx", 0));
    await sim.run(2000); // the token reaches every member
    const jx = await sim.start("jx");
    state.cut = state.late = true;
    const first = await join(sim, jx, token, 1);
    assert.instance(first, CohortError);
    assert.is((first as CohortError).status, 503, (first as CohortError).message);
    assert.match((first as CohortError).message, /1 of 3 did \(2 needed/);
    assert.is(jx.status(), "uninitialized");
    state.cut = state.late = false;
    await sim.run(2000);
    // Tried again at m3, which got the first round's claim after its release.
    const again = await join(sim, jx, token, 3);
    assert.is(again, "joined", again instanceof CohortError ? again.message : String(again));
  } finally {
    await sim.stop();
  }
});

test.run();
