/**
 * A corpus of the seed study's shape, made by the tests themselves (a user's clone has no ../shared): 98 JSONL
 * documents, each one sentence of 14–35 GPT-2 tokens, taken in order from the embedded Brown corpus.
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { loadBrownDocuments } from "../../src/data/brown.ts";
import { encode } from "../../src/gpt2/tokenizer.ts";

export const STUDY_SHAPED_DOCUMENTS = 98;

export function studyShapedTexts(): string[] {
  const texts: string[] = [];
  for (const doc of loadBrownDocuments()) {
    for (const sentence of doc.text.split(/(?<=[.!?])\s+/)) {
      const tokens = encode(sentence).length;
      if (tokens >= 14 && tokens <= 35) texts.push(sentence);
      if (texts.length === STUDY_SHAPED_DOCUMENTS) return texts;
    }
  }
  throw new Error("the Brown corpus has fewer short sentences than expected");
}

/** Write the corpus as `<dir>/study_shaped.jsonl` and return its path. */
export function writeStudyShapedCorpus(dir: string): string {
  const path = join(dir, "study_shaped.jsonl");
  writeFileSync(path, studyShapedTexts().map((text) => JSON.stringify({ text })).join("\n") + "\n");
  return path;
}
