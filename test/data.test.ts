import { describe, it, expect } from "vitest";
import fc from "fast-check";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadBrownCorpus, loadJsonlCorpus, loadTextCorpus, corpusHash, CorpusError } from "../src/data/corpus.ts";
import { detokenise, stripTag } from "../src/data/brown.ts";
import { makeWindows, faithfulSeedStudyWindows, selectTrainingRows, describeRow, KIND_REAL, KIND_BOS, KIND_PAD } from "../src/data/windows.ts";
import { encode, BOS_ID } from "../src/gpt2/tokenizer.ts";
import { writeStudyShapedCorpus, STUDY_SHAPED_DOCUMENTS } from "./helpers/study_corpus.ts";
import { sharedCorpusPath, isPinnedCopy } from "../src/data/study_corpus.ts";
import { existsSync } from "node:fs";

describe("Brown corpus", () => {
  const brown = loadBrownCorpus();
  it("has 500 detokenised documents reading as natural English", () => {
    expect(brown.documents).toHaveLength(500);
    expect(brown.documents[0]!.id).toBe("ca01");
    expect(brown.documents[0]!.text.startsWith(`The Fulton County Grand Jury said Friday an investigation of Atlanta's recent primary election produced "no evidence" that any irregularities took place.`)).toBe(true);
    const all = brown.documents.map((d) => d.text).join("\n");
    expect(all).not.toMatch(/\w\/(nn|at|in|jj|vbd|np)(-tl)?(\s|$)/); // no tags left
    expect(all).not.toMatch(/ [,.;:?!]( |$)/); // no space before punctuation
    expect(all).not.toMatch(/(^|\s)(``|'')(\s|$)/m); // quote tokens became " (inch marks like 10'' stay)
    const words = all.split(/\s+/).length;
    expect(words).toBeGreaterThan(900_000);
    expect(words).toBeLessThan(1_200_000);
  });

  it("splits word/TAG on the last slash and attaches punctuation and quotes", () => {
    expect(stripTag("1/2/cd")).toBe("1/2");
    expect(detokenise(["He", "said", "``", "no", "''", ",", "(", "twice", ")", "."])).toBe('He said "no", (twice).');
  });

  it("has a stable sha256 that changes when any text changes", () => {
    expect(loadBrownCorpus().sha256).toBe(brown.sha256);
    const edited = brown.documents.map((d, i) => (i === 7 ? { ...d, text: d.text + "!" } : d));
    expect(corpusHash(edited)).not.toBe(brown.sha256);
    expect(corpusHash([{ id: "ab", text: "c" }])).not.toBe(corpusHash([{ id: "a", text: "bc" }])); // length-prefixed
  });
});

describe("JSONL and text corpora", () => {
  const dir = mkdtempSync(join(tmpdir(), "corpus-"));
  it("reads a text field per line and names the file and line on errors", () => {
    writeFileSync(join(dir, "ok.jsonl"), '{"text":"one"}\n\n{"text":"two"}\n');
    expect(loadJsonlCorpus(join(dir, "ok.jsonl")).documents.map((d) => d.text)).toEqual(["one", "two"]);
    writeFileSync(join(dir, "bad.jsonl"), '{"text":"one"}\n{oops}\n');
    expect(() => loadJsonlCorpus(join(dir, "bad.jsonl"))).toThrow(/bad\.jsonl:2: not valid JSON/);
    writeFileSync(join(dir, "nofield.jsonl"), '{"body":"x"}\n');
    expect(() => loadJsonlCorpus(join(dir, "nofield.jsonl"))).toThrow(CorpusError);
    writeFileSync(join(dir, "t.txt"), "a\n\nb\n");
    expect(loadTextCorpus(join(dir, "t.txt")).documents).toHaveLength(2);
  });
});

describe("token windows", () => {
  it("never drops a token: each document's real tokens, concatenated across windows, are its encoding", () => {
    fc.assert(fc.property(fc.array(fc.string({ maxLength: 60 }), { minLength: 1, maxLength: 6 }), fc.integer({ min: 2, max: 12 }), (texts, seqLen) => {
      const docs = texts.map((text, i) => ({ id: String(i), text }));
      const w = makeWindows(docs, { seqLen });
      expect(w.tokens.length).toBe(w.nWindows * seqLen);
      texts.forEach((text, d) => {
        const got: number[] = [];
        for (let i = 0; i < w.tokens.length; i++) if (w.kind[i] === KIND_REAL && w.docIndex[i] === d) got.push(w.tokens[i]!);
        expect(got).toEqual(encode(text));
      });
      for (let win = 0; win < w.nWindows; win++) expect(w.kind[win * seqLen]).toBe(KIND_BOS);
      for (let i = 0; i < w.tokens.length; i++) {
        expect(w.mask[i]).toBe(w.kind[i] === KIND_PAD ? 0 : 1);
        if (w.kind[i] === KIND_BOS) expect(w.tokens[i]).toBe(BOS_ID);
      }
      expect(w.realTokens + w.bosTokens + w.padTokens).toBe(w.tokens.length);
      expect(selectTrainingRows(w)).toHaveLength(w.realTokens);
      expect(selectTrainingRows(w, { includeSpecial: true })).toHaveLength(w.tokens.length);
    }), { numRuns: 100 });
  });

  it("stops at maxTokens real tokens", () => {
    const brown = loadBrownCorpus();
    const w = makeWindows(brown.documents.slice(0, 5), { seqLen: 64, maxTokens: 1000 });
    expect(w.realTokens).toBe(1000);
    const ctx = describeRow(w, 70, brown.documents.map((d) => d.id));
    expect(ctx.documentId).toBe("ca01");
    expect(ctx.text).toMatch(/«.+»/);
  });

  // The window logic on the study's shape: our own corpus of 98 one-sentence documents (no ../shared needed).
  it("faithful seed-study windows take the first 31 documents and count padding as rows", () => {
    const corpus = loadJsonlCorpus(writeStudyShapedCorpus(mkdtempSync(join(tmpdir(), "study-"))));
    expect(corpus.documents).toHaveLength(STUDY_SHAPED_DOCUMENTS);
    const w = faithfulSeedStudyWindows(corpus.documents, { seqLen: 64, maxTokens: 2000 });
    expect(w.documentsUsed).toBe(31); // floor(2000 / 64): the study counted padded positions against max_tokens
    expect(w.nWindows * 64).toBe(1984);
    expect(w.bosTokens).toBe(31);
    const expectedReal = corpus.documents.slice(0, 31).reduce((s, d) => s + Math.min(encode(d.text).length, 63), 0);
    expect(w.realTokens).toBe(expectedReal);
    // The study trained on every position; most of them were padding. Reported, not hidden:
    expect(w.padTokens).toBe(1984 - 31 - w.realTokens);
    expect(w.padTokens / 1984).toBeGreaterThan(0.5);
  });

  // The same numbers on the study's own corpus, where this machine has a copy (a user's clone does not).
  const shared = sharedCorpusPath();
  it.skipIf(!existsSync(shared))(`the study's own corpus gives the same window counts (needs ${shared})`, () => {
    expect(isPinnedCopy(shared)).toBe(true);
    const corpus = loadJsonlCorpus(shared);
    expect(corpus.documents).toHaveLength(98);
    const w = faithfulSeedStudyWindows(corpus.documents, { seqLen: 64, maxTokens: 2000 });
    expect([w.documentsUsed, w.nWindows * 64, w.bosTokens, w.realTokens + w.padTokens]).toEqual([31, 1984, 31, 1984 - 31]);
  });
});
