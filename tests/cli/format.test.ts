import { suite } from "uvu";
import * as assert from "uvu/assert";
import { renderList, renderTable, renderYaml } from "../../lib/cli/format.ts";

const test = suite("format");

test("renderTable() aligns columns under their headers", () => {
  assert.is(
    renderTable(["NAME", "ROLE"], [["c1", "voter"], ["member-two", ["a", "b"]]]),
    "NAME        ROLE\nc1          voter\nmember-two  a,b\n",
  );
});

test("renderYaml() writes block YAML and quotes what needs quoting", () => {
  const yaml = renderYaml([{ name: "c1", extensions: ["internal:x", "a"], ready: true, v: "yes" }]);
  assert.is(
    yaml,
    '- name: c1\n  extensions:\n    - internal:x\n    - a\n  ready: true\n  v: "yes"\n',
  );
  assert.is(renderYaml([]), "[]\n");
  assert.is(renderYaml({ a: [] }), "a: []\n");
});

test("renderList() json is the data itself", () => {
  const data = [{ name: "c1" }];
  assert.equal(JSON.parse(renderList("json", data, [], () => [])), data);
});

test.run();
