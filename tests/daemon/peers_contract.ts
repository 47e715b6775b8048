/**
 * The contract every PeerTransport keeps (lib/daemon/peers.ts): a request reaches the peer's
 * handler as an HTTPS request from this member's certificate, and its answer comes back with
 * its status and parsed body; a peer that does not present the pinned certificate is refused
 * before anything is sent; an address where nothing listens is unreachable.
 */
import * as assert from "uvu/assert";
import type { suite } from "uvu";
import { ForbiddenError, UnavailableError } from "../../lib/errors.ts";
import type { KeyPair } from "../../lib/net/certificates.ts";
import type { Handler } from "../../lib/daemon/options.ts";
import { NOTIFIER_AGENT, type PeerTransport } from "../../lib/daemon/peers.ts";

/** One implementation under test. */
export interface PeerWorld {
  transport: PeerTransport;
  /** Serves `handler` at a new address presenting `cert`; returns the address and a stop. */
  serve(cert: KeyPair, handler: Handler): Promise<{ address: string; stop(): Promise<void> }>;
  /** An address where nothing listens. */
  nowhere(): Promise<string>;
}

/** Registers the contract's tests on `test`. */
export function peersContract(
  test: ReturnType<typeof suite>,
  world: () => Promise<PeerWorld>,
  keys: () => { cluster: KeyPair; member: KeyPair; other: KeyPair },
): void {
  test("a request reaches the handler with the caller's certificate, and its answer comes back", async () => {
    const w = await world();
    const { cluster, member } = keys();
    const seen: {
      method: string;
      path: string;
      body: unknown;
      fp?: string;
      agent: string | null;
    }[] = [];
    const peer = await w.serve(cluster, async (request, caller) => {
      const url = new URL(request.url);
      seen.push({
        method: request.method,
        path: url.pathname + url.search,
        body: request.method === "GET" ? null : await request.json(),
        fp: caller.peerFingerprint,
        agent: request.headers.get("user-agent"),
      });
      return Response.json({ type: "sync", metadata: { ok: true } }, { status: 202 });
    });
    try {
      const answer = await w.transport.request({
        address: peer.address,
        method: "PUT",
        path: "/core/internal/cluster/m2?force=1",
        body: { force: true },
        headers: { "user-agent": NOTIFIER_AGENT },
        fingerprint: cluster.fingerprint,
        identity: member,
        timeoutMs: 5000,
      });
      assert.is(answer.status, 202);
      assert.equal(answer.body, { type: "sync", metadata: { ok: true } });
      assert.equal(seen, [{
        method: "PUT",
        path: "/core/internal/cluster/m2?force=1",
        body: { force: true },
        fp: member.fingerprint,
        agent: NOTIFIER_AGENT,
      }]);
    } finally {
      await peer.stop();
    }
  });

  test("a peer that does not present the pinned certificate is refused, nothing sent", async () => {
    const w = await world();
    const { cluster, member, other } = keys();
    let called = 0;
    const peer = await w.serve(other, () => {
      called++;
      return Promise.resolve(Response.json({}));
    });
    try {
      const err = await w.transport.request({
        address: peer.address,
        method: "GET",
        path: "/core/1.0",
        fingerprint: cluster.fingerprint,
        identity: member,
        timeoutMs: 5000,
      }).then(() => undefined, (e: unknown) => e);
      assert.instance(err, ForbiddenError);
      assert.is(called, 0);
    } finally {
      await peer.stop();
    }
  });

  test("kept connections: requests naming them and the peer's certificate are answered, and a certificate without the pinned fingerprint is refused", async () => {
    const w = await world();
    const { cluster, member, other } = keys();
    let called = 0;
    const peer = await w.serve(cluster, () => {
      called++;
      return Promise.resolve(Response.json({ type: "sync", metadata: called }));
    });
    const kept = w.transport.connections!();
    try {
      const ask = (peerCert: string) =>
        w.transport.request({
          address: peer.address,
          method: "POST",
          path: "/core/internal/tokens/claim",
          body: {},
          fingerprint: cluster.fingerprint,
          identity: member,
          timeoutMs: 5000,
          peerCert,
          connections: kept,
        });
      assert.equal((await ask(cluster.cert)).body, { type: "sync", metadata: 1 });
      assert.equal((await ask(cluster.cert)).body, { type: "sync", metadata: 2 });
      const err = await ask(other.cert).then(() => undefined, (e: unknown) => e);
      assert.instance(err, ForbiddenError);
      assert.is(called, 2);
      kept.retain([]);
      assert.equal((await ask(cluster.cert)).body, { type: "sync", metadata: 3 });
    } finally {
      kept.close();
      await peer.stop();
    }
  });

  test("an address where nothing listens is unreachable", async () => {
    const w = await world();
    const { cluster, member } = keys();
    const err = await w.transport.request({
      address: await w.nowhere(),
      method: "GET",
      path: "/core/1.0",
      fingerprint: cluster.fingerprint,
      identity: member,
      timeoutMs: 5000,
    }).then(() => undefined, (e: unknown) => e);
    assert.instance(err, UnavailableError);
  });
}
