import { suite } from "uvu";
import * as assert from "uvu/assert";
import {
  compareExtensions,
  decodeExtensionList,
  describeComparison,
  ExtensionRegistry,
  INTERNAL_EXTENSIONS,
  validateExtensionName,
} from "../../lib/cluster/extensions.ts";
import { InvalidInputError } from "../../lib/errors.ts";

const names = suite("validateExtensionName()");

// MicroCluster's own validation table (internal/extensions/extensions_test.go).
const validApp = ["a", "a_0", "123_invalid", "a_0_a_0_a_0", "custom_encapsulation_ip", "0"];
const invalidApp = ["", "_x", "x_", "a__0", "-", "!", "A", "a-b", "a b", "internal:x", "é"];
const validInternal = ["internal:a", "internal:runtime_extension_v1", "internal:0_1"];
const invalidInternal = [
  "",
  "a",
  "internal:",
  "internal:_a",
  "internal:a_",
  "internal:a__b",
  "x:a",
];

for (const name of validApp) {
  names(`accepts app name ${JSON.stringify(name)}`, () => {
    assert.is(validateExtensionName(name, "app"), name);
  });
}
for (const name of invalidApp) {
  names(`rejects app name ${JSON.stringify(name)} with a message naming it`, () => {
    try {
      validateExtensionName(name, "app", "extensions.3");
      assert.unreachable("should have thrown");
    } catch (err) {
      assert.instance(err, InvalidInputError);
      assert.match((err as Error).message, "extensions.3");
      if (name) assert.match((err as Error).message, `"${name}"`);
      else assert.match((err as Error).message, "must not be empty");
    }
  });
}
for (const name of validInternal) {
  names(`accepts internal name ${JSON.stringify(name)}`, () => {
    assert.is(validateExtensionName(name, "internal"), name);
  });
}
for (const name of invalidInternal) {
  names(`rejects internal name ${JSON.stringify(name)}`, () => {
    assert.throws(
      () => validateExtensionName(name, "internal"),
      (e: unknown) => e instanceof InvalidInputError,
    );
  });
}
names("rejects a non-string", () => {
  assert.throws(() => validateExtensionName(7, "app"), /expected a string/);
});
names.run();

const registry = suite("ExtensionRegistry");

registry("create() puts the internal list first, then the app's", () => {
  const r = ExtensionRegistry.create(["b", "a"]);
  assert.equal(r.list, [...INTERNAL_EXTENSIONS, "b", "a"]);
  assert.equal(r.internal, INTERNAL_EXTENSIONS);
  assert.equal(r.app, ["b", "a"]);
  assert.is(r.count, INTERNAL_EXTENSIONS.length + 2);
  assert.is(r.list[0], "internal:runtime_extension_v1");
});

registry("create() rejects a duplicate, naming the entry and its position", () => {
  assert.throws(() => ExtensionRegistry.create(["a", "b", "a"]), /extensions\.2 "a": duplicate/);
});

registry("create() rejects an app name claiming internal:", () => {
  assert.throws(
    () => ExtensionRegistry.create(["internal:runtime_extension_v1"]),
    /reserved "internal:" prefix/,
  );
});

registry("has() answers for internal and app names", () => {
  const r = ExtensionRegistry.create(["a"]);
  assert.ok(r.has("a"));
  assert.ok(r.has("internal:runtime_extension_v1"));
  assert.not.ok(r.has("b"));
});

registry("toJSON() always encodes an array, even for one entry", () => {
  const r = ExtensionRegistry.create([], ["internal:only"]);
  assert.is(JSON.stringify(r), '["internal:only"]');
});

registry("fromList() splits a unified list and round-trips", () => {
  const r = ExtensionRegistry.create(["x", "y"]);
  const back = ExtensionRegistry.fromList(r.toJSON());
  assert.equal(back.internal, r.internal);
  assert.equal(back.app, ["x", "y"]);
});

registry("fromList() rejects an internal name after app names", () => {
  assert.throws(
    () => ExtensionRegistry.fromList(["internal:a", "x", "internal:b"]),
    /extensions\.2 "internal:b": internal extensions must come before/,
  );
});

registry("digest is stable and changes with order", () => {
  const a = ExtensionRegistry.create(["a", "b"]);
  assert.is(a.digest, ExtensionRegistry.create(["a", "b"]).digest);
  assert.is.not(a.digest, ExtensionRegistry.create(["b", "a"]).digest);
  assert.match(a.digest, /^[0-9a-f]{16}$/);
});

registry("registers 10 000 extensions and looks them up", () => {
  const many = Array.from({ length: 10_000 }, (_, i) => `ext_${i}`);
  const r = ExtensionRegistry.create(many);
  assert.is(r.count, 10_000 + INTERNAL_EXTENSIONS.length);
  assert.ok(r.has("ext_9999"));
});
registry.run();

const compare = suite("compareExtensions()");

compare("equal lists give equal with nothing missing or extra", () => {
  assert.equal(compareExtensions(["a", "b"], ["a", "b"]), {
    verdict: "equal",
    missing: [],
    extra: [],
    firstDifference: -1,
  });
});
compare("their list a strict prefix of ours gives ahead with our extras", () => {
  assert.equal(compareExtensions(["a", "b", "c"], ["a"]), {
    verdict: "ahead",
    missing: [],
    extra: ["b", "c"],
    firstDifference: 1,
  });
});
compare("our list a strict prefix of theirs gives behind with what we miss", () => {
  assert.equal(compareExtensions(["a"], ["a", "b", "c"]), {
    verdict: "behind",
    missing: ["b", "c"],
    extra: [],
    firstDifference: 1,
  });
});
compare("different tails give diverged with both sides named", () => {
  assert.equal(compareExtensions(["a", "b", "x"], ["a", "c"]), {
    verdict: "diverged",
    missing: ["c"],
    extra: ["b", "x"],
    firstDifference: 1,
  });
});
compare("same names in another order is diverged and explained by position", () => {
  const c = compareExtensions(["a", "b"], ["b", "a"]);
  assert.equal(c, { verdict: "diverged", missing: [], extra: [], firstDifference: 0 });
  assert.match(describeComparison(c, ["b", "a"]), /different order.*position 0.*"b"/);
});
compare("empty lists compare equal; empty vs non-empty is behind", () => {
  assert.is(compareExtensions([], []).verdict, "equal");
  assert.is(compareExtensions([], ["a"]).verdict, "behind");
  assert.is(compareExtensions(["a"], []).verdict, "ahead");
});
// Internal names and app names are each append-only: a release that appends an internal name
// to a list followed by app names is ahead (compared as one prefix it diverged at the insertion,
// and the upgraded member's gate refused to start beside the previous release).
const OLD = ["internal:a", "feature_a", "feature_b"];
const NEW = ["internal:a", "internal:b", "feature_a", "feature_b"];
compare("an internal name appended before the app's names is ahead, not diverged", () => {
  assert.equal(compareExtensions(NEW, OLD), {
    verdict: "ahead",
    missing: [],
    extra: ["internal:b"],
    firstDifference: 1,
  });
  assert.equal(compareExtensions(OLD, NEW), {
    verdict: "behind",
    missing: ["internal:b"],
    extra: [],
    firstDifference: 1,
  });
});
compare("ahead in both parts is ahead; ahead in one and behind in the other is diverged", () => {
  assert.is(compareExtensions([...NEW, "feature_c"], OLD).verdict, "ahead");
  assert.is(compareExtensions(OLD, [...NEW, "feature_c"]).verdict, "behind");
  assert.is(compareExtensions(NEW, [...OLD, "feature_c"]).verdict, "diverged");
  assert.is(compareExtensions(["internal:b", "feature_a"], OLD.slice(0, 2)).verdict, "diverged");
});
compare("a reordering of app names is diverged at the same position of both lists", () => {
  const c = compareExtensions(OLD, ["internal:a", "feature_b", "feature_a"]);
  assert.equal(c, { verdict: "diverged", missing: [], extra: [], firstDifference: 1 });
  assert.match(
    describeComparison(c, ["internal:a", "feature_b", "feature_a"]),
    /position 1.*"feature_b"/,
  );
});
compare("describeComparison() names lacking and extra entries", () => {
  const text = describeComparison(compareExtensions(["a", "x"], ["a", "b"]));
  assert.is(text, 'lacks "b"; has "x" that the other lacks');
});
compare.run();

const decode = suite("decodeExtensionList()");
decode("accepts an array", () => assert.equal(decodeExtensionList(["a", "b"]), ["a", "b"]));
decode("accepts a bare string as a one-entry list", () => {
  assert.equal(decodeExtensionList("internal:runtime_extension_v1"), [
    "internal:runtime_extension_v1",
  ]);
});
decode("treats null as empty", () => assert.equal(decodeExtensionList(null), []));
decode("rejects a number entry, naming its index", () => {
  assert.throws(() => decodeExtensionList(["a", 3]), /extensions\.1: expected a string/);
});
decode("rejects an object", () => {
  assert.throws(() => decodeExtensionList({}), /expected an array of strings/);
});
decode.run();
