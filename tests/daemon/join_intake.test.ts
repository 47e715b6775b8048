/**
 * Issue 15: a joiner takes in the admitting member's view of N members in its first moments,
 * while every member starts probing it; work there that grows as N² held its event loop past
 * the probe timeout at N = 50 (it was suspected by all as it joined). Counted through the
 * joiner's gossip handle, on whole members in simulated time: how often the joiner read the
 * whole roster, and how often it read a member's gossip state (what roles and the gate do once
 * per view change), over its whole join.
 */
import { suite } from "uvu";
import * as assert from "uvu/assert";
import type { GossipFactory, GossipHandle } from "../../lib/daemon/gossip_port.ts";
import { MEMBER_RECORD } from "../../lib/cluster/roster.ts";
import { memberAddress, MemoryCluster } from "../helpers/memory_member.ts";

const test = suite("a joiner's intake of the cluster's view");

/** Calls of a joiner's gossip handle during its join. */
interface Reads {
  /** `records("member")`: the whole roster read. */
  roster: number;
  /** `member(name)`: one member's gossip state. */
  member: number;
}

/** Forms `n` members, then joins one more, counting its gossip handle's reads meanwhile. */
async function joinAfter(n: number): Promise<Reads> {
  const sim = new MemoryCluster(7);
  try {
    const members = await sim.form(n);
    await sim.run(2000);
    const reads: Reads = { roster: 0, member: 0 };
    const counted: GossipFactory = (setup) => {
      const handle = sim.gossip(setup);
      return new Proxy(handle, {
        get(target, prop, receiver) {
          const v = Reflect.get(target, prop, receiver);
          if (prop === "records") {
            return (kind: string) => {
              if (kind === MEMBER_RECORD) reads.roster++;
              return (v as GossipHandle["records"]).call(target, kind);
            };
          }
          if (prop === "member") {
            return (name: string) => {
              reads.member++;
              return (v as GossipHandle["member"]).call(target, name);
            };
          }
          return v;
        },
      });
    };
    const joiner = await sim.start("jx", { gossip: counted });
    const token = await sim.drive(members[0].createToken("jx", 0));
    await sim.drive(joiner.initialize({
      bootstrap: false,
      name: "jx",
      address: memberAddress(n + 1),
      join_token: token,
    }));
    assert.is(joiner.status(), "online");
    return reads;
  } finally {
    await sim.stop();
  }
}

test("the joiner builds its roster a fixed number of times and reads each member O(1) times, whatever N", async () => {
  const small = await joinAfter(6);
  const large = await joinAfter(12);
  // Per record taken in, the roster was rebuilt (O(N) loads, each of N records) and roles
  // re-decided over every member (O(N²) member reads).
  assert.ok(
    large.roster <= small.roster + 1,
    `roster loads ${small.roster} at 6, ${large.roster} at 12`,
  );
  const perMember = (r: Reads, n: number) => r.member / (n + 1);
  assert.ok(
    perMember(large, 12) <= perMember(small, 6) * 1.25 + 1,
    `member reads ${small.member} at 6, ${large.member} at 12`,
  );
});

test.run();
