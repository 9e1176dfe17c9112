/**
 * GPT-2's vocabulary (r50k_base, as gpt-tokenizer ships its ranks) written as a Hugging Face tokenizer.json: the
 * byte-level BPE of GPT-2's own tokenizer.json, rebuilt from the ranks — vocab keys in GPT-2's bytes-to-unicode
 * alphabet, and the merges recovered the way tiktoken-to-HF conversions do: each token of rank r ≥ 256 is run
 * through BPE with the ranks below r, which leaves exactly the two parts that merge into it.
 */
import ranks from "gpt-tokenizer/bpeRanks/r50k_base";

/** GPT-2's printable stand-ins for the 256 byte values. */
export function bytesToUnicode(): string[] {
  const printable: number[] = [];
  for (let b = 33; b <= 126; b++) printable.push(b);
  for (let b = 161; b <= 172; b++) printable.push(b);
  for (let b = 174; b <= 255; b++) printable.push(b);
  const map = new Array<string>(256);
  for (const b of printable) map[b] = String.fromCodePoint(b);
  let n = 0;
  for (let b = 0; b < 256; b++) if (map[b] === undefined) map[b] = String.fromCodePoint(256 + n++);
  return map;
}

export function gpt2TokenizerJson(): Record<string, unknown> {
  const alphabet = bytesToUnicode();
  const table = ranks as (string | number[])[];
  const bytesOf = (r: number): number[] => {
    const t = table[r]!;
    return typeof t === "string" ? Array.from(new TextEncoder().encode(t)) : t;
  };
  const key = (bytes: number[]): string => bytes.map((b) => alphabet[b]).join("");
  const rankOf = new Map<string, number>();
  const vocab: Record<string, number> = {};
  table.forEach((_, r) => {
    const k = key(bytesOf(r));
    rankOf.set(k, r);
    vocab[k] = r;
  });
  vocab["<|endoftext|>"] = 50256;
  const merges: string[] = [];
  for (let r = 0; r < table.length; r++) {
    const bytes = bytesOf(r);
    if (bytes.length < 2) continue;
    let parts = bytes.map((b) => alphabet[b]!);
    for (;;) {
      let best = -1, bestRank = r;
      for (let i = 0; i + 1 < parts.length; i++) {
        const rk = rankOf.get(parts[i]! + parts[i + 1]!);
        if (rk !== undefined && rk < bestRank) { bestRank = rk; best = i; }
      }
      if (best < 0) break;
      parts = [...parts.slice(0, best), parts[best]! + parts[best + 1]!, ...parts.slice(best + 2)];
    }
    if (parts.length !== 2) throw new Error(`rank ${r}: BPE below its rank leaves ${parts.length} parts`);
    merges.push(`${parts[0]} ${parts[1]}`);
  }
  const byteLevel = { type: "ByteLevel", add_prefix_space: false, trim_offsets: true, use_regex: true };
  return {
    version: "1.0", truncation: null, padding: null,
    added_tokens: [{ id: 50256, content: "<|endoftext|>", single_word: false, lstrip: false, rstrip: false, normalized: true, special: true }],
    normalizer: null, pre_tokenizer: byteLevel, post_processor: byteLevel, decoder: byteLevel,
    model: { type: "BPE", dropout: null, unk_token: null, continuing_subword_prefix: "", end_of_word_suffix: "", fuse_unk: false, byte_fallback: false, vocab, merges },
  };
}
