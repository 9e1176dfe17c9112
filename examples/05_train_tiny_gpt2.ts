/**
 * Train a tiny GPT-2 from scratch for about a minute and watch its validation loss fall below the bigram line.
 *   npx tsx examples/05_train_tiny_gpt2.ts          (about a minute)
 *   npx tsx examples/05_train_tiny_gpt2.ts --tiny   (seconds: a few steps, for the test suite)
 *
 * The text is a small made-up world ("Alice likes apples. Alice lives in Paris. …"): every person has one
 * favourite food, one city and one pet, and each document states facts about one person in random order. Which
 * food follows "likes" (and which name starts the next sentence) depends on who the document is about, which a
 * bigram model cannot see (it only knows the previous token) and attention can. So the smoothed bigram's loss
 * is a line the transformer has to cross by learning to look back. (On the Brown Corpus the same crossing takes about an hour: see models/brown-gpt2-mini.)
 */
import { Rng } from "sae-seeds/tensor";
import { trainLM, evaluateStream, ngramBaselines, sampleContinuation, encode, decode, type LMTrainSpec } from "sae-seeds/gpt2";
import { splitByDocument, tokenStream, corpusHash } from "sae-seeds/data";

const tiny = process.argv.includes("--tiny");
const people = ["Alice", "Bob", "Carol", "David", "Emma", "Frank", "Grace", "Henry"];
const food = ["apples", "bread", "cheese", "dates", "eggs", "figs", "grapes", "honey"];
const city = ["Paris", "Rome", "Berlin", "Madrid", "Vienna", "Prague", "Lisbon", "Dublin"];
const pet = ["cat", "dog", "horse", "parrot", "rabbit", "goat", "turtle", "mouse"];

// 200 documents of 8 facts each, from a seeded stream.
const rng = Rng.stream(0, "example-05/world");
const documents = Array.from({ length: 200 }, (_, i) => {
  const p = rng.int(people.length); // each document is about one person
  const facts = Array.from({ length: 8 }, () => {
    const kind = rng.int(3);
    return kind === 0 ? `${people[p]} likes ${food[p]}.` : kind === 1 ? `${people[p]} lives in ${city[p]}.` : `${people[p]} has a ${pet[p]}.`;
  });
  return { id: `doc-${i}`, text: facts.join(" ") };
});
const split = splitByDocument({ name: "tiny-world", documents, sha256: corpusHash(documents) }, 0.1, 0);
const train = tokenStream(split.train), validation = tokenStream(split.validation);
const { bigram, unigram } = ngramBaselines(train, validation, 50257);
console.log(`${split.train.length} training documents (${train.length} tokens), ${split.validation.length} held out (${validation.length} tokens)`);
console.log(`baselines on the held-out documents: unigram ${unigram.toFixed(3)}, smoothed bigram ${bigram.toFixed(3)} nats/token`);

const spec: LMTrainSpec = {
  model: { nLayer: 2, nHead: 2, nEmbd: 32, nPositions: 32, vocabSize: 50257, layerNormEpsilon: 1e-5 },
  seed: 0, batchSize: 8, steps: tiny ? 12 : 300, maxLr: 1e-2, minLr: 1e-3, warmupSteps: tiny ? 2 : 30,
  weightDecay: 0.1, gradClip: 1, beta1: 0.9, beta2: 0.95, eps: 1e-8,
  evalEvery: tiny ? 6 : 50, evalWindows: 64, chunkRows: 256,
};
const started = performance.now();
const result = trainLM({
  spec, train, validation,
  onStep: ({ step, loss, evalLoss }) => {
    if (evalLoss === undefined) return;
    const mark = evalLoss < bigram ? "below the bigram line" : "above the bigram line";
    const bar = "#".repeat(Math.max(0, Math.round(evalLoss * 4)));
    console.log(`step ${String(step).padStart(3)}  train ${loss.toFixed(3)}  validation ${evalLoss.toFixed(3)}  ${bar.padEnd(44)} ${mark}`);
  },
});
const seconds = (performance.now() - started) / 1000;
const val = evaluateStream(result.model, validation, spec.batchSize).loss;
console.log(`trained ${spec.steps} steps in ${seconds.toFixed(0)} s (${((spec.steps * spec.batchSize * spec.model.nPositions) / seconds).toFixed(0)} tokens/s)`);
console.log(`validation loss ${val.toFixed(3)} vs smoothed bigram ${bigram.toFixed(3)}: ${val < bigram ? `${(bigram - val).toFixed(3)} nats below the bigram line` : "not yet below the bigram line (train longer)"}`);
const prompt = "Alice likes";
const continuation = decode(sampleContinuation(result.model.weights, encode(prompt), Rng.stream(0, "example-05/sample"), { tokens: 12, temperature: 0.7, topK: 20 }));
console.log(`sample: ${JSON.stringify(prompt + continuation)}`);
