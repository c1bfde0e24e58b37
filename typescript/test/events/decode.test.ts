// Decoding the log's JSON text: numbers kept exact (64-bit ids as bigint), the v1 and legacy
// unions, and every refusal naming the field; never a throw.

import assert from "node:assert/strict";
import { test } from "node:test";
import { MAX_EVENT_BYTES } from "../../src/shared/limits.ts";
import { decodeEvent, decodeEventBytes, decodeTrainRequest, parseJson } from "../../src/events/decode.ts";
import { BIG_USER_ID, eventText, legacyText, started } from "../support/fixtures.ts";

function reasonOf(text: string): string {
  const result = decodeEvent(text);
  if (result.kind !== "invalid") assert.fail(`expected ${text.slice(0, 80)} to be refused`);
  return result.reason;
}

void test("a user_id above 2^53 keeps every digit", () => {
  const result = decodeEvent(started());
  assert.equal(result.kind, "v1");
  assert.equal(result.event.user_id, BigInt(BIG_USER_ID));
  assert.notEqual(String(Number(BIG_USER_ID)), BIG_USER_ID, "the fixture must be one a float would corrupt");
});

void test("user_id written as an integral decimal is an integer, as JSON Schema says", () => {
  for (const text of ["42.0", "4.2e1", "420e-1"]) {
    const result = decodeEvent(started().replace(BIG_USER_ID, text));
    assert.equal(result.kind === "v1" ? result.event.user_id : null, 42n, text);
  }
  assert.match(reasonOf(started().replace(BIG_USER_ID, "1.5")), /^user_id: expected an integer/);
  assert.match(reasonOf(started().replace(BIG_USER_ID, "1e400")), /^user_id: 1e400 is not a finite number/);
  assert.match(reasonOf(started().replace(BIG_USER_ID, "9223372036854775808")), /^user_id: /);
});

void test("other numbers are the double they round to; beyond a double is refused", () => {
  // 2^53+1 rounds to 2^53, still above the schema's maximum of 2^53-1 (Python: the exact int, too big).
  assert.match(
    reasonOf(started({ total_epochs: 3 }).replace('"total_epochs":3', '"total_epochs":9007199254740993')),
    /^total_epochs: Too big/,
  );
  assert.match(reasonOf(started().replace('"total_epochs":3', '"total_epochs":1e400')), /^total_epochs: 1e400 is not a finite number/);
  assert.match(reasonOf(started().replace('"total_epochs":3', '"total_epochs":-1E+999')), /^total_epochs: -1E\+999 is not a finite number/);
  const whole = decodeEvent(started().replace('"total_epochs":3', '"total_epochs":3.0'));
  assert.ok(whole.kind === "v1" && whole.event.type === "digits.train.started.v1" && whole.event.total_epochs === 3);
});

void test("a 64-bit id is exact as a plain integer, otherwise the double it parses to", () => {
  const idOf = (text: string): bigint | string => {
    const result = decodeEvent(started().replace(/"user_id":[0-9]+/, `"user_id":${text}`));
    return result.kind === "invalid" ? result.reason : result.event.user_id;
  };
  assert.equal(idOf("9223372036854775807"), 9223372036854775807n);
  assert.equal(idOf("42.0"), 42n);
  assert.equal(idOf("4.2e1"), 42n);
  assert.equal(idOf("9007199254740993.0"), 9007199254740992n); // the double, as in Python
  assert.equal(idOf("1.00000000000000001"), 1n);
  assert.equal(idOf("1.5e-400"), 0n);
  assert.match(String(idOf("9223372036854775807.0")), /^user_id: Too big/); // the double 2^63
  assert.match(String(idOf("1.5")), /^user_id: expected an integer, got 1\.5$/);
  assert.match(String(idOf("1e400")), /^user_id: 1e400 is not a finite number/);
});

void test("legacy events decode as legacy; v1 is tried first", () => {
  const legacy = decodeEvent(legacyText("started", { total_epochs: 2 }));
  assert.equal(legacy.kind, "legacy");
  assert.equal(decodeEvent(started()).kind, "v1");
});

void test("reasons name the field", () => {
  assert.match(reasonOf(started({ total_epochs: 2.5 })), /^total_epochs: /);
  assert.match(reasonOf(started({ extra: 1 })), /extra/);
  assert.match(reasonOf(legacyText("progress", { epoch: 1, total_epochs: 2, val_acc: 2 })), /^val_acc: /);
  assert.equal(reasonOf('{"type":"nope"}'), 'type: unknown event type "nope"');
  assert.equal(reasonOf("{}"), "type: missing");
  assert.match(reasonOf("[1,2]"), /^\(root\): /);
  assert.match(reasonOf("not json"), /^not JSON: /);
  assert.match(reasonOf(""), /^not JSON: /);
});

void test("ambiguous or hostile JSON is refused without throwing", () => {
  assert.match(reasonOf(started().replace('"type"', '"type":"x","type"')), /Duplicate key/);
  assert.match(reasonOf(`${"[".repeat(30)}${"]".repeat(30)}`), /nested deeper than/);
  assert.match(reasonOf("[".repeat(20_000)), /^not JSON/);
  assert.match(reasonOf('{"__proto__":{"type":"digits.train.started.v1"}}'), /^type: missing/);
  assert.equal(reasonOf("NaN").startsWith("not JSON"), true);
  assert.equal(reasonOf(started().replace('"total_epochs":3', '"total_epochs":NaN')).startsWith("not JSON"), true);
});

void test("oversize input is refused before parsing", () => {
  const huge = `{"type":"digits.train.failed.v1","message":"${"x".repeat(MAX_EVENT_BYTES)}"}`;
  assert.equal(reasonOf(huge), `message larger than ${MAX_EVENT_BYTES} bytes`);
  // 3-byte characters: under the limit in UTF-16 units, over it in UTF-8 bytes.
  assert.equal(parseJson(`"${"€".repeat(MAX_EVENT_BYTES / 2)}"`).ok, false);
  assert.equal(decodeEventBytes(new Uint8Array(MAX_EVENT_BYTES + 1)).kind, "invalid");
});

void test("bytes must be strict UTF-8 without a BOM", () => {
  const good = Buffer.from(started());
  assert.equal(decodeEventBytes(good).kind, "v1");
  const broken = Buffer.concat([Buffer.from(started().slice(0, 20)), Buffer.from([0xff, 0xfe]), Buffer.from(started().slice(20))]);
  assert.deepEqual(decodeEventBytes(broken), { kind: "invalid", reason: "not UTF-8" });
  const withBom = Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), good]);
  assert.equal(decodeEventBytes(withBom).kind, "invalid");
});

void test("job requests decode with their bounds", () => {
  const request = (fields: string): string =>
    `{"type":"digits.train.v1","request_id":"r","user_id":${BIG_USER_ID},"model_id":"digits","epochs":3,"batch_size":64,"lr":0.001,"seed":0,"augment":false,"notes":null${fields}}`;
  const ok = decodeTrainRequest(request(""));
  assert.equal(ok.kind === "ok" ? ok.request.user_id : null, BigInt(BIG_USER_ID));
  const bad = decodeTrainRequest(request(',"extra":1'));
  assert.equal(bad.kind, "invalid");
  assert.match(decodeTrainRequest(request("").replace('"epochs":3', '"epochs":101')).kind, /invalid/);
  assert.equal(decodeTrainRequest(eventText("digits.train.started.v1", { total_epochs: 1 })).kind, "invalid");
});

void test("64-bit integers are read per message type, only at the top level", () => {
  const big = "12345678901234567890";
  const value = (text: string): unknown => {
    const parsed = parseJson(text);
    assert.ok(parsed.ok);
    return parsed.value;
  };
  // A known type's own int64 property: exact bigint.
  assert.deepEqual(value(`{"type":"digits.train.started.v1","user_id":${big}}`), {
    type: "digits.train.started.v1",
    user_id: 12345678901234567890n,
  });
  // The same name nested, or in a message of unknown type, is an ordinary number (zod then refuses it).
  assert.deepEqual(value(`{"type":"digits.train.started.v1","extra":{"user_id":${big}}}`), {
    type: "digits.train.started.v1",
    extra: { user_id: Number(big) },
  });
  assert.deepEqual(value(`{"type":"nope","user_id":1.5}`), { type: "nope", user_id: 1.5 });
  assert.deepEqual(value(`[{"user_id":1.5}]`), [{ user_id: 1.5 }]);
  assert.deepEqual(value(`{"user_id":1.5}`), { user_id: 1.5 });
  assert.deepEqual(value(`{"type":7,"user_id":1.5}`), { type: 7, user_id: 1.5 });
});

void test("a job request that is not JSON, or breaks several rules, says why", () => {
  assert.match(reason(decodeTrainRequest('{"type":')), /^not JSON: /);
  assert.equal(
    reason(
      decodeTrainRequest(
        `{"type":"digits.train.v1","request_id":"r","user_id":${BIG_USER_ID},"model_id":"digits","epochs":0,"batch_size":0,"lr":0.001,"seed":0,"augment":false,"notes":null}`,
      ),
    ).replace(/:.*\(/, ": … ("),
    "epochs: … (+1 more)",
  );
  assert.match(reason(decodeEvent(`{"type":"digits.train.started.v1","user_id":${BIG_USER_ID}}`)), /^[a-z_]+: .*\(\+\d+ more\)$/);
});

function reason(result: { readonly kind: string; readonly reason?: string }): string {
  assert.equal(result.kind, "invalid");
  return result.reason ?? "";
}
