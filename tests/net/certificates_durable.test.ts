/**
 * `loadOrCreateKeyPair` replaces a member's key pair durably: each file written to a temporary,
 * synced, renamed, the directory synced. Its atomic write renamed unsynced data: a rename can
 * reach the disk before the data it names, and an operating-system crash after it left an empty
 * `server.key` in place of the pair being replaced (expired, or no longer naming the member's
 * address), which every later start refused.
 */
import { stat } from "node:fs/promises";
import { join } from "node:path";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { loadOrCreateKeyPair } from "../../lib/net/certificates.ts";
import { durableProblem, recordFiles } from "../helpers/durable_order.ts";
import { keyPair, tempDir } from "./_helpers.ts";

const test = suite("loadOrCreateKeyPair() writes durably");

for (const [why, before] of [["a new pair", false], ["a pair replaced", true]] as const) {
  test(`${why}: each file synced before its rename, the directory after`, async () => {
    const { dir, cleanup } = await tempDir();
    const rec = recordFiles();
    try {
      if (before) {
        // A pair that no longer names the member's address: replaced.
        await loadOrCreateKeyPair(dir, "server", { name: "m1", addresses: ["127.0.0.2"] });
        rec.ops.length = 0;
      }
      const issuer = { issue: () => keyPair("m1") };
      const pair = await loadOrCreateKeyPair(
        dir,
        "server",
        { name: "m1", addresses: ["127.0.0.1"] },
        undefined,
        issuer,
      );
      assert.is(pair.cert, (await keyPair("m1")).cert);
      for (const file of ["server.key", "server.crt"]) {
        assert.is(durableProblem(rec.ops, join(dir, file)), undefined);
      }
      // The modes survive the durable path: the key private, the certificate readable.
      assert.is((await stat(join(dir, "server.key"))).mode & 0o777, 0o600);
      assert.is((await stat(join(dir, "server.crt"))).mode & 0o777, 0o644);
    } finally {
      rec.restore();
      await cleanup();
    }
  });
}

test.run();
