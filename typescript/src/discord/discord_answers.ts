// What the bot does with each answer Discord can give, written once as data: how an answer is
// recognised (ANSWERS: status and JSON error code) and what delivery must do with it (DEFAULTS, and
// OVERRIDES per kind of request). The REST port classifies with ANSWERS, delivery acts with
// actionFor, the table-driven test iterates every (request, answer) against the stand-in, and
// typescript/README.md shows answersTable() (a test keeps it equal).
//
// Sources: Discord's docs, "Opcodes and Status Codes" (JSON error codes) and "Rate Limits" (the
// 429 body's optional `code`, X-RateLimit-Global / X-RateLimit-Scope); 30046 arrives as HTTP 429
// in practice (discord.py users: "429 Too Many Requests (error code: 30046)",
// aikaterna/aikaterna-cogs#302; discord-api-types#620: "there are already a bunch of codes that
// are returned in rate limit responses").

/** How delivery tells Discord's answers apart (DeliveryError.kind). */
export type AnswerKind =
  | "rate_limited"
  | "too_old"
  | "unknown_message"
  | "unknown_channel"
  | "unknown_user"
  | "dms_closed"
  | "forbidden"
  | "invalid"
  | "unauthorized"
  | "failed";

/**
 * The requests delivery makes; DMs and the notify channel answer some errors differently. The read
 * of a message found in the store before its final edit (GET, delivery's `showsAlready`) is no
 * column: its answers are acted on as the edit's for `retry` and `stop_bot`, and any other refusal
 * lets the edit go on, whose own answer is then acted on here.
 */
export type RequestKind = "open_dm" | "create_dm" | "edit_dm" | "create_channel" | "edit_channel";
export const REQUEST_KINDS: readonly RequestKind[] = ["open_dm", "create_dm", "edit_dm", "create_channel", "edit_channel"];

/**
 * retry: the same job later (Retry-After for a 429, backoff otherwise), with its newest state;
 * new_message: continue in a new message (replying to the old one when it still exists);
 * notify_channel: move the job to DIGITS_NOTIFY_CHANNEL_ID, mentioning the user (give_up without one);
 * give_up: log once, send nothing more for the job and close it; stop_bot: the token is refused.
 */
export type Action = "retry" | "new_message" | "notify_channel" | "give_up" | "stop_bot";

/** One recognisable answer: its status (null: any) and JSON error code (null: any). */
export interface Answer {
  readonly kind: AnswerKind;
  readonly status: number | null;
  readonly code: number | null;
  readonly why: string;
}

/** First match wins: codes before bare statuses, so 429 + 30046 is too_old, not a rate limit. */
export const ANSWERS: readonly Answer[] = [
  { kind: "unauthorized", status: 401, code: null, why: "401: the token is refused" },
  { kind: "too_old", status: null, code: 30046, why: "30046 (sent as 429): edits of a message older than an hour used up" },
  { kind: "dms_closed", status: null, code: 50007, why: "50007: cannot send messages to this user" },
  { kind: "unknown_message", status: null, code: 10008, why: "10008: unknown message (deleted)" },
  { kind: "unknown_channel", status: null, code: 10003, why: "10003: unknown channel (deleted, or a DM gone)" },
  { kind: "unknown_user", status: null, code: 10013, why: "10013: unknown user (a wrong user id)" },
  { kind: "rate_limited", status: 429, code: null, why: "429 without an error code of its own: a rate limit" },
  { kind: "forbidden", status: 403, code: null, why: "403: missing access or permissions (50001, 50013)" },
  { kind: "unknown_message", status: 404, code: null, why: "404 without a known code: the message is not there" },
  {
    kind: "invalid",
    status: 400,
    code: null,
    why: "400 (or another 4xx not named above): the request is refused (50035 invalid form body, 50033 invalid recipient, 50006 empty)",
  },
];

/** The kind of an HTTP answer; a status no row names is `invalid` for 4xx and `failed` (transient) otherwise. */
export function answerKindOf(status: number, code: number | null): AnswerKind {
  for (const answer of ANSWERS) {
    if ((answer.status === null || answer.status === status) && (answer.code === null || answer.code === code)) return answer.kind;
  }
  return status >= 400 && status < 500 ? "invalid" : "failed";
}

/** What to do after an answer, whatever the request (unless OVERRIDES names the request). */
export const DEFAULTS: Readonly<Record<AnswerKind, Action>> = {
  unauthorized: "stop_bot",
  rate_limited: "retry",
  failed: "retry",
  // The answers below would be the same every time: retrying cannot help.
  too_old: "give_up",
  unknown_message: "give_up",
  unknown_channel: "give_up",
  unknown_user: "give_up",
  dms_closed: "give_up",
  forbidden: "give_up",
  invalid: "give_up",
};

export interface Override {
  readonly request: RequestKind;
  readonly answer: AnswerKind;
  readonly action: Action;
}

/** Where the request changes what an answer means. */
export const OVERRIDES: readonly Override[] = [
  { request: "edit_dm", answer: "too_old", action: "new_message" },
  { request: "edit_channel", answer: "too_old", action: "new_message" },
  { request: "edit_dm", answer: "unknown_message", action: "new_message" },
  { request: "edit_channel", answer: "unknown_message", action: "new_message" },
  // A DM channel that is gone is opened again; a deleted notify channel cannot come back.
  { request: "edit_dm", answer: "unknown_channel", action: "new_message" },
  { request: "create_dm", answer: "unknown_channel", action: "new_message" },
  { request: "create_dm", answer: "dms_closed", action: "notify_channel" },
  { request: "edit_dm", answer: "dms_closed", action: "notify_channel" },
];

export function actionFor(request: RequestKind, answer: AnswerKind): Action {
  return OVERRIDES.find((rule) => rule.request === request && rule.answer === answer)?.action ?? DEFAULTS[answer];
}

/** The table as typescript/README.md shows it: one row per answer, one column per request kind. */
export function answersTable(): string {
  const head = `| Discord answers | ${REQUEST_KINDS.join(" | ")} |`;
  const rule = `|---|${REQUEST_KINDS.map(() => "---").join("|")}|`;
  const kinds = Object.keys(DEFAULTS).filter((kind): kind is AnswerKind => kind in DEFAULTS);
  const rows = kinds.map((kind) => {
    const why = ANSWERS.filter((answer) => answer.kind === kind).map((answer) => answer.why);
    const label = why.length > 0 ? why.join("; ") : "5xx, timeout, connection lost";
    return `| \`${kind}\`: ${label} | ${REQUEST_KINDS.map((request) => actionFor(request, kind)).join(" | ")} |`;
  });
  return [head, rule, ...rows].join("\n");
}
