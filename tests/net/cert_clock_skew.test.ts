/**
 * A certificate made by a member whose wall clock runs ahead of a peer's: the peer pins it as its
 * only CA, and TLS refuses a certificate not valid yet by the peer's clock. Certificates were
 * valid from a minute before their making, so a peer 10 minutes behind could not connect to a
 * member for 9 minutes after that member made its certificate (CERT_NOT_YET_VALID): the member
 * looked down. The maker's clock is played by moving `Date.now` while the certificate is made.
 */
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { once } from "node:events";
import { createServer, request } from "node:https";
import type { AddressInfo } from "node:net";
import { BACKDATE_MS, generateCertificate } from "../../lib/net/certificates.ts";
import { pinnedTlsOptions } from "../../lib/net/pin.ts";

const test = suite("certificates of members whose clocks disagree");

/** A certificate made while `Date.now` reads `aheadMs` ahead of the real clock. */
async function madeAhead(aheadMs: number) {
  const real = Date.now;
  Date.now = () => real() + aheadMs;
  try {
    return await generateCertificate({ name: "m1", addresses: ["127.0.0.1"] });
  } finally {
    Date.now = real;
  }
}

/** The answer of a server presenting `pair`, to a client that pins it as its only CA. */
async function dial(pair: { cert: string; key: string; fingerprint: string }): Promise<string> {
  const server = createServer({ cert: pair.cert, key: pair.key }, (_req, res) => res.end("ok"));
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const { port } = server.address() as AddressInfo;
  try {
    const tls = pinnedTlsOptions({ fingerprint: pair.fingerprint, peerCert: pair.cert });
    return await new Promise<string>((resolve) => {
      const req = request(`https://127.0.0.1:${port}/`, { ...tls }, (res) => {
        res.resume();
        res.on("end", () => resolve(`HTTP ${res.statusCode}`));
      });
      req.on("error", (err: Error & { code?: string }) => resolve(`${err.code}: ${err.message}`));
      req.end();
    });
  } finally {
    server.close();
  }
}

test("a peer whose clock is 10 min behind the maker's connects to a fresh certificate", async () => {
  assert.is(await dial(await madeAhead(10 * 60_000)), "HTTP 200");
});

test("nor one 23 h behind: the certificate is valid from a day before its making", async () => {
  assert.is(BACKDATE_MS, 86_400_000);
  assert.is(await dial(await madeAhead(23 * 3_600_000)), "HTTP 200");
});

test.run();
