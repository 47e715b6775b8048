/**
 * `readIdentity`: a restarting member's certificates and keys, each key checked against its
 * certificate. A damaged file (empty after an operating-system crash, or changed by hand) fails
 * the start with a message naming it: an empty `cluster.key` used to let the member start and
 * dial out while no member could complete a handshake with its listener, and the other files
 * failed with the runtime's words, naming no file.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { InvalidInputError } from "../../lib/errors.ts";
import { generateCertificate, type KeyPair } from "../../lib/net/certificates.ts";
import { readIdentity } from "../../lib/daemon/network_start.ts";
import { removeDir, tempDir } from "../helpers/process.ts";

const FILES = ["server.crt", "server.key", "cluster.crt", "cluster.key"] as const;
let server: KeyPair;
let cluster: KeyPair;

/** A state directory holding `contents` (by file name) over a valid identity. */
function stateDir(contents: Partial<Record<(typeof FILES)[number], string>> = {}): string {
  const dir = tempDir("cohort-identity-");
  const valid = {
    "server.crt": server.cert,
    "server.key": server.key,
    "cluster.crt": cluster.cert,
    "cluster.key": cluster.key,
  };
  for (const f of FILES) writeFileSync(join(dir, f), contents[f] ?? valid[f]);
  return dir;
}

/** What `readIdentity` threw for `dir` (fails when it did not throw an InvalidInputError). */
async function refusal(dir: string): Promise<string> {
  try {
    await readIdentity(dir);
  } catch (err) {
    assert.instance(err, InvalidInputError);
    return (err as Error).message;
  } finally {
    removeDir(dir);
  }
  assert.unreachable("readIdentity accepted a damaged identity");
  return "";
}

test.before(async () => {
  [server, cluster] = await Promise.all([
    generateCertificate({ name: "m1", addresses: ["127.0.0.1"] }),
    generateCertificate({ name: "cluster" }),
  ]);
});

test("reads an intact identity", async () => {
  const dir = stateDir();
  try {
    assert.equal(await readIdentity(dir), {
      cert: server.cert,
      key: server.key,
      clusterCert: cluster.cert,
      clusterKey: cluster.key,
    });
  } finally {
    removeDir(dir);
  }
});

for (const file of FILES) {
  test(`an empty ${file} fails, naming it`, async () => {
    const dir = stateDir({ [file]: "" });
    const message = await refusal(dir);
    assert.ok(message.includes(join(dir, file)), message);
    assert.match(message, file.endsWith(".crt") ? /no PEM certificate/ : /no PEM private key/);
  });
}

test("a key torn halfway fails, naming it", async () => {
  const dir = stateDir({ "cluster.key": cluster.key.slice(0, cluster.key.length >> 1) });
  assert.ok((await refusal(dir)).includes(join(dir, "cluster.key")));
});

test("a key that is not its certificate's fails, naming it", async () => {
  const dir = stateDir({ "server.key": cluster.key });
  const message = await refusal(dir);
  assert.ok(message.includes(join(dir, "server.key")), message);
  assert.match(message, /not the key of server\.crt/);
});

test.run();
