/**
 * Train one Top-K SAE and read its features: activations of brown-gpt2-mini (the small trained GPT-2 this repository
 * ships) on a few Brown Corpus documents, Gao et al.'s recipe, then the most frequent feature's top-activating contexts.
 *   npx tsx examples/03_train_one_sae.ts
 */
import { loadModel, forward } from "sae-seeds/gpt2";
import { loadBrownCorpus, makeWindows, selectTrainingRows, describeRow, arrayRows, selectRows } from "sae-seeds/data";
import { defaultTrainConfig, trainSAE, analyseFeatures } from "sae-seeds/sae";

const gpt2 = (await loadModel({ model: "mini" })).weights;
const d = gpt2.config.nEmbd;
const corpus = loadBrownCorpus();
const windows = makeWindows(corpus.documents.slice(0, 3), { seqLen: 32, maxTokens: 1500 });
const acts = forward(gpt2, windows.tokens, windows.nWindows, 32, { hooks: ["blocks.1.hook_resid_pre"], attentionMask: windows.mask, residual: "centered" }).hooks.get("blocks.1.hook_resid_pre")!;
const rowIds = selectTrainingRows(windows); // real tokens only: BOS and padding are not features of text
const rows = selectRows(arrayRows(acts, d), rowIds);

const config = defaultTrainConfig("topk", { dIn: d, dSae: 2 * d, k: 4, seed: 1 }, { epochs: 5, batchSize: 128, lr: 2e-3, deadAfterTokens: rows.rows });
const { sae, history } = trainSAE({ config, data: rows });
for (const h of history) console.log(`epoch ${h.epoch}: FVU ${h.fvu.toFixed(3)}, L0 ${h.l0.toFixed(1)}, dead ${(100 * h.deadFraction).toFixed(0)}%`);

const analysis = analyseFeatures(sae, rows, { topN: 3, describe: (r) => describeRow(windows, rowIds[r]!, corpus.documents.map((d) => d.id)) });
const busiest = [...analysis.features].sort((a, b) => b.fireCount - a.fireCount)[0]!;
console.log(`feature ${busiest.index} fires on ${(100 * busiest.frequency).toFixed(1)}% of tokens; dead features: ${analysis.deadCount}`);
for (const t of busiest.topActivations) console.log(`  ${t.activation.toFixed(2)}  ${t.context!.documentId}: ${t.context!.text}`);
