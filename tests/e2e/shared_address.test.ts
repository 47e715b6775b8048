/**
 * Members that share one address (a cluster on one host, members behind one NAT) against a real
 * daemon: their connections count under their certificates, not under the address, so a member
 * is not refused once the address holds `HTTPS_LIMITS.maxConnectionsPerPeer` connections (a
 * member holds one or more to each other member: at 100 members on one host, every listener had
 * about 100 from 127.0.0.1). Assertions are about answers and closes, never about timing.
 */
import { suite } from "../helpers/suite.ts";
import * as assert from "uvu/assert";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { HTTPS_LIMITS } from "../../lib/net/limits.ts";
import { formCluster, type Member, stopMembers } from "../helpers/cluster.ts";
import { head, type RawConnection, tlsConnection, within } from "../helpers/raw_http.ts";

interface Ctx {
  list: Member[];
}

const test = suite<Ctx>("members sharing one address");
const opened: RawConnection[] = [];
const ANSWER_MS = 30_000;

test.before(async (ctx) => {
  ctx.list = await formCluster(["sa1", "sa2", "sa3"]);
});

test.after.each(() => {
  for (const c of opened.splice(0)) c.socket.destroy();
});

test.after(async (ctx) => {
  await stopMembers(ctx.list ?? []);
});

/** A member's own certificate and key (`DIR/server.crt|key`), as it presents them to others. */
function identity(m: Member): { cert: string; key: string } {
  return {
    cert: readFileSync(join(m.dir, "server.crt"), "utf8"),
    key: readFileSync(join(m.dir, "server.key"), "utf8"),
  };
}

/**
 * Opens a connection to `port` from 127.0.0.1 (as `as` when given) and asks `path` on it,
 * keep-alive: the answer's status, or 0 when it closed without one. The connection stays open.
 */
async function ask(
  port: number,
  path: string,
  as?: { cert: string; key: string },
): Promise<{ status: number; c: RawConnection; closed: () => boolean }> {
  const c = tlsConnection(port, "127.0.0.1", as);
  opened.push(c);
  let isClosed = false;
  void c.closed.then(() => (isClosed = true));
  await c.ready.then(() => c.socket.write(head("GET", path)), () => {});
  const { status } = await within(c.answer, ANSWER_MS, `answer to ${path}`);
  return { status, c, closed: () => isClosed };
}

test("members are answered while the address holds more than its share of connections", async ({ list }) => {
  const [m, ...others] = list;
  const each = HTTPS_LIMITS.maxConnectionsPerPeer;
  // Each member's certificate under its own cap (maxConnectionsPerMember), more than the
  // address's share in all, every connection opened at once: the last ones are admitted over
  // the address's cap before their handshakes say whose they are.
  const per = Math.min(HTTPS_LIMITS.maxConnectionsPerMember, Math.ceil((each + 5) / 3));
  const ids = [...others, m].map(identity);
  const asks = await Promise.all(
    ids.flatMap((id) => Array.from({ length: per }, () => ask(m.port, "/core/1.0/cluster", id))),
  );
  assert.ok(asks.length > each, `${asks.length} connections`);
  const statuses = asks.map((a) => a.status);
  assert.equal(statuses.filter((s) => s !== 200), [], "every member's request answered 200");
  assert.equal(asks.filter((a) => a.closed()).length, 0, "all of them still open together");
  // A client without a certificate at the same address still has its own share.
  const stranger = await ask(m.port, "/core/1.0");
  assert.is(stranger.status, 200);
});

test.run();
