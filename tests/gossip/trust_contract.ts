/**
 * The contract every {@link Trust} honours, as one uvu suite: signatures that only their signer
 * makes and that never verify for another signer, payload or non-member; membership; vouching
 * only by the admitting member of a pending join; names behind authenticated peers; and a
 * sealed local write that another member's trust accepts. Never an exception, whatever a peer
 * sends as a signature.
 *
 * `trust.test.ts` runs it against the roster's trust (real keys) and the simulation's.
 *
 * @module
 */
import { suite } from "uvu";
import * as assert from "uvu/assert";
import type { ReplicatedRecord } from "../../lib/cluster/replicated_record.ts";
import type { Trust } from "../../lib/cluster/trust.ts";

/**
 * A cluster of two members as each sees it: "a" (which admitted "b") and "b" (its join still
 * pending); "c" is not a member.
 */
export interface TrustWorld {
  readonly a: Trust;
  readonly b: Trust;
  /** The transport identity of a member (what `nameOf` maps back). */
  identityOf(name: "a" | "b"): string;
  /** A record "a" writes about itself (before {@link Trust.seal}), and the one it replaces. */
  readonly ownRecord: ReplicatedRecord;
  readonly heldOwn: ReplicatedRecord | undefined;
}

/** Registers and runs the contract suite for one implementation. */
export function runTrustContract(name: string, makeWorld: () => Promise<TrustWorld>): void {
  const test = suite(`trust contract: ${name}`);

  test("a member's signature verifies for it alone, over its payload alone", async () => {
    const { a, b } = await makeWorld();
    const sig = a.sign("payload");
    assert.ok(b.verify("a", "payload", sig), "b verifies a's signature");
    assert.ok(a.verify("a", "payload", sig), "a verifies its own");
    assert.not.ok(b.verify("a", "payload!", sig), "another payload");
    assert.not.ok(b.verify("b", "payload", sig), "another signer");
    assert.not.ok(b.verify("c", "payload", sig), "a non-member");
    assert.ok(a.verify("b", "x", b.sign("x")));
  });

  test("whatever a peer sends as a signature is refused, never thrown", async () => {
    const { b } = await makeWorld();
    const junk = ["", "AAAA", "!!!", "x".repeat(10_000), "sim.1", "\u0000", "a".repeat(86)];
    for (const sig of junk) assert.not.ok(b.verify("a", "payload", sig), JSON.stringify(sig));
    assert.not.ok(b.verify("a", "payload", 42 as unknown as string));
  });

  test("members are the admitted; only the admitting member vouches for a pending join", async () => {
    const { a, b } = await makeWorld();
    for (const t of [a, b]) {
      assert.ok(t.isMember("a") && t.isMember("b"));
      assert.not.ok(t.isMember("c"));
      assert.ok(t.mayVouch("a", "b"), "a admitted b");
      assert.not.ok(t.mayVouch("b", "a"), "b admitted nobody");
      assert.not.ok(t.mayVouch("c", "b"), "c is no member");
    }
  });

  test("an authenticated peer's identity names its member; anything else names nobody", async () => {
    const w = await makeWorld();
    assert.is(w.b.nameOf(w.identityOf("a")), "a");
    assert.is(w.a.nameOf(w.identityOf("b")), "b");
    assert.is(w.a.nameOf("nobody"), undefined);
    assert.is(w.a.nameOf(""), undefined);
  });

  test("a member's sealed write of its own record is accepted by another member", async () => {
    const w = await makeWorld();
    const sealed = w.a.seal(w.ownRecord);
    assert.is(sealed.kind, w.ownRecord.kind);
    assert.is(sealed.version, w.ownRecord.version);
    assert.is(w.b.recordProblem(sealed, w.heldOwn, false), undefined);
  });

  test.run();
}
