import { describe, it, expect } from "vitest";
import { encode, decode, decodeToken, EOT_ID } from "../src/gpt2/tokenizer.ts";

describe("GPT-2 tokenizer (r50k_base)", () => {
  it("gives GPT-2's known token ids", () => {
    expect(encode("Hello world")).toEqual([15496, 995]);
    expect(encode(" Paris")).toEqual([6342]);
    expect(encode(" the")).toEqual([262]);
    expect(decode([15496, 995])).toBe("Hello world");
  });

  it("encodes the text <|endoftext|> as plain text, never as the special id", () => {
    const ids = encode("a <|endoftext|> b");
    expect(ids).not.toContain(EOT_ID);
    expect(decode(ids)).toBe("a <|endoftext|> b");
  });

  it("round-trips arbitrary text including non-ASCII", () => {
    for (const s of ["naïve café — ü", "日本語のテキスト", "emoji 🙂 ok", "  spaces\n\nnewlines\t"]) expect(decode(encode(s))).toBe(s);
    expect(decodeToken(EOT_ID)).toBe("<|endoftext|>");
    expect(typeof decodeToken(encode("🙂")[0]!)).toBe("string");
  });
});
