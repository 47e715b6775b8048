/**
 * End to end, with real daemon processes: a member's port taken by another process between the
 * moment it was chosen and `cohort init`. The operator is told which address and why, nothing
 * is half-written (the member can be initialised at another port), and the join token is not
 * spent. The test helpers rely on this to move a member whose port a busy machine gave away
 * (`bootstrap`, `joinVia` and `bootstrapAndJoin` in `tests/helpers/cluster.ts`).
 */
import { createServer, type Server } from "node:net";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import {
  allOnline,
  bootstrap,
  isClean,
  issueToken,
  join_,
  joinVia,
  type Member,
  members,
  newMember,
  run,
  startMember,
  stopMembers,
} from "../helpers/cluster.ts";
import { freePort } from "../helpers/process.ts";

const test = suite("e2e: a member's port taken before init");

/** Listens on `port` at 127.0.0.1, as another process would. */
async function hold(port: number): Promise<Server> {
  const server = createServer();
  await new Promise<void>((done, fail) => {
    server.once("error", fail);
    server.listen(port, "127.0.0.1", () => done());
  });
  return server;
}

const close = (s: Server) => new Promise<void>((done) => s.close(() => done()));

test("init on a taken port names the address, writes nothing, and spends no token", async () => {
  const list: Member[] = [];
  const held: Server[] = [];
  try {
    const a = await newMember("a");
    const b = await newMember("b");
    list.push(a, b);
    await Promise.all([startMember(a), startMember(b)]);

    // Through the CLI as an operator runs it (the helpers' bootstrap would move `a`).
    held.push(await hold(a.port));
    const refused = await run(a, ["init", "a", a.address, "--bootstrap"]);
    assert.is(refused.code, 1, refused.stderr);
    assert.match(refused.stderr, `Listen on "${a.address}"`);
    assert.match(refused.stderr, "EADDRINUSE");
    assert.ok(isClean(a), "nothing of the refused bootstrap stays in a's state directory");
    const again = await freePort();
    const boot = await run(a, ["init", "a", `127.0.0.1:${again}`, "--bootstrap"]);
    assert.is(boot.code, 0, boot.stderr);
    a.port = again;
    a.address = `127.0.0.1:${again}`;

    held.push(await hold(b.port));
    const token = await issueToken(a, "b");
    const joinRefused = await join_(b, token);
    assert.is(joinRefused.code, 1, joinRefused.stderr);
    assert.match(joinRefused.stderr, `Listen on "${b.address}"`);
    assert.ok(isClean(b), "nothing of the refused join stays in b's state directory");
    b.port = await freePort();
    b.address = `127.0.0.1:${b.port}`;
    const joined = await join_(b, token);
    assert.is(joined.code, 0, `the same token joins at another port: ${joined.stderr}`);
    await allOnline([a, b], ["a", "b"]);
  } finally {
    await Promise.all(held.map(close));
    await stopMembers(list);
  }
});

test("the test helpers move a member whose port was taken, and say so", async () => {
  const list: Member[] = [];
  const held: Server[] = [];
  try {
    const a = await newMember("a");
    const b = await newMember("b");
    list.push(a, b);
    await Promise.all([startMember(a), startMember(b)]);
    const [portA, portB] = [a.port, b.port];
    held.push(await hold(portA), await hold(portB));
    await bootstrap(a);
    await joinVia(a, b);
    assert.is.not(a.port, portA);
    assert.is.not(b.port, portB);
    const listed = (await members(a)).map((e) => `${e.name}@${e.address}`).sort();
    assert.equal(listed, [`a@${a.address}`, `b@${b.address}`]);
  } finally {
    await Promise.all(held.map(close));
    await stopMembers(list);
  }
});

test.run();
