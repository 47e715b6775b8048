import { suite } from "uvu";
import * as assert from "uvu/assert";
import { jsonResponse, knownBody, knownHeaders } from "../../lib/net/json_response.ts";

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

test("a body given as UTF-8 bytes in chunks reads as its text, and as bytes of the reader's own", async () => {
  const text = '{"e":"caf\u00e9"}';
  const bytes = new TextEncoder().encode(text);
  // Split inside the two-byte character: only the whole is decoded.
  const at = bytes.indexOf(0xc3) + 1;
  const chunks = [bytes.subarray(0, 2), bytes.subarray(2, at), bytes.subarray(at)];
  const r = jsonResponse(chunks, 200);
  assert.is(knownBody(r), chunks, "known as the chunks given");
  assert.is(await r.text(), text);
  assert.equal(await jsonResponse(chunks, 200).json(), { e: "caf\u00e9" });
  const copy = new Uint8Array(await jsonResponse(chunks, 200).arrayBuffer());
  assert.equal([...copy], [...bytes]);
  copy[0] = 0;
  assert.is(bytes[0], 123, "the reader changed its copy only");
  assert.is(await jsonResponse(chunks, 200).clone().text(), text);
  const reader = jsonResponse(chunks, 200).body!.getReader();
  assert.is(new TextDecoder().decode((await reader.read()).value), text);
});

test("knownBody() is undefined for other responses", () => {
  assert.is(knownBody(new Response("x")), undefined);
});

test("headers are known as a plain object until read; once read, the Headers (and what changes them) are what counts", () => {
  const r = jsonResponse("{}", 405, { Allow: "GET, HEAD" });
  assert.equal(knownHeaders(r), { "content-type": "application/json", allow: "GET, HEAD" });
  const h = r.headers;
  assert.is(r.headers, h, "the same Headers every time");
  assert.is(h.get("content-type"), "application/json");
  assert.is(h.get("allow"), "GET, HEAD");
  assert.is(knownHeaders(r), undefined);
  h.set("x-extra", "1");
  assert.is(r.headers.get("x-extra"), "1");
  assert.equal([...new Response(null, r).headers], [...h], "another Response built from it");
  assert.is(knownHeaders(new Response("{}")), undefined);
});

test.run();
