/**
 * Language-model data: a corpus split into training and validation sets BY DOCUMENT (no document contributes to
 * both, so validation text is unseen text, not unseen windows of seen text), and each side as one token stream
 *
 *   <|endoftext|> doc₁ <|endoftext|> doc₂ … docₙ <|endoftext|>
 *
 * (GPT-2's own convention: the separator ends one document and starts the next). The split is a seeded
 * permutation of the documents (`Rng.stream(splitSeed, "lm/split")`), independent of the training seed, and is
 * recorded by the ids of the validation documents and their sha256.
 */
import { createHash } from "node:crypto";
import { Rng } from "../tensor/rng.ts";
import { encode, EOT_ID } from "../gpt2/tokenizer.ts";
import type { Corpus, CorpusDocument } from "./corpus.ts";

export interface DocumentSplit {
  train: CorpusDocument[];
  validation: CorpusDocument[];
  validationIds: string[];
  /** sha256 of the validation ids joined by newlines (in corpus order). */
  validationIdsSha256: string;
}

/** Split a corpus into training and validation documents by a seeded permutation (whole documents, never windows). */
export function splitByDocument(corpus: Corpus, validationFraction: number, splitSeed: number): DocumentSplit {
  const n = corpus.documents.length;
  if (!(validationFraction > 0 && validationFraction < 1)) throw new Error(`validation fraction must be in (0, 1), got ${validationFraction}`);
  const nVal = Math.round(n * validationFraction);
  if (nVal < 1 || nVal >= n) throw new Error(`corpus ${corpus.name} has ${n} documents: a validation fraction of ${validationFraction} leaves ${nVal} for validation and ${n - nVal} for training; both need at least one (use a larger corpus or another fraction)`);
  const order = Rng.stream(splitSeed, "lm/split").permutation(n);
  const isVal = new Uint8Array(n);
  for (let i = 0; i < nVal; i++) isVal[order[i]!] = 1;
  const train: CorpusDocument[] = [], validation: CorpusDocument[] = [];
  corpus.documents.forEach((doc, i) => (isVal[i] ? validation : train).push(doc));
  const validationIds = validation.map((d) => d.id);
  return { train, validation, validationIds, validationIdsSha256: createHash("sha256").update(validationIds.join("\n")).digest("hex") };
}

/** The documents as one stream of GPT-2 token ids, each document preceded by <|endoftext|>, one more at the end. */
export function tokenStream(documents: readonly CorpusDocument[]): Int32Array {
  const parts: number[][] = documents.map((d) => encode(d.text));
  const total = parts.reduce((s, p) => s + p.length + 1, 1);
  const out = new Int32Array(total);
  let o = 0;
  for (const p of parts) {
    out[o++] = EOT_ID;
    out.set(p, o);
    o += p.length;
  }
  out[o] = EOT_ID;
  return out;
}
