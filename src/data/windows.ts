/**
 * Token windows: the unit GPT-2 is run on. Two ways to cut a corpus:
 *
 * standard — documents are tokenised and cut into windows of `seqLen` tokens, each starting with BOS
 *   (<|endoftext|>): [BOS, t1 … t_{seqLen−1}]. A document longer than one window continues in the next window
 *   (again after a BOS), so nothing is silently truncated; a document's last partial window is right-padded,
 *   and the mask says which positions are padding. `maxTokens` stops after that many real (non-BOS,
 *   non-pad) tokens, at a window boundary, cutting the final window short if needed.
 * faithful — what the seed study's Python platform did: each document tokenised separately (TransformerLens
 *   prepends BOS), truncated to seqLen, right-padded; documents taken while the running count of positions
 *   (seqLen per document, padding included) stays ≤ max_tokens. All positions, BOS and padding too, became
 *   training rows.
 *
 * Every position carries its kind (real token, BOS, pad), document index and position in the document, so
 * later stages can exclude special rows, count real tokens, and show the context of any row.
 *
 * The tokenizer is the model's (GPT-2's BPE unless given): its BOS starts each window and its pad id fills padding.
 */
import { GPT2_TOKENIZER, type ModelTokenizer } from "../gpt2/model_tokenizer.ts";
import type { CorpusDocument } from "./corpus.ts";

export const KIND_REAL = 0;
export const KIND_BOS = 1;
export const KIND_PAD = 2;

export interface TokenWindows {
  seqLen: number;
  nWindows: number;
  /** [nWindows·seqLen] token ids. */
  tokens: Int32Array;
  /** 1 for real tokens and BOS (attended to), 0 for padding. */
  mask: Uint8Array;
  /** KIND_REAL, KIND_BOS or KIND_PAD per position. */
  kind: Uint8Array;
  /** Document index per position (−1 for padding). */
  docIndex: Int32Array;
  /** Token offset within its document per position (−1 for BOS and padding). */
  posInDoc: Int32Array;
  realTokens: number;
  bosTokens: number;
  padTokens: number;
  documentsUsed: number;
}

class WindowBuilder {
  tokens: number[] = [];
  kind: number[] = [];
  docIndex: number[] = [];
  posInDoc: number[] = [];
  constructor(readonly seqLen: number, readonly padId: number) {}

  push(token: number, kind: number, doc: number, pos: number): void {
    this.tokens.push(token);
    this.kind.push(kind);
    this.docIndex.push(doc);
    this.posInDoc.push(pos);
  }

  padToWindow(): void {
    while (this.tokens.length % this.seqLen !== 0) this.push(this.padId, KIND_PAD, -1, -1);
  }

  finish(documentsUsed: number): TokenWindows {
    const n = this.tokens.length;
    const kind = Uint8Array.from(this.kind);
    let real = 0, bos = 0, pad = 0;
    for (const k of kind) {
      if (k === KIND_REAL) real++;
      else if (k === KIND_BOS) bos++;
      else pad++;
    }
    return {
      seqLen: this.seqLen, nWindows: n / this.seqLen, tokens: Int32Array.from(this.tokens),
      mask: Uint8Array.from(kind, (k) => (k === KIND_PAD ? 0 : 1)), kind,
      docIndex: Int32Array.from(this.docIndex), posInDoc: Int32Array.from(this.posInDoc),
      realTokens: real, bosTokens: bos, padTokens: pad, documentsUsed,
    };
  }
}

export interface WindowOptions {
  seqLen: number;
  /** Stop after this many real tokens (default: the whole corpus). */
  maxTokens?: number;
  /** The model's tokenizer (default GPT-2's). */
  tokenizer?: ModelTokenizer;
}

/** Standard windows: BOS at the start of each, documents cut across windows, each document starting a new one, up to maxTokens real tokens. */
export function makeWindows(documents: readonly CorpusDocument[], { seqLen, maxTokens = Infinity, tokenizer = GPT2_TOKENIZER }: WindowOptions): TokenWindows {
  if (!Number.isInteger(seqLen) || seqLen < 2) throw new Error(`seqLen must be an integer ≥ 2, got ${seqLen}`);
  const b = new WindowBuilder(seqLen, tokenizer.padId);
  let real = 0;
  let used = 0;
  for (let d = 0; d < documents.length && real < maxTokens; d++) {
    const ids = tokenizer.encode(documents[d]!.text);
    if (ids.length === 0) continue;
    used++;
    for (let p = 0; p < ids.length && real < maxTokens; p++) {
      if (b.tokens.length % seqLen === 0) b.push(tokenizer.bosId, KIND_BOS, d, -1);
      b.push(ids[p]!, KIND_REAL, d, p);
      real++;
    }
    b.padToWindow(); // a new document starts a new window
  }
  return b.finish(used);
}

export interface FaithfulOptions {
  seqLen: number;
  /** The study counted positions (seqLen per document, padding included) against this budget. */
  maxTokens: number;
  tokenizer?: ModelTokenizer;
}

/** The seed study's windows: one per document, BOS then its first seqLen − 1 tokens, padded; positions count against maxTokens. */
export function faithfulSeedStudyWindows(documents: readonly CorpusDocument[], { seqLen, maxTokens, tokenizer = GPT2_TOKENIZER }: FaithfulOptions): TokenWindows {
  const b = new WindowBuilder(seqLen, tokenizer.padId);
  let used = 0;
  for (let d = 0; d < documents.length && (used + 1) * seqLen <= maxTokens; d++) {
    const ids = tokenizer.encode(documents[d]!.text).slice(0, seqLen - 1);
    b.push(tokenizer.bosId, KIND_BOS, d, -1);
    ids.forEach((t, p) => b.push(t, KIND_REAL, d, p));
    b.padToWindow();
    used++;
  }
  return b.finish(used);
}

/** Flat row indices used for training: real tokens only by default; every position with includeSpecial. */
export function selectTrainingRows(w: TokenWindows, { includeSpecial = false } = {}): Int32Array {
  if (includeSpecial) return Int32Array.from({ length: w.tokens.length }, (_, i) => i);
  const rows: number[] = [];
  for (let i = 0; i < w.kind.length; i++) if (w.kind[i] === KIND_REAL) rows.push(i);
  return Int32Array.from(rows);
}

/** A readable context for a row: a few tokens either side, the row's own token marked «like this». */
export function describeRow(w: TokenWindows, row: number, documentIds: readonly string[], radius = 8, tokenizer: ModelTokenizer = GPT2_TOKENIZER): { documentId: string; position: number; text: string } {
  const win = Math.floor(row / w.seqLen);
  const start = Math.max(win * w.seqLen, row - radius);
  const end = Math.min((win + 1) * w.seqLen, row + radius + 1);
  const piece = (i: number) => (w.kind[i] === KIND_BOS ? "<bos>" : w.kind[i] === KIND_PAD ? "<pad>" : tokenizer.decode([w.tokens[i]!]));
  let text = "";
  for (let i = start; i < end; i++) text += i === row ? `«${piece(i)}»` : piece(i);
  const d = w.docIndex[row]!;
  return { documentId: d >= 0 ? documentIds[d] ?? String(d) : "(padding)", position: w.posInDoc[row]!, text: text.replace(/\n/g, "⏎") };
}
