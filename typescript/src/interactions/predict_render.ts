// A prediction worker's result as /predict's answer: the digit and its probability, the top
// three, the model that read it (model_id, run, val_acc from its manifest) and the 28x28 input
// it saw, as an embed with that picture; a refusal or failure as one line saying why.

import { escapeText } from "../view/escape.ts";
import type { DigitsPredictResultV1 } from "../generated/contracts.ts";
import { RICH_PNG_NAME, type RichReply } from "../discord/discord_port.ts";

const COLOR = 0x3b82f6;

function percent(probability: number): string {
  return `${(probability * 100).toFixed(1)}%`;
}

/** What the user sees for `result`. */
export function predictAnswer(result: DigitsPredictResultV1): string | RichReply {
  const reason = escapeText(result.reason ?? "no reason given", 300);
  if (result.outcome === "refused") return `Could not read the picture: ${reason}.`;
  if (result.outcome === "failed" || result.probabilities === null) return `No prediction: ${reason}.`;
  const ranked = result.probabilities.map((probability, digit) => ({ digit, probability })).sort((a, b) => b.probability - a.probability);
  const [digit, probability] = result.probabilities.reduce<[number, number]>((best, p, d) => (p > best[1] ? [d, p] : best), [0, -1]);
  const top = ranked
    .slice(0, 3)
    .map((entry) => `**${entry.digit}** ${percent(entry.probability)}`)
    .join(" · ");
  const run = result.run_id === null ? "" : ` · run ${escapeText(result.run_id, 128)}`;
  const valAcc = result.val_acc === null ? "" : ` · val_acc ${percent(result.val_acc)}`;
  const png = result.input_png_base64 === null ? undefined : new Uint8Array(Buffer.from(result.input_png_base64, "base64"));
  const title = `Reads ${digit} (${percent(probability)})`;
  return {
    content: title,
    embed: {
      title,
      color: COLOR,
      description: `Top three: ${top}`,
      fields: [{ name: "Model", value: `${escapeText(result.model_id, 128)}${run}${valAcc}` }],
      ...(png !== undefined
        ? { image: { url: `attachment://${RICH_PNG_NAME}` }, footer: { text: "The 28×28 input the model saw, after centring" } }
        : {}),
    },
    ...(png !== undefined ? { png } : {}),
  };
}
