// /train as Discord registers it, derived from the generated zod schema of digits.train.v1 (its
// JSON Schema form): one option per request field the user may choose, with the schema's own
// bounds and description and the CLI's default. Nothing about a field is written here twice.

import {
  ApplicationCommandOptionType,
  ApplicationCommandType,
  type RESTPostAPIChatInputApplicationCommandsJSONBody,
} from "discord-api-types/v10";
import { z } from "zod";
import { DigitsPredictV1, DigitsTrainV1 } from "../generated/contracts.ts";
import { PREDICT_V1_DEFAULT_MODEL_ID } from "../generated/names.ts";
import { IMAGE_OPTION, PREDICT_COMMAND } from "./predict.ts";
import { MAX_ATTACHMENT_BYTES } from "./predict_settings.ts";
import { ALL_OPTION, JOBS_COMMAND } from "./jobs.ts";
import { COMMAND_NAME, TRAIN_DEFAULTS } from "./settings.ts";

type CommandOption = NonNullable<RESTPostAPIChatInputApplicationCommandsJSONBody["options"]>[number];

/** Discord's limits on a description and on a string option's length. */
const DESCRIPTION_MAX = 100;
const STRING_MAX = 6000;

const Property = z
  .object({
    type: z.string().optional(),
    description: z.string().default(""),
    minimum: z.number().optional(),
    maximum: z.number().optional(),
    maxLength: z.number().optional(),
    minLength: z.number().optional(),
    anyOf: z.array(z.object({ type: z.string(), maxLength: z.number().optional() }).loose()).optional(),
  })
  .loose();
const RequestSchema = z.object({ properties: z.record(z.string(), Property) }).loose();

/** Fields the user does not choose: fixed, generated, or the invoking user. */
const NOT_OPTIONS = new Set(["type", "request_id", "user_id"]);

type Defaults = Readonly<Record<string, string | number | boolean>>;

function describe(name: string, description: string, defaults: Defaults): string {
  const fallback = new Map<string, string | number | boolean>(Object.entries(defaults)).get(name);
  const suffix = fallback === undefined ? "" : ` (default ${String(fallback)})`;
  const text = description.replace(/\.$/, "");
  const room = DESCRIPTION_MAX - suffix.length;
  return (text.length > room ? `${text.slice(0, room - 1)}…` : text) + suffix;
}

function option(name: string, property: z.infer<typeof Property>, defaults: Defaults): CommandOption {
  const base = { name, description: describe(name, property.description, defaults), required: false };
  const type = property.type ?? property.anyOf?.find((part) => part.type !== "null")?.type;
  const maxLength = property.maxLength ?? property.anyOf?.find((part) => part.maxLength !== undefined)?.maxLength;
  const bounds = {
    ...(property.minimum !== undefined ? { min_value: property.minimum } : {}),
    ...(property.maximum !== undefined ? { max_value: property.maximum } : {}),
  };
  if (type === "integer") return { ...base, type: ApplicationCommandOptionType.Integer, ...bounds };
  if (type === "number") return { ...base, type: ApplicationCommandOptionType.Number, ...bounds };
  if (type === "boolean") return { ...base, type: ApplicationCommandOptionType.Boolean };
  if (type === "string") {
    return {
      ...base,
      type: ApplicationCommandOptionType.String,
      ...(property.minLength !== undefined ? { min_length: property.minLength } : {}),
      max_length: Math.min(maxLength ?? STRING_MAX, STRING_MAX),
    };
  }
  throw new Error(`digits.train.v1 field ${name} has type ${String(type)}, which /train cannot offer`);
}

/** The options for the fields of a request's JSON Schema; a field of a type no option can take throws. */
export function commandOptions(jsonSchema: unknown, defaults: Defaults = TRAIN_DEFAULTS): CommandOption[] {
  const schema = RequestSchema.parse(jsonSchema);
  return Object.entries(schema.properties)
    .filter(([name]) => !NOT_OPTIONS.has(name))
    .map(([name, property]) => option(name, property, defaults));
}

/** The /train command, as `npm run register-commands` registers it. */
export function trainCommand(): RESTPostAPIChatInputApplicationCommandsJSONBody {
  const options = commandOptions(z.toJSONSchema(DigitsTrainV1.omit({ user_id: true })));
  return {
    name: COMMAND_NAME,
    type: ApplicationCommandType.ChatInput,
    description: "Train a handwriting-digits model; progress appears in a message to you",
    options,
  };
}

/** /predict: the picture (Discord's attachment option; the request carries its bytes) and the
 * request's other fields, from digits.predict.v1 as /train's are from digits.train.v1. */
export function predictCommand(): RESTPostAPIChatInputApplicationCommandsJSONBody {
  const fields = DigitsPredictV1.omit({ user_id: true, image_base64: true });
  const mb = (MAX_ATTACHMENT_BYTES / 1024 / 1024).toFixed(0);
  const image: CommandOption = {
    name: IMAGE_OPTION,
    description: `A photo or drawing of one digit, PNG or JPEG, at most ${mb} MB`,
    type: ApplicationCommandOptionType.Attachment,
    required: true,
  };
  return {
    name: PREDICT_COMMAND,
    type: ApplicationCommandType.ChatInput,
    description: "Read the digit in a picture with a model trained here",
    options: [image, ...commandOptions(z.toJSONSchema(fields), { model_id: PREDICT_V1_DEFAULT_MODEL_ID })],
  };
}

/** /jobs: the asking user's jobs; admins may add all:true. */
export function jobsCommand(): RESTPostAPIChatInputApplicationCommandsJSONBody {
  return {
    name: JOBS_COMMAND,
    type: ApplicationCommandType.ChatInput,
    description: "Your queued, running and recent training jobs (only you see the answer)",
    options: [
      { name: ALL_OPTION, description: "Admins only: everyone's jobs", type: ApplicationCommandOptionType.Boolean, required: false },
    ],
  };
}

/** Every command `npm run register-commands` registers. */
export function allCommands(): RESTPostAPIChatInputApplicationCommandsJSONBody[] {
  return [trainCommand(), predictCommand(), jobsCommand()];
}
