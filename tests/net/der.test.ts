import { Buffer } from "node:buffer";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import * as der from "../../lib/net/der.ts";

const encode = suite("DER encoders");
const hex = (bytes: Uint8Array) => Buffer.from(bytes).toString("hex");

encode("object identifiers use base-128 arcs and fold the first two", () => {
  assert.is(hex(der.oid("2.5.29.19")), "0603551d13");
  assert.is(hex(der.oid("1.2.840.10045.4.3.2")), "06082a8648ce3d040302");
  assert.is(hex(der.oid("1.3.6.1.5.5.7.3.1")), "06082b06010505070301");
});

encode("integers are minimal and never read as negative", () => {
  assert.is(hex(der.unsignedInteger(Uint8Array.of(2))), "020102");
  assert.is(hex(der.unsignedInteger(Uint8Array.of(0x80))), "02020080");
  assert.is(hex(der.unsignedInteger(Uint8Array.of(0, 0, 0x7f))), "02017f");
  assert.is(hex(der.unsignedInteger(Uint8Array.of(0, 0x80))), "02020080");
  assert.is(hex(der.unsignedInteger(Uint8Array.of(0, 0))), "020100");
});

encode("lengths from 128 on take the long form", () => {
  assert.is(hex(der.octetString(new Uint8Array(127))).slice(0, 4), "047f");
  assert.is(hex(der.octetString(new Uint8Array(200))).slice(0, 6), "0481c8");
  assert.is(hex(der.octetString(new Uint8Array(300))).slice(0, 8), "0482012c");
  assert.is(der.octetString(new Uint8Array(300)).length, 304);
});

encode("constructed and tagged elements wrap their content", () => {
  assert.is(hex(der.sequence()), "3000");
  assert.is(hex(der.set(der.boolean(true))), "31030101ff");
  assert.is(hex(der.explicit(3, der.boolean(false))), "a303010100");
  assert.is(hex(der.implicit(7, Uint8Array.of(127, 0, 0, 1))), "87047f000001");
  assert.is(hex(der.bitString(Uint8Array.of(0x80), 7)), "03020780");
});

encode("names are PrintableString when they fit, else UTF8String", () => {
  assert.is(hex(der.directoryString("m0")), "13026d30");
  assert.is(hex(der.directoryString("::1")), "13033a3a31");
  assert.is(hex(der.directoryString("a_b")), "0c03615f62");
});

encode("times are UTCTime until 2049 and GeneralizedTime from 2050, to the second", () => {
  const text = (d: Uint8Array) => `${d[0].toString(16)} ${Buffer.from(d.subarray(2)).toString()}`;
  assert.is(text(der.time(new Date("2049-12-31T23:59:59.999Z"))), "17 491231235959Z");
  assert.is(text(der.time(new Date("2050-01-01T00:00:00Z"))), "18 20500101000000Z");
  assert.is(text(der.time(new Date("1950-01-01T00:00:00Z"))), "17 500101000000Z");
  assert.is(text(der.time(new Date("1949-12-31T23:59:59Z"))), "18 19491231235959Z");
});

encode.run();
