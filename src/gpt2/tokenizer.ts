/**
 * GPT-2's byte-pair encoding (`r50k_base`) via gpt-tokenizer. `<|endoftext|>` (50256) is GPT-2's only special
 * token; we use it as BOS and as padding. Text that merely contains the string "<|endoftext|>" is encoded as
 * ordinary text, never as the special id, so a corpus cannot smuggle document boundaries in.
 */
import { encode as bpeEncode, decode as bpeDecode } from "gpt-tokenizer/encoding/r50k_base";

export const EOT_ID = 50256;
export const BOS_ID = EOT_ID;
export const PAD_ID = EOT_ID;
export const VOCAB_SIZE = 50257;

const PLAIN_TEXT = { disallowedSpecial: new Set<string>(), allowedSpecial: new Set<string>() };

/** Text to GPT-2 token ids (special tokens are plain text, never control tokens). */
export function encode(text: string): number[] {
  return bpeEncode(text, PLAIN_TEXT);
}

/** GPT-2 token ids back to text. */
export function decode(ids: readonly number[]): string {
  return bpeDecode(ids as number[]);
}

/**
 * One token as text, for display. A token can be part of a multi-byte UTF-8 character; its undecodable
 * bytes show as U+FFFD rather than throwing.
 */
export function decodeToken(id: number): string {
  if (id === EOT_ID) return "<|endoftext|>";
  return bpeDecode([id]);
}
