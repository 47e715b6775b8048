import { suite } from "uvu";
import * as assert from "uvu/assert";
import { jsonResponse, knownBody } from "../../lib/net/json_response.ts";

const test = suite("jsonResponse()");

test("is a Response with status, JSON content type and extra headers", () => {
  const r = jsonResponse('{"a":1}', 404, { allow: "GET" });
  assert.instance(r, Response);
  assert.is(r.status, 404);
  assert.is(r.headers.get("content-type"), "application/json");
  assert.is(r.headers.get("allow"), "GET");
});

test("json(), text() and arrayBuffer() read the body once", async () => {
  assert.equal(await jsonResponse('{"a":1}', 200).json(), { a: 1 });
  const r = jsonResponse('{"b":2}', 200);
  assert.is(r.bodyUsed, false);
  assert.is(await r.text(), '{"b":2}');
  assert.is(r.bodyUsed, true);
  try {
    await r.text();
    assert.unreachable("a body reads once");
  } catch (err) {
    assert.instance(err, TypeError);
  }
  const bytes = new Uint8Array(await jsonResponse("[1]", 200).arrayBuffer());
  assert.equal([...bytes], [91, 49, 93]);
});

test("body is a stream of the text, and then the text is no longer known", async () => {
  const r = jsonResponse('{"c":3}', 200);
  assert.is(knownBody(r), '{"c":3}');
  const reader = r.body!.getReader();
  assert.is(knownBody(r), undefined);
  const { value } = await reader.read();
  assert.is(new TextDecoder().decode(value), '{"c":3}');
  assert.is((await reader.read()).done, true);
});

test("clone() gives an independent copy", async () => {
  const r = jsonResponse('{"d":4}', 201);
  const c = r.clone();
  assert.is(c.status, 201);
  assert.is(await c.text(), '{"d":4}');
  assert.is(await r.text(), '{"d":4}');
});

test("knownBody() is undefined for other responses", () => {
  assert.is(knownBody(new Response("x")), undefined);
});

test.run();
