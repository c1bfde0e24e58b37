// Makes text from events safe to show in Discord markdown: it cannot format, link or mention.

/** Characters Discord markdown gives meaning to; each is shown literally after a backslash. */
const MARKDOWN = new Set(["\\", "*", "_", "~", "`", "|", ">", "<", "#", "-", "[", "]", "(", ")", ":", "."]);
const ZERO_WIDTH_SPACE = "\u200b";
const ELLIPSIS = "…";
/**
 * Invisible format characters (Unicode category Cf): bidirectional embeddings, overrides and
 * isolates (U+202A–U+202E, U+2066–U+2069, U+200E/U+200F, U+061C), zero-width spaces and joiners
 * (U+200B–U+200D, U+2060, U+FEFF), soft hyphens and tags. Left in, they reorder or hide what a
 * reader sees (a model id that reads "gpj.exe" backwards), so event text loses them all.
 */
const INVISIBLE_FORMAT = /\p{Cf}/u;

function escapeCodePoint(char: string): string {
  if (INVISIBLE_FORMAT.test(char)) return "";
  if (MARKDOWN.has(char)) return `\\${char}`;
  // A zero-width space after @ breaks @everyone, @here and <@id> even where markdown is off.
  if (char === "@") return `@${ZERO_WIDTH_SPACE}`;
  // Line breaks would start headings, quotes or lists; other controls show as boxes.
  if (/[\p{Cc}\u2028\u2029]/u.test(char)) return " ";
  return char;
}

/** Escapes `text` and shortens it to at most `max` UTF-16 units, ending with "…" when cut. */
export function escapeText(text: string, max: number = Number.POSITIVE_INFINITY): string {
  let out = "";
  for (const char of text) {
    const piece = escapeCodePoint(char);
    if (out.length + piece.length > max) return clipWithEllipsis(out, max);
    out += piece;
  }
  return out;
}

/** Cuts already-safe text to `max` units, never in the middle of an escape or surrogate pair. */
function clipWithEllipsis(safe: string, max: number): string {
  if (max <= 0) return "";
  let end = Math.min(safe.length, max - ELLIPSIS.length);
  // Step back over a lone high surrogate or a dangling backslash so the escape stays whole.
  while (end > 0) {
    const code = safe.charCodeAt(end - 1);
    if (code >= 0xd800 && code <= 0xdbff) end -= 1;
    else if (safe[end - 1] === "\\" && countTrailingBackslashes(safe, end) % 2 === 1) end -= 1;
    else break;
  }
  return safe.slice(0, end) + ELLIPSIS;
}

function countTrailingBackslashes(text: string, end: number): number {
  let count = 0;
  while (end - count - 1 >= 0 && text[end - count - 1] === "\\") count += 1;
  return count;
}

/** Shortens text we wrote ourselves (already safe) to `max` units. */
export function clip(text: string, max: number): string {
  return text.length <= max ? text : clipWithEllipsis(text, max);
}
