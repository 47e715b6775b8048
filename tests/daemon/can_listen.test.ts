/**
 * `DaemonEnvironment.canListen`, one contract for both worlds (the system's and the in-memory
 * one): a free address passes and stays free, an address another listener holds is refused as
 * `listen` would refuse it. A join asks it before it spends its token (`tests/e2e/port_taken`
 * plays that with real daemons).
 */
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { systemClock } from "../../lib/cluster/clock.ts";
import {
  type DaemonEnvironment,
  memoryEnvironment,
  type NetListener,
  systemEnvironment,
} from "../../lib/daemon/environment.ts";
import { MemoryPeers } from "../../lib/daemon/memory_peers.ts";
import { UnavailableError } from "../../lib/errors.ts";
import { silentLogger } from "../../lib/log.ts";
import { generateCertificate } from "../../lib/net/certificates.ts";
import { freePort } from "../helpers/process.ts";

const worlds: [string, () => DaemonEnvironment][] = [
  ["system", () => systemEnvironment],
  ["memory", () => memoryEnvironment(new MemoryPeers(), systemClock, Math.random)],
];

/** Listens on 127.0.0.1:`port` as a member would. */
async function listenOn(env: DaemonEnvironment, port: number): Promise<NetListener> {
  const pair = await generateCertificate({ name: "c", addresses: ["127.0.0.1"] });
  return await env.listen({
    host: "127.0.0.1",
    port,
    address: `127.0.0.1:${port}`,
    cert: pair.cert,
    key: pair.key,
    handler: () => Promise.resolve(new Response(null, { status: 204 })),
    logger: silentLogger,
  });
}

for (const [world, make] of worlds) {
  const test = suite(`canListen (${world})`);

  test("a free address passes and is left free for the listener", async () => {
    const env = make();
    const port = await freePort();
    await env.canListen!("127.0.0.1", port);
    const listener = await listenOn(env, port);
    await listener.close();
  });

  test("an address in use is refused as listen refuses it, naming it", async () => {
    const env = make();
    const port = await freePort();
    const listener = await listenOn(env, port);
    try {
      const refusal = await env.canListen!("127.0.0.1", port).then(
        () => undefined,
        (err: unknown) => err,
      );
      assert.instance(refusal, UnavailableError);
      assert.match((refusal as Error).message, `127.0.0.1:${port}`);
      const second = await listenOn(env, port).then(
        async (l) => {
          await l.close();
          return undefined;
        },
        (err: unknown) => err,
      );
      assert.instance(second, UnavailableError, "listen refuses the same address");
    } finally {
      await listener.close();
    }
  });

  test.run();
}
