/**
 * A tiny Hugging Face tokenizer.json (a character-level BPE over lowercase letters, space and punctuation, with the
 * merges t+h and th+e; <s> = 0 and </s> = 1 special, <unk> = 2) for tiny random checkpoints, so a model with a
 * vocabulary of a few dozen tokens can be run on real text end to end.
 */
export const TINY_VOCAB = 48;

export function tinyTokenizerJson(): Record<string, unknown> {
  const chars = "abcdefghijklmnopqrstuvwxyz .,;:'\"!?-()";
  const vocab: Record<string, number> = { "<s>": 0, "</s>": 1, "<unk>": 2 };
  [...chars].forEach((c, i) => (vocab[c] = i + 3));
  vocab.th = 3 + chars.length;
  vocab.the = 4 + chars.length;
  if (Object.keys(vocab).length > TINY_VOCAB) throw new Error("tiny vocabulary overflow");
  return {
    version: "1.0",
    added_tokens: [{ id: 0, content: "<s>", special: true }, { id: 1, content: "</s>", special: true }],
    normalizer: { type: "Lowercase" }, pre_tokenizer: null, post_processor: null, decoder: { type: "Fuse" },
    model: { type: "BPE", vocab, merges: ["t h", "th e"], unk_token: "<unk>", fuse_unk: true, byte_fallback: false, continuing_subword_prefix: null, end_of_word_suffix: null, dropout: null },
  };
}

export const TINY_TOKENIZER_CONFIG = { bos_token: "<s>", eos_token: "</s>" };
