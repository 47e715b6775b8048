/**
 * End to end, with real member daemons on loopback: `cohort cluster remove` run on another
 * member, the removed member's certificate distrusted by the internal API and the gossip
 * listener of every member, `--force` for a killed member, and the removals that are refused.
 */
import { suite } from "../helpers/suite.ts";
import * as assert from "uvu/assert";
import WebSocket from "ws";
import { fingerprint } from "../../lib/net/certificates.ts";
import { requestJson } from "../../lib/net/client.ts";
import { pinnedTlsOptions } from "../../lib/net/pin.ts";
import {
  api,
  eventually,
  formCluster,
  isClean,
  kill,
  type Member,
  members,
  run,
  stateFile,
  stopMembers,
} from "../helpers/cluster.ts";

interface Identity {
  cert: string;
  key: string;
}

interface Ctx {
  cluster: Member[];
  /** The cluster certificate (what every member serves). */
  clusterCert: string;
  /** r2's identity, kept from before its removal. */
  removed: Identity;
  /** r1's identity: a member in good standing, the control case. */
  member: Identity;
}

const test = suite<Ctx>("remove end to end");

test.before(async (ctx) => {
  ctx.cluster = await formCluster(["r1", "r2", "r3", "r4"]);
  const [r1, r2] = ctx.cluster;
  ctx.clusterCert = stateFile(r1, "cluster.crt");
  ctx.removed = { cert: stateFile(r2, "server.crt"), key: stateFile(r2, "server.key") };
  ctx.member = { cert: stateFile(r1, "server.crt"), key: stateFile(r1, "server.key") };
});

test.after(async (ctx) => {
  await stopMembers(ctx.cluster ?? []);
});

function tls(ctx: Ctx, who: Identity) {
  return pinnedTlsOptions({
    fingerprint: fingerprint(ctx.clusterCert),
    peerCert: ctx.clusterCert,
    cert: who.cert,
    key: who.key,
  });
}

/** `GET /core/1.0/cluster` over HTTPS on `m`, presenting `who`'s certificate. */
async function internalApi(ctx: Ctx, m: Member, who: Identity) {
  return await requestJson({
    method: "GET",
    url: `https://${m.address}/core/1.0/cluster`,
    tls: tls(ctx, who),
    timeoutMs: 5000,
  });
}

/** The HTTP status answering a gossip WebSocket upgrade on `m` presenting `who`'s certificate. */
function gossipUpgrade(ctx: Ctx, m: Member, who: Identity): Promise<number> {
  return new Promise((done, fail) => {
    // No address header: a trusted caller gets a 400 for it, an untrusted one a 403 before that.
    const ws = new WebSocket(`wss://${m.address}/core/internal/gossip`, { ...tls(ctx, who) });
    ws.on("unexpected-response", (_req, res) => {
      done(res.statusCode ?? 0);
      ws.terminate();
    });
    ws.on("open", () => {
      done(101);
      ws.terminate();
    });
    ws.on("error", (err) => fail(err));
  });
}

test("cluster remove run on another member removes it, and the removed member becomes uninitialised", async (ctx) => {
  const [r1, r2, r3, r4] = ctx.cluster;
  const r = await run(r1, ["cluster", "remove", "r2"]);
  assert.is(r.code, 0, r.stderr);
  await eventually("r2 to be uninitialised", async () => {
    const info = await api(r2, "GET", "/core/1.0");
    return info.body.metadata.address === "" && isClean(r2);
  });
  const info = await api(r2, "GET", "/core/1.0");
  assert.is(info.body.metadata.ready, false);
  const list = await run(r2, ["cluster", "list"]);
  assert.is.not(list.code, 0);
  assert.match(list.stderr, "Database is not yet initialized");
  for (const m of [r1, r3, r4]) {
    await eventually(`r2 gone from ${m.name}'s view`, async () => {
      const names = (await members(m)).map((e) => e.name);
      return names.join(",") === "r1,r3,r4";
    });
  }
});

test("the removed member's certificate is refused by the internal API of every member", async (ctx) => {
  const [r1, , r3, r4] = ctx.cluster;
  for (const m of [r1, r3, r4]) {
    const ok = await internalApi(ctx, m, ctx.member);
    assert.is(ok.status, 200, `a member's certificate is accepted by ${m.name}`);
    const res = await eventually(`a 403 for r2 on ${m.name}`, async () => {
      const a = await internalApi(ctx, m, ctx.removed);
      return a.status === 403 ? a : false;
    }, 5000);
    assert.match(
      (res.body as { error: string }).error,
      "Client certificate is not trusted by this cluster",
    );
  }
});

test("the removed member's certificate is refused by the gossip listener of every member", async (ctx) => {
  const [r1, , r3, r4] = ctx.cluster;
  for (const m of [r1, r3, r4]) {
    assert.is(await gossipUpgrade(ctx, m, ctx.member), 400, "a member passes the trust check");
    const status = await eventually(
      `a 403 upgrade for r2 on ${m.name}`,
      async () => (await gossipUpgrade(ctx, m, ctx.removed)) === 403,
      5000,
    );
    assert.ok(status);
  }
});

test("a killed member cannot be removed without --force, and is removed with it", async (ctx) => {
  const [r1, , r3, r4] = ctx.cluster;
  await kill(r3);
  const plain = await run(r4, ["cluster", "remove", "r3"]);
  assert.is.not(plain.code, 0);
  assert.match(plain.stderr, `Cannot reach member "r3" at ${r3.address}: use --force`);
  const forced = await run(r4, ["cluster", "remove", "r3", "--force"]);
  assert.is(forced.code, 0, forced.stderr);
  for (const m of [r1, r4]) {
    await eventually(`r3 gone from ${m.name}'s view`, async () => {
      return (await members(m)).map((e) => e.name).join(",") === "r1,r4";
    });
  }
});

test("removing a name that does not exist is refused", async (ctx) => {
  const r = await run(ctx.cluster[0], ["cluster", "remove", "nosuch"]);
  assert.is.not(r.code, 0);
  assert.match(r.stderr, 'No member named "nosuch"');
});

test("removing the last member is refused", async (ctx) => {
  const [r1, , , r4] = ctx.cluster;
  const r = await run(r1, ["cluster", "remove", "r4"]);
  assert.is(r.code, 0, r.stderr);
  await eventually("r4 to be uninitialised", () => Promise.resolve(isClean(r4)));
  const last = await run(r1, ["cluster", "remove", "r1"]);
  assert.is.not(last.code, 0);
  assert.match(last.stderr, 'Cannot remove "r1": it is the last member of the cluster');
  assert.is((await members(r1)).map((e) => e.name).join(","), "r1");
});

test.run();
