import { suite } from "uvu";
import * as assert from "uvu/assert";
import {
  addressProblem,
  advertisedAddressProblem,
  canonicalAddress,
  memberNameProblem,
  parseAddress,
  splitHostPort,
} from "../../lib/cluster/address.ts";
import { sharedAddressHolder } from "../../lib/cluster/address_conflict.ts";

const test = suite("address");

test("memberNameProblem() accepts DNS names", () => {
  for (const name of ["c1", "node-1.example.com", "a", "1"]) {
    assert.is(memberNameProblem(name), undefined, name);
  }
});
test("memberNameProblem() rejects what DNS does not allow", () => {
  for (const name of ["", "-a", "a-", "a_b", "a..b", "x".repeat(64), "a b"]) {
    assert.type(memberNameProblem(name), "string", JSON.stringify(name));
  }
});
test("addressProblem() accepts IPv4, IPv6 and names with ports", () => {
  for (const a of ["127.0.0.1:9000", "[::1]:1", "host.example:65535"]) {
    assert.is(addressProblem(a), undefined, a);
  }
});
test("addressProblem() names the broken part", () => {
  assert.match(addressProblem("127.0.0.1")!, /host:port/);
  assert.match(addressProblem("::1:80")!, /host:port/);
  assert.match(addressProblem("h:0")!, /port must be/);
  assert.match(addressProblem("h:65536")!, /port must be/);
  assert.match(addressProblem("bad_host:80")!, /host must be/);
});
test("advertisedAddressProblem() refuses hosts other members cannot dial", () => {
  const refused: [string, RegExp][] = [
    ["0.0.0.0:9000", /unspecified \(0\.0\.0\.0\/8\)/],
    ["0.1.2.3:9000", /unspecified/],
    ["[::]:9000", /unspecified \(::\)/],
    ["[0:0:0:0:0:0:0:0]:9000", /unspecified \(::\)/],
    ["224.0.0.1:9000", /multicast/],
    ["239.255.255.250:9000", /multicast/],
    ["[ff02::1]:9000", /multicast/],
    [
      "[::ffff:127.0.0.1]:9101",
      /^host is an IPv4-mapped IPv6 address: give the IPv4 address, 127\.0\.0\.1:9101$/,
    ],
    ["[::FFFF:7f00:1]:9101", /IPv4-mapped.*127\.0\.0\.1:9101/],
    ["[0:0:0:0:0:ffff:a00:1]:1", /IPv4-mapped.*10\.0\.0\.1:1/],
    ["255.255.255.255:9000", /reserved or broadcast/],
    ["240.0.0.1:9000", /reserved or broadcast/],
    ["127.0.0.1:0", /port must be/],
  ];
  for (const [a, why] of refused) {
    assert.match(advertisedAddressProblem(a) ?? "", why, a);
    assert.match(advertisedAddressProblem(a) ?? "", /^(host is|port must)/, a);
  }
  for (
    const a of ["127.0.0.1:9000", "10.1.2.3:1", "[::1]:9000", "[fe80::1]:9", "h.example:9"]
  ) {
    assert.is(advertisedAddressProblem(a), undefined, a);
  }
});

test("splitHostPort() unbrackets IPv6 and refuses a bare one", () => {
  assert.equal(splitHostPort("[::1]:9"), { host: "::1", port: 9 });
  assert.equal(splitHostPort("10.0.0.1:9"), { host: "10.0.0.1", port: 9 });
  assert.is(splitHostPort("::1:9"), undefined);
});

test("parseAddress() gives every spelling of an IPv6 address one (RFC 5952)", () => {
  const same: [string, string][] = [
    ["[::1]:9101", "[::1]:9101"],
    ["[0:0:0:0:0:0:0:1]:9101", "[::1]:9101"],
    ["[0::1]:9101", "[::1]:9101"],
    ["[0000:0000::0001]:9101", "[::1]:9101"],
    ["[FE80::ABCD]:9101", "[fe80::abcd]:9101"],
    ["[2001:DB8:0:0:1:0:0:1]:9101", "[2001:db8::1:0:0:1]:9101"],
    ["[2001:db8:0:1:1:1:1:1]:9101", "[2001:db8:0:1:1:1:1:1]:9101"],
  ];
  for (const [given, one] of same) {
    assert.equal(parseAddress(given), {
      address: one,
      host: one.slice(1, one.lastIndexOf("]")),
      port: 9101,
    }, given);
    assert.is(canonicalAddress(given), one, given);
  }
});

test("parseAddress() keeps IPv4 and lower-cases host names", () => {
  assert.equal(parseAddress("127.0.0.1:9101"), {
    address: "127.0.0.1:9101",
    host: "127.0.0.1",
    port: 9101,
  });
  assert.equal(parseAddress("LocalHost:9101"), {
    address: "localhost:9101",
    host: "localhost",
    port: 9101,
  });
  assert.is(canonicalAddress("Node-1.Example.COM:1"), "node-1.example.com:1");
});

test("parseAddress() refuses spellings that are not one address, naming the rule", () => {
  const refused: [string, RegExp][] = [
    ["[fe80::1%eth0]:9101", /^host must not have a zone index \(%eth0\)/],
    ["[::1%25lo]:9101", /zone index/],
    [
      "127.000.000.001:9101",
      /^host "127\.000\.000\.001" must be an IPv4 address as four numbers 0 to 255 without leading zeros/,
    ],
    ["0127.0.0.1:9101", /IPv4 address as four numbers/],
    ["127.1:9101", /IPv4 address as four numbers/],
    ["2130706433:9101", /IPv4 address as four numbers/],
    ["0x7f.0.0.1:9101", /IPv4 address as four numbers/],
    ["host.0x1:9101", /IPv4 address as four numbers/],
    [
      "127.0.0.1:09101",
      /^port must be a whole number from 1 to 65535, without a sign or leading zeros$/,
    ],
    ["127.0.0.1:+9101", /^port must be/],
    ["[::1]:0009101", /^port must be/],
    ["127.0.0.1: 9101", /^port must be/],
    ["127.0.0.1:", /^port must be/],
    ["[127.0.0.1]:9101", /^host in brackets must be an IPv6 address$/],
    ["[h.example]:9101", /^host in brackets must be an IPv6 address$/],
    ["[1:2:3:4:5:6:7:8:9]:1", /^host in brackets must be an IPv6 address$/],
    ["::1:9101", /host:port/],
    ["[::1]9101", /host:port/],
  ];
  for (const [a, why] of refused) {
    const parsed = parseAddress(a);
    assert.ok("problem" in parsed, a);
    assert.match((parsed as { problem: string }).problem, why, a);
    assert.is(canonicalAddress(a), undefined, a);
    assert.is(addressProblem(a), (parsed as { problem: string }).problem, a);
    assert.is(advertisedAddressProblem(a), (parsed as { problem: string }).problem, a);
  }
});

test("an IPv4-mapped IPv6 address is an address, in its one spelling, but not a member's", () => {
  assert.is(canonicalAddress("[::FFFF:127.0.0.1]:1"), "[::ffff:7f00:1]:1");
  assert.match(advertisedAddressProblem("[::ffff:7f00:1]:1")!, /IPv4-mapped/);
});

/** A resolver of a fixed table that counts what it is asked. */
function table(names: Record<string, string[]>) {
  const asked: string[] = [];
  const lookup = (host: string) => {
    asked.push(host);
    return host in names ? Promise.resolve(names[host]) : Promise.reject(new Error("ENOTFOUND"));
  };
  return { asked, lookup };
}

test("sharedAddressHolder() finds a member's socket named by a host name, either way", async () => {
  const { lookup } = table({
    localhost: ["127.0.0.1", "::1"],
    "v6.example": ["0:0:0:0:0:0:0:1"],
    "mapped.example": ["::ffff:10.0.0.1"],
  });
  const roster = new Map([
    ["c4", { address: "127.0.0.1:9001" }],
    ["c6", { address: "[::1]:9002" }],
    ["cn", { address: "localhost:9003" }],
    ["cm", { address: "10.0.0.1:9004" }],
  ]);
  assert.equal(await sharedAddressHolder("localhost:9001", roster, lookup), {
    name: "c4",
    address: "127.0.0.1:9001",
  });
  assert.equal(await sharedAddressHolder("v6.example:9002", roster, lookup), {
    name: "c6",
    address: "[::1]:9002",
  });
  assert.equal(await sharedAddressHolder("[::1]:9003", roster, lookup), {
    name: "cn",
    address: "localhost:9003",
  });
  assert.equal((await sharedAddressHolder("mapped.example:9004", roster, lookup))?.name, "cm");
  // Another port, another address, a name that does not resolve: no one's socket.
  assert.is(await sharedAddressHolder("localhost:9999", roster, lookup), undefined);
  assert.is(await sharedAddressHolder("v6.example:9001", roster, lookup), undefined);
  assert.is(await sharedAddressHolder("nowhere.example:9001", roster, lookup), undefined);
  // Without a resolver (a simulated world), names are compared as written only.
  assert.is(await sharedAddressHolder("localhost:9001", roster, undefined), undefined);
});

test("sharedAddressHolder() resolves nothing unless a host name meets a member's port", async () => {
  const { asked, lookup } = table({ localhost: ["127.0.0.1"] });
  const roster = new Map([
    ["a", { address: "127.0.0.1:9001" }],
    ["b", { address: "[::1]:9002" }],
    ["n", { address: "localhost:9003" }],
  ]);
  assert.is(await sharedAddressHolder("127.0.0.2:9001", roster, lookup), undefined);
  assert.is(await sharedAddressHolder("[::2]:9002", roster, lookup), undefined);
  assert.is(await sharedAddressHolder("localhost:9100", roster, lookup), undefined);
  // The same address spelled alike is the caller's own check, not a lookup.
  assert.is(await sharedAddressHolder("LOCALHOST:9003", roster, lookup), undefined);
  assert.equal(asked, []);
  assert.is(await sharedAddressHolder("localhost:9001", roster, lookup) !== undefined, true);
  assert.equal(asked, ["localhost"]);
});

test.run();
