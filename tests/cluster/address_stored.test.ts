import { suite } from "uvu";
import * as assert from "uvu/assert";
import { lookup } from "node:dns/promises";
import { parseAddress } from "../../lib/cluster/address.ts";
import {
  mappedIpv4,
  numericIpv4,
  parseStoredAddress,
  sameAddress,
  storedAddress,
} from "../../lib/cluster/address_stored.ts";

const test = suite("address_stored");

test("numericIpv4() reads a numeric host as the C library's resolver does", () => {
  const cases: [string, string | undefined][] = [
    ["127.0.0.1", "127.0.0.1"],
    ["127.000.000.001", "127.0.0.1"],
    ["127.0.0.010", "127.0.0.8"], // octal
    ["0127.0.0.1", "87.0.0.1"],
    ["127.1", "127.0.0.1"],
    ["127.0.1", "127.0.0.1"],
    ["2130706433", "127.0.0.1"],
    ["0x7f.0.0.1", "127.0.0.1"],
    ["0x7F000001", "127.0.0.1"],
    ["10.65535", "10.0.255.255"],
    ["0", "0.0.0.0"],
    ["256.0.0.1", undefined],
    ["1.2.3.4.5", undefined],
    ["10.65536", "10.1.0.0"],
    ["10.16777216", undefined],
    ["4294967296", undefined],
    ["08.0.0.1", undefined], // 8 is no octal digit
    ["1..1", undefined],
    ["0x", undefined],
    ["host", undefined],
  ];
  for (const [host, want] of cases) assert.is(numericIpv4(host), want, host);
});

test("numericIpv4() agrees with this machine's resolver", async () => {
  const hosts = ["127.000.000.001", "127.0.0.010", "127.1", "2130706433", "0x7f.0.0.1", "10.65536"];
  for (const host of hosts) {
    const { address } = await lookup(host, { family: 4 });
    assert.is(numericIpv4(host), address, host);
  }
});

test("mappedIpv4() names the IPv4 address of an IPv4-mapped one", () => {
  assert.is(mappedIpv4("::ffff:7f00:1"), "127.0.0.1");
  assert.is(mappedIpv4("::1"), undefined);
});

test("storedAddress() gives the one spelling of what earlier releases stored", () => {
  const cases: [string, string][] = [
    ["127.0.0.1:09101", "127.0.0.1:9101"],
    ["127.0.0.1:009101", "127.0.0.1:9101"],
    ["LOCALHOST:9101", "localhost:9101"],
    ["Node-1.Example.COM:1", "node-1.example.com:1"],
    ["[0:0:0:0:0:0:0:1]:9101", "[::1]:9101"],
    ["[::FFFF:127.0.0.1]:9101", "127.0.0.1:9101"],
    ["[::ffff:7f00:1]:9101", "127.0.0.1:9101"],
    ["127.000.000.001:9101", "127.0.0.1:9101"],
    ["127.1:9101", "127.0.0.1:9101"],
    ["[2001:DB8:0:0:0:0:0:1]:443", "[2001:db8::1]:443"],
    ["10.0.0.1:1", "10.0.0.1:1"],
  ];
  for (const [stored, one] of cases) {
    assert.is(storedAddress(stored), one, stored);
    const again = parseAddress(one);
    assert.ok(!("problem" in again) && again.address === one, `${one} is its own spelling`);
  }
});

test("storedAddress() keeps what no release took, and a zone, as written", () => {
  for (const a of ["junk", "127.0.0.1", "h:0", "h:65536", "h:+1", "[fe80::1%eth0]:1", "a_b:1"]) {
    assert.is(storedAddress(a), a, a);
    assert.is(parseStoredAddress(a), undefined, a);
  }
});

test("sameAddress() compares the one spelling, stored spellings included", () => {
  assert.ok(sameAddress("[::1]:9101", "[0:0:0:0:0:0:0:1]:9101"));
  assert.ok(sameAddress("LOCALHOST:1", "localhost:1"));
  assert.ok(sameAddress("127.0.0.1:09101", "127.0.0.1:9101"));
  assert.ok(sameAddress("127.000.000.001:9101", "127.0.0.1:9101"));
  assert.ok(sameAddress("[::ffff:127.0.0.1]:9101", "127.0.0.1:9101"));
  assert.not.ok(sameAddress("[::1]:9101", "[::1]:9102"));
  assert.not.ok(sameAddress("127.0.0.1:9101", "[::1]:9101"));
  assert.ok(sameAddress("junk", "junk"));
  assert.not.ok(sameAddress("junk", "[::1]:9101"));
});

test.run();
