/**
 * The language-model trainer: bit-identical weights at 1 and 2 threads, a resumed run identical to an
 * uninterrupted one, the NaN/Inf guard (stops before updating, last good checkpoint intact), the document split,
 * the n-gram baselines, and that training actually learns.
 */
import { describe, it, expect, afterAll } from "vitest";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { getThreads, setThreads } from "../src/tensor/wasm/index.ts";
import { trainLM, evaluateStream, BatchSchedule, TrainingDivergedError, type LMTrainSpec } from "../src/gpt2/train/trainer.ts";
import { fileTrainStateStore, type TrainStateStore } from "../src/gpt2/train/train_state.ts";
import { hashParams, paramLayout } from "../src/gpt2/train/params.ts";
import { ngramBaselines } from "../src/gpt2/train/ngram.ts";
import { learningRate, detCos } from "../src/gpt2/train/adamw.ts";
import { splitByDocument, tokenStream } from "../src/data/lm_split.ts";
import { corpusHash, type Corpus } from "../src/data/corpus.ts";
import { EOT_ID } from "../src/gpt2/tokenizer.ts";

const threadsBefore = getThreads();
afterAll(() => setThreads(threadsBefore));
const tmp = mkdtempSync(join(tmpdir(), "lm-train-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const SENTENCES = ["The cat sat on the mat.", "A dog ran in the park.", "She read the old book.", "We walked to the river.", "He said that it was late."];
function corpus(docs: number): Corpus {
  const documents = Array.from({ length: docs }, (_, i) => ({ id: `doc-${i}`, text: Array.from({ length: 6 }, (_, j) => SENTENCES[(i + j * 3) % SENTENCES.length]).join(" ") }));
  return { name: "toy", documents, sha256: corpusHash(documents) };
}
const split = splitByDocument(corpus(24), 0.25, 0);
const train = tokenStream(split.train), validation = tokenStream(split.validation);

/** The first training batch of spec() (seed 3): what step 1 of any run with this spec sees. */
function firstBatch() {
  return new BatchSchedule(train, spec()).batch(0);
}

function spec(extra: Partial<LMTrainSpec> = {}): LMTrainSpec {
  return {
    model: { nLayer: 2, nHead: 2, nEmbd: 16, nPositions: 16, vocabSize: 50257, layerNormEpsilon: 1e-5 },
    seed: 3, batchSize: 4, steps: 8, maxLr: 1e-2, minLr: 1e-3, warmupSteps: 2, weightDecay: 0.1, gradClip: 1,
    beta1: 0.9, beta2: 0.95, eps: 1e-8, evalEvery: 4, evalWindows: 4, chunkRows: 24, ...extra,
  };
}

describe("document split and token streams", () => {
  it("splits by document, deterministically, with no document on both sides", () => {
    const again = splitByDocument(corpus(24), 0.25, 0);
    expect(split.validation.length).toBe(6);
    expect(split.train.length).toBe(18);
    expect(again.validationIds).toEqual(split.validationIds);
    expect(again.validationIdsSha256).toBe(split.validationIdsSha256);
    const trainIds = new Set(split.train.map((d) => d.id));
    expect(split.validationIds.some((id) => trainIds.has(id))).toBe(false);
    expect(splitByDocument(corpus(24), 0.25, 1).validationIds).not.toEqual(split.validationIds);
    expect(() => splitByDocument(corpus(1), 0.5, 0)).toThrow(/both need at least one/);
  });
  it("separates documents with <|endoftext|> and frames the stream with it", () => {
    expect(train[0]).toBe(EOT_ID);
    expect(train[train.length - 1]).toBe(EOT_ID);
    expect(Array.from(train).filter((t) => t === EOT_ID).length).toBe(split.train.length + 1);
  });
});

describe("n-gram baselines", () => {
  it("match a hand computation on a 3-token vocabulary", () => {
    // train 0 1 0 1 0 2: unigram counts 3,2,1 (N 6, V 3): p = 4/9, 3/9, 2/9.
    // bigram contexts: 0 → {1: 2, 2: 1} (c 3, T 2), 1 → {0: 2} (c 2, T 1). validation 0 1 1 scores 1|0 and 1|1.
    const r = ngramBaselines(Int32Array.from([0, 1, 0, 1, 0, 2]), Int32Array.from([0, 1, 1]), 3);
    const pUni1 = 3 / 9;
    expect(r.unigram).toBeCloseTo(-Math.log(pUni1), 12);
    const p10 = (2 - 0.75) / 3 + (0.75 * 2) / 3 * pUni1;
    const p11 = 0 / 2 + (0.75 * 1) / 2 * pUni1;
    expect(r.bigram).toBeCloseTo(-(Math.log(p10) + Math.log(p11)) / 2, 12);
    expect(r.targets).toBe(2);
  });
});

describe("schedule", () => {
  it("warms up linearly, then decays by a cosine to the minimum; detCos matches Math.cos", () => {
    const s = { maxLr: 1, minLr: 0.1, warmupSteps: 4, totalSteps: 14 };
    expect([0, 1, 2, 3].map((i) => learningRate(i, s))).toEqual([0.25, 0.5, 0.75, 1]);
    expect(learningRate(9, s)).toBeCloseTo(0.55, 12);
    expect(learningRate(14, s)).toBeCloseTo(0.1, 12);
    for (let x = 0; x <= Math.PI; x += 0.01) expect(Math.abs(detCos(x) - Math.cos(x))).toBeLessThan(1e-15);
  });
});

describe("trainLM", () => {
  it("gives bit-identical weights, losses and evaluations at 1 and 2 threads", () => {
    setThreads(1);
    const one = trainLM({ spec: spec(), train, validation });
    setThreads(2);
    const two = trainLM({ spec: spec(), train, validation });
    expect(hashParams(two.model.params)).toBe(hashParams(one.model.params));
    expect(two.record).toEqual(one.record);
    expect(one.record.loss.length).toBe(8);
    expect(one.record.evals.map((e) => e.step)).toEqual([4, 8]);
    // And the seed matters.
    const other = trainLM({ spec: spec({ seed: 4 }), train, validation });
    expect(hashParams(other.model.params)).not.toBe(hashParams(one.model.params));
  });

  it("resumes from a checkpoint bit-identically to an uninterrupted run", () => {
    const full = trainLM({ spec: spec(), train, validation });
    const store = fileTrainStateStore(join(tmp, "resume.safetensors"));
    const first = trainLM({ spec: spec(), train, validation, store, stopAfter: 3 });
    expect(first.stepsDone).toBe(3);
    expect(store.load()!.step).toBe(3);
    const rest = trainLM({ spec: spec(), train, validation, store, checkpointEvery: 2 });
    expect(rest.resumedFrom).toBe(3);
    expect(hashParams(rest.model.params)).toBe(hashParams(full.model.params));
    expect(rest.record).toEqual(full.record);
    expect(() => trainLM({ spec: spec({ seed: 9 }), train, validation, store })).toThrow(/different training spec/);
  });

  it("continues from given weights (continued training), checked against the spec's hash", () => {
    const first = trainLM({ spec: spec({ steps: 4 }), train, validation });
    const init = first.model.params.slice();
    const sha = hashParams(init);
    const cont = trainLM({ spec: spec({ steps: 3, initParamsSha256: sha }), train, validation, initParams: init });
    expect(hashParams(init)).toBe(sha); // the given buffer is not modified
    expect(cont.record.loss[0]).toBe(first.model.loss({ ...firstBatch(), batch: 4, seq: 16 }).loss);
    const wrong = init.slice();
    wrong[0] += 1;
    expect(() => trainLM({ spec: spec({ steps: 3, initParamsSha256: sha }), train, validation, initParams: wrong })).toThrow(/hash to .* the spec expects/);
  });

  it("stops on a non-finite loss before updating, with one clear message, and leaves the last checkpoint intact", () => {
    const path = join(tmp, "nan.safetensors");
    const file = fileTrainStateStore(path);
    trainLM({ spec: spec(), train, validation, store: file, stopAfter: 2 });
    const good = file.load()!;
    // A store that hands the trainer the checkpoint with one poisoned parameter (ln_f.bias[0] = NaN).
    const layout = paramLayout(spec().model);
    const lnfBias = layout.tensors.find((t) => t.key === "ln_f.bias")!;
    let saves = 0;
    const poisoned: TrainStateStore = {
      path,
      load: () => {
        const s = file.load()!;
        s.params[lnfBias.offset] = NaN;
        return s;
      },
      save: () => void saves++,
    };
    let error: unknown;
    try {
      trainLM({ spec: spec(), train, validation, store: poisoned, checkpointEvery: 1 });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(TrainingDivergedError);
    expect((error as Error).message).toMatch(/^step 3: loss is NaN; stopped before updating the weights; the last good checkpoint \(after step 2\) is intact/);
    expect((error as Error).message.split("\n")).toHaveLength(1);
    expect(saves).toBe(0);
    const after = file.load()!;
    expect(after.step).toBe(2);
    expect(hashParams(after.params)).toBe(hashParams(good.params));
  });

  it("learns: training loss falls fourfold and the validation loss ends far below the unigram's", () => {
    const r = trainLM({ spec: spec({ steps: 60, maxLr: 2e-2, warmupSteps: 5, evalEvery: 0 }), train, validation });
    const val = evaluateStream(r.model, validation, 4).loss;
    const { bigram, unigram } = ngramBaselines(train, validation, 50257);
    expect(r.record.loss[59]!).toBeLessThan(r.record.loss[0]! / 4);
    expect(val).toBeLessThan(unigram / 3);
    expect(bigram).toBeLessThan(unigram);
  });
});
