import { suite } from "uvu";
import * as assert from "uvu/assert";
import {
  addressProblem,
  advertisedAddressProblem,
  memberNameProblem,
  splitHostPort,
} from "../../lib/cluster/address.ts";

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
    ["[::ffff:0.0.0.0]:9000", /unspecified/],
    ["224.0.0.1:9000", /multicast/],
    ["239.255.255.250:9000", /multicast/],
    ["[ff02::1]:9000", /multicast/],
    ["[::ffff:224.0.0.1]:9000", /multicast/],
    ["255.255.255.255:9000", /reserved or broadcast/],
    ["240.0.0.1:9000", /reserved or broadcast/],
    ["127.0.0.1:0", /port must be/],
  ];
  for (const [a, why] of refused) {
    assert.match(advertisedAddressProblem(a) ?? "", why, a);
    assert.match(advertisedAddressProblem(a) ?? "", /^(host is|port must)/, a);
  }
  for (
    const a of ["127.0.0.1:9000", "10.1.2.3:1", "[::1]:9000", "[fe80::1%eth0]:9", "h.example:9"]
  ) {
    assert.is(advertisedAddressProblem(a), undefined, a);
  }
});

test("splitHostPort() unbrackets IPv6 and refuses a bare one", () => {
  assert.equal(splitHostPort("[::1]:9"), { host: "::1", port: 9 });
  assert.equal(splitHostPort("10.0.0.1:9"), { host: "10.0.0.1", port: 9 });
  assert.is(splitHostPort("::1:9"), undefined);
});

test.run();
