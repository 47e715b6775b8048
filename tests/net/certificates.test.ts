import { Buffer } from "node:buffer";
import { X509Certificate } from "node:crypto";
import { readFile, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { InvalidInputError } from "../../lib/errors.ts";
import {
  certificateNames,
  fingerprint,
  generateCertificate,
  loadOrCreateKeyPair,
} from "../../lib/net/certificates.ts";
import { canonicalIp, isDnsName } from "../../lib/net/names.ts";
import { tempDir } from "./_helpers.ts";

const profile = suite("generateCertificate()");

/** Reports whether the DER holds extension `oid` (hex of its value bytes) marked critical. */
function criticalExtension(der: Buffer, oid: string): boolean {
  return der.includes(Buffer.from(`0603${oid}0101ff`, "hex"));
}

profile("makes a CA:FALSE ECDSA P-256 leaf naming the member and its addresses", async () => {
  const pair = await generateCertificate({
    name: "alpha",
    addresses: ["127.0.0.1", "::1", "localhost", "alpha.example.org", "[fe80::1]"],
  });
  const cert = new X509Certificate(pair.cert);
  assert.is(cert.ca, false);
  assert.match(cert.subject, /CN=alpha/);
  assert.is(cert.publicKey.asymmetricKeyType, "ec");
  assert.is(cert.publicKey.asymmetricKeyDetails?.namedCurve, "prime256v1");
  assert.ok(/^[0-7]/.test(cert.serialNumber), "serial is positive");
  assert.ok(cert.verify(cert.publicKey), "self-signed");
  const san = cert.subjectAltName ?? "";
  for (const dns of ["alpha", "localhost", "alpha.example.org"]) {
    assert.ok(san.includes(`DNS:${dns}`));
  }
  assert.ok(san.includes("IP Address:127.0.0.1"));
  assert.equal(certificateNames(pair.cert), {
    dns: ["alpha", "localhost", "alpha.example.org"],
    ip: ["127.0.0.1", "::1", "fe80::1"],
  });
  assert.ok(criticalExtension(cert.raw, "551d13"), "basicConstraints critical");
  assert.ok(criticalExtension(cert.raw, "551d0f"), "keyUsage critical");
  assert.ok(cert.raw.includes(Buffer.from("2b06010505070301", "hex")), "serverAuth");
  assert.ok(cert.raw.includes(Buffer.from("2b06010505070302", "hex")), "clientAuth");
  assert.match(pair.key, /^-----BEGIN PRIVATE KEY-----\n/);
});

profile("fingerprint is the colon-free lowercase fingerprint256", async () => {
  const pair = await generateCertificate({ name: "beta" });
  const expected = new X509Certificate(pair.cert).fingerprint256.replace(/:/g, "").toLowerCase();
  assert.is(pair.fingerprint, expected);
  assert.is(fingerprint(pair.cert), expected);
  assert.match(expected, /^[0-9a-f]{64}$/);
});

profile("is valid for `days` days, 3650 by default", async () => {
  const days = (pem: string) => {
    const cert = new X509Certificate(pem);
    return Math.round((Date.parse(cert.validTo) - Date.parse(cert.validFrom)) / 86_400_000);
  };
  assert.is(days((await generateCertificate({ name: "a" })).cert), 3650);
  assert.is(days((await generateCertificate({ name: "a", days: 2 })).cert), 2);
});

profile("rejects names that are neither host names nor IPs", async () => {
  for (const bad of ["has space", "a:b", "", "-lead", "x".repeat(64)]) {
    try {
      await generateCertificate({ name: "ok", addresses: [bad] });
      assert.unreachable(`accepted ${JSON.stringify(bad)}`);
    } catch (err) {
      assert.instance(err, InvalidInputError);
    }
  }
});

profile("fingerprint() of something else is an InvalidInputError", () => {
  assert.throws(
    () => fingerprint("not a certificate"),
    (e: unknown) => e instanceof InvalidInputError,
  );
});

const names = suite("names");

names("canonicalIp() spells every form of an address one way", () => {
  assert.is(canonicalIp("127.0.0.1"), "127.0.0.1");
  assert.is(canonicalIp("0:0:0:0:0:0:0:1"), "::1");
  assert.is(canonicalIp("[::1]"), "::1");
  assert.is(canonicalIp("FE80::1%eth0"), "fe80::1");
  assert.is(canonicalIp("::ffff:127.0.0.1"), "::ffff:7f00:1");
  assert.is(canonicalIp("2001:db8:0:0:1:0:0:1"), "2001:db8::1:0:0:1");
  assert.is(canonicalIp("1:0:0:2:0:0:0:3"), "1:0:0:2::3");
  assert.is(canonicalIp("localhost"), undefined);
  assert.ok(isDnsName("node-1.example"));
  assert.not.ok(isDnsName("10.0.0.1"));
});

const files = suite("loadOrCreateKeyPair()");

files("creates the pair with a 0600 key, then returns the same pair", async () => {
  const { dir, cleanup } = await tempDir();
  try {
    const state = join(dir, "state");
    const spec = { name: "alpha", addresses: ["127.0.0.1", "alpha.local"] };
    const first = await loadOrCreateKeyPair(state, "server", spec);
    assert.is((await stat(join(state, "server.key"))).mode & 0o777, 0o600);
    assert.is(await readFile(join(state, "server.crt"), "utf8"), first.cert);
    assert.is(await readFile(join(state, "server.key"), "utf8"), first.key);
    const again = await loadOrCreateKeyPair(state, "server", spec);
    assert.equal(again, first);
    const subset = await loadOrCreateKeyPair(state, "server", { name: "alpha" });
    assert.is(subset.fingerprint, first.fingerprint, "fewer names are still covered");
  } finally {
    await cleanup();
  }
});

files("regenerates when the SANs no longer cover the spec or the key is missing", async () => {
  const { dir, cleanup } = await tempDir();
  try {
    const first = await loadOrCreateKeyPair(dir, "cluster", { name: "c", addresses: ["10.0.0.1"] });
    const moved = await loadOrCreateKeyPair(dir, "cluster", { name: "c", addresses: ["10.0.0.2"] });
    assert.is.not(moved.fingerprint, first.fingerprint);
    assert.equal(certificateNames(moved.cert).ip, ["10.0.0.2"]);
    assert.is(fingerprint(await readFile(join(dir, "cluster.crt"), "utf8")), moved.fingerprint);
    const other = await generateCertificate({ name: "c", addresses: ["10.0.0.2"] });
    await writeFile(join(dir, "cluster.key"), other.key);
    const rekeyed = await loadOrCreateKeyPair(dir, "cluster", {
      name: "c",
      addresses: ["10.0.0.2"],
    });
    assert.is.not(rekeyed.fingerprint, moved.fingerprint, "a key that does not match is replaced");
  } finally {
    await cleanup();
  }
});

files("refuses a corrupt key file instead of silently replacing the identity", async () => {
  const { dir, cleanup } = await tempDir();
  try {
    await loadOrCreateKeyPair(dir, "server", { name: "a" });
    await writeFile(join(dir, "server.key"), "garbage");
    await loadOrCreateKeyPair(dir, "server", { name: "a" });
    assert.unreachable("accepted a corrupt key");
  } catch (err) {
    assert.instance(err, InvalidInputError);
  } finally {
    await cleanup();
  }
});

profile.run();
names.run();
files.run();
