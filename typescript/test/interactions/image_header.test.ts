// The picture's header, read without decoding: PNG and JPEG sizes; anything else is not a picture.

import assert from "node:assert/strict";
import { test } from "node:test";
import { readImageHeader, refusalOf } from "../../src/interactions/image_header.ts";
import { jpegHeader, pngHeader } from "../support/predict_support.ts";

void test("headers: PNG and JPEG sizes read without decoding; anything else, or cut short, is not a picture", () => {
  assert.deepEqual(readImageHeader(pngHeader(640, 480)), { kind: "image", format: "png", width: 640, height: 480 });
  assert.deepEqual(readImageHeader(jpegHeader(300, 200)), { kind: "image", format: "jpeg", width: 300, height: 200 });
  const notImage = {
    kind: "refused",
    reason: "the file is not a PNG or JPEG picture; send a photo or drawing of one digit as PNG or JPEG",
  };
  assert.deepEqual(readImageHeader(pngHeader(640, 480).subarray(0, 20)), notImage); // IHDR cut short
  const renamed = pngHeader(640, 480);
  renamed.set([0x49, 0x44, 0x41, 0x54], 12); // IDAT where IHDR must be
  assert.deepEqual(readImageHeader(renamed), notImage);
  assert.deepEqual(readImageHeader(jpegHeader(300, 200).subarray(0, 12)), notImage); // no frame header
  const junk = new Uint8Array(24);
  junk.set([0xff, 0xd8, 0xff, 0xe0, 0x00, 0x04, 0x00, 0x00, 0x12, 0x34]); // no marker after APP0
  assert.deepEqual(readImageHeader(junk), notImage);
  assert.deepEqual(readImageHeader(new TextEncoder().encode("GIF89a........")), notImage);
  assert.equal(refusalOf(readImageHeader(pngHeader(28, 28))), null);
  assert.equal(refusalOf(readImageHeader(pngHeader(4096, 4096))), null);
  assert.match(refusalOf(readImageHeader(pngHeader(27, 100))) ?? "", /27x100 pixels, too small/);
  assert.match(refusalOf(readImageHeader(pngHeader(100, 4097))) ?? "", /100x4097 pixels, more than we read/);
});
