/**
 * A model's tokenizer, whatever the family: text → token ids for building windows, ids → text for showing them.
 *
 *   GPT-2                 GPT-2's byte-pair encoding via gpt-tokenizer (./tokenizer.ts), as always
 *   any tokenizer.json    Hugging Face's own tokenizer format (Pythia's and Llama-3's byte-level BPE, Gemma's
 *                         SentencePiece-style BPE with byte fallback, …) through @huggingface/tokenizers — Hugging
 *                         Face's pure-TypeScript port of its `tokenizers` library, no dependencies
 *
 * Plain text: `encode` never produces a special token. A corpus that contains the string "<|begin_of_text|>" or
 * "<bos>" gets it as ordinary text pieces, never the control id — a document cannot smuggle in boundaries. (The
 * windows add BOS themselves, ../data/windows.ts.) For that the encoder is built without the tokenizer.json's special
 * added tokens; they are kept aside for decoding.
 *
 * BOS / EOS / pad ids: config.json's bos_token_id, eos_token_id and pad_token_id where given, else the tokens
 * tokenizer_config.json names; a model without a pad token pads with EOS (padding is masked, its id never matters).
 * `sha256` identifies the tokenizer (the tokenizer.json and tokenizer_config.json bytes), so caches and receipts can
 * say which one made their tokens.
 */
import { createHash } from "node:crypto";
import { Tokenizer } from "@huggingface/tokenizers";
import * as gpt2 from "./tokenizer.ts";

export interface ModelTokenizer {
  /** "GPT-2 BPE (gpt-tokenizer r50k_base)" or "tokenizer.json (BPE, 50277 tokens)". */
  description: string;
  sha256: string;
  /** One more than the largest id the tokenizer can produce. */
  vocabSize: number;
  bosId: number;
  eosId: number;
  padId: number;
  /** Plain text → ids, no special tokens added or recognised. */
  encode(text: string): number[];
  /** Ids → text (special tokens by their names). */
  decode(ids: readonly number[]): string;
  /** One token as text, for display (a partial UTF-8 character shows as U+FFFD; specials by their name). */
  decodeToken(id: number): string;
}

/** A tokenizer.json that cannot be used: unreadable, or not this model's. */
export class TokenizerError extends Error {
  override name = "TokenizerError";
}

export const GPT2_TOKENIZER: ModelTokenizer = {
  description: "GPT-2 BPE (gpt-tokenizer r50k_base)",
  sha256: createHash("sha256").update("gpt-tokenizer r50k_base; <|endoftext|> = 50256 as BOS, EOS and pad").digest("hex"),
  vocabSize: gpt2.VOCAB_SIZE,
  bosId: gpt2.BOS_ID,
  eosId: gpt2.EOT_ID,
  padId: gpt2.PAD_ID,
  encode: gpt2.encode,
  decode: gpt2.decode,
  decodeToken: gpt2.decodeToken,
};

/** A parsed JSON object. */
export type Json = Record<string, unknown>;

interface AddedTokenJson {
  id: number;
  content: string;
  special?: boolean;
}

/** A token named in tokenizer_config.json: a string, or {content: string} (AddedToken form). */
function tokenName(v: unknown): string | null {
  if (typeof v === "string") return v;
  if (v && typeof v === "object" && typeof (v as { content?: unknown }).content === "string") return (v as { content: string }).content;
  return null;
}

function idFrom(configValue: unknown): number | null {
  if (typeof configValue === "number" && Number.isSafeInteger(configValue) && configValue >= 0) return configValue;
  if (Array.isArray(configValue) && typeof configValue[0] === "number") return configValue[0]; // eos_token_id: [1, 107]
  return null;
}

export interface HFTokenizerFiles {
  tokenizerJson: Json;
  tokenizerConfig: Json;
  /** sha256 over the two files' bytes (what identifies the tokenizer). */
  sha256: string;
  /** The model's config.json, for its bos/eos/pad ids (optional). */
  modelConfig?: Json;
  label: string;
}

/** A ModelTokenizer from a tokenizer.json and tokenizer_config.json (see the file header for BOS/EOS/pad and plain text). */
export function hfTokenizer(files: HFTokenizerFiles): ModelTokenizer {
  const { tokenizerJson, tokenizerConfig, modelConfig = {}, label } = files;
  const added = (Array.isArray(tokenizerJson.added_tokens) ? tokenizerJson.added_tokens : []) as AddedTokenJson[];
  const special = new Map<number, string>();
  for (const t of added) if (t.special) special.set(t.id, t.content);
  const model = tokenizerJson.model as Json | undefined;
  if (!model || typeof model !== "object") throw new TokenizerError(`${label}: tokenizer.json has no "model"`);
  let encoder: Tokenizer;
  try {
    encoder = new Tokenizer({ ...tokenizerJson, added_tokens: added.filter((t) => !t.special) }, tokenizerConfig);
  } catch (e) {
    throw new TokenizerError(`${label}: @huggingface/tokenizers cannot read this tokenizer.json (${(e as Error).message})`);
  }
  // Largest id + 1 over the model's vocabulary (an object token → id, or Unigram's [token, score] list) and the
  // added tokens (a loop, not Math.max(...): vocabularies of 256k entries overflow an argument list).
  const vocab = model.vocab;
  let vocabSize = Array.isArray(vocab) ? vocab.length : 0;
  if (vocab && typeof vocab === "object" && !Array.isArray(vocab)) for (const id of Object.values(vocab as Record<string, number>)) vocabSize = Math.max(vocabSize, id + 1);
  for (const t of added) vocabSize = Math.max(vocabSize, t.id + 1);
  const idOf = (name: string | null): number | null => {
    if (name === null) return null;
    for (const [id, content] of special) if (content === name) return id;
    for (const t of added) if (t.content === name) return t.id;
    return encoder.token_to_id(name) ?? null;
  };
  const eosId = idFrom(modelConfig.eos_token_id) ?? idOf(tokenName(tokenizerConfig.eos_token));
  const bosId = idFrom(modelConfig.bos_token_id) ?? idOf(tokenName(tokenizerConfig.bos_token)) ?? eosId;
  const padId = idFrom(modelConfig.pad_token_id) ?? idOf(tokenName(tokenizerConfig.pad_token)) ?? eosId;
  if (bosId === null || eosId === null || padId === null) {
    throw new TokenizerError(`${label}: neither config.json (bos_token_id, eos_token_id) nor tokenizer_config.json (bos_token, eos_token) names the BOS/EOS tokens; add them to config.json`);
  }
  const decodePlain = (ids: readonly number[]): string => (ids.length === 0 ? "" : encoder.decode(ids as number[], { skip_special_tokens: false, clean_up_tokenization_spaces: false }));
  const decode = (ids: readonly number[]): string => {
    let out = "";
    let run: number[] = [];
    for (const id of ids) {
      const name = special.get(id);
      if (name === undefined) {
        run.push(id);
        continue;
      }
      out += decodePlain(run) + name;
      run = [];
    }
    return out + decodePlain(run);
  };
  return {
    description: `tokenizer.json (${String(model.type ?? "?")}, ${vocabSize} tokens) from ${label}`,
    sha256: files.sha256,
    vocabSize,
    bosId, eosId, padId,
    encode: (text) => encoder.encode(text, { add_special_tokens: false }).ids,
    decode,
    decodeToken: (id) => special.get(id) ?? decodePlain([id]),
  };
}
