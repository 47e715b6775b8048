/**
 * A member's own leave path, driven in process through the daemon's public seams: a reset that
 * fails in the background (here: its own tombstone refused by the gossip layer) is logged and
 * never ends the process with an unhandled rejection.
 */
import process from "node:process";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { createGossipMember } from "../../gossip/member_factory.ts";
import { MEMBER_RECORD } from "../../lib/cluster/roster.ts";
import { startDaemon } from "../../lib/daemon/daemon.ts";
import type { GossipFactory } from "../../lib/daemon/gossip_port.ts";
import { InvalidInputError } from "../../lib/errors.ts";
import { createLogger } from "../../lib/log.ts";
import { inProcessIssuer } from "../../lib/net/cert_issuer.ts";
import { createRouter } from "../../routes/router.ts";
import { freePort, removeDir, tempDir } from "../helpers/process.ts";

const test = suite("member reset");

/** The production gossip member, except that writing a member tombstone throws. */
const refusingTombstones: GossipFactory = (setup) => {
  const gossip = createGossipMember(setup);
  const setRecord = gossip.setRecord.bind(gossip);
  gossip.setRecord = (kind, key, value, options) => {
    if (kind === MEMBER_RECORD && value === null) {
      throw new InvalidInputError("Invalid record: tombstone refused by the test");
    }
    return setRecord(kind, key, value, options);
  };
  return gossip;
};

test("a reset that throws in the background is logged and does not end the process", async () => {
  const dir = tempDir();
  const lines: Record<string, unknown>[] = [];
  const unhandled: unknown[] = [];
  const onUnhandled = (err: unknown) => void unhandled.push(err);
  process.on("unhandledRejection", onUnhandled);
  const daemon = await startDaemon({
    stateDir: dir,
    gossip: refusingTombstones,
    gossipPreset: "local",
    handler: (service) => createRouter(service),
    certificateIssuer: inProcessIssuer,
    logger: createLogger({ level: "info", write: (l) => void lines.push(JSON.parse(l)) }),
  });
  try {
    await daemon.initialize({
      bootstrap: true,
      name: "t1",
      address: `127.0.0.1:${await freePort()}`,
    });
    await daemon.resetSelf(false);
    const until = Date.now() + 3000;
    while (Date.now() < until && !lines.some((l) => l.level === 50)) {
      await new Promise((r) => setTimeout(r, 20));
    }
    assert.equal(unhandled, [], "the reset's failure went unhandled");
    const errors = lines.filter((l) => l.level === 50).map((l) =>
      `${l.msg}: ${JSON.stringify(l.err)}`
    );
    assert.ok(
      errors.some((e) => e.includes("tombstone refused by the test")),
      `the failure is logged: ${JSON.stringify(errors)}`,
    );
  } finally {
    process.off("unhandledRejection", onUnhandled);
    await daemon.stop();
    removeDir(dir);
  }
});

test.run();
