// /predict's settings: defaults, each variable, and errors naming the variable and the fix.

import assert from "node:assert/strict";
import { test } from "node:test";
import { loadPredictSettings, MAX_ATTACHMENT_BYTES } from "../../src/interactions/predict_settings.ts";

void test("settings: defaults, each variable, and errors naming the variable and the fix", () => {
  assert.deepEqual(loadPredictSettings({}), {
    attachmentOrigin: "https://cdn.discordapp.com",
    timeoutS: 15,
    perMinute: 6,
    queue: "digits:predict:queue",
  });
  assert.deepEqual(
    loadPredictSettings({
      DIGITS_ATTACHMENT_ORIGIN: "http://127.0.0.1:9",
      DIGITS_PREDICT_TIMEOUT_S: "3",
      DIGITS_PREDICTS_PER_MINUTE: " 100 ",
    }),
    { attachmentOrigin: "http://127.0.0.1:9", timeoutS: 3, perMinute: 100, queue: "digits:predict:queue" },
  );
  assert.throws(
    () => loadPredictSettings({ DIGITS_ATTACHMENT_ORIGIN: "https://cdn.discordapp.com/attachments" }),
    /DIGITS_ATTACHMENT_ORIGIN must be an origin such as https:\/\/cdn.discordapp.com \(no path\)/,
  );
  assert.throws(() => loadPredictSettings({ DIGITS_ATTACHMENT_ORIGIN: "cdn" }), /DIGITS_ATTACHMENT_ORIGIN must be an origin/);
  assert.throws(
    () => loadPredictSettings({ DIGITS_PREDICT_TIMEOUT_S: "0" }),
    /DIGITS_PREDICT_TIMEOUT_S must be a whole number from 1 to 600, got "0"; unset it for 15/,
  );
  assert.equal(MAX_ATTACHMENT_BYTES, 2_097_153); // the schema's image_base64 maxLength, in bytes
});
