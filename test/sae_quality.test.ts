/**
 * SAE quality on held-out tokens — explained variance, FVU, L0, dead and dense latents, CE-loss and KL scores with the
 * reconstruction spliced in — against PyTorch float64 on the same weights and windows
 * (tools/reference/quality_reference.py → test/fixtures/quality/).
 */
import { describe, it, expect } from "vitest";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { loadCheckpoint } from "../src/gpt2/loader.ts";
import { loadSAE } from "../src/sae/io.ts";
import { hookBaseline, saeQuality, type QualityMetrics } from "../src/sae/quality.ts";

const FIXTURE = join(import.meta.dirname, "fixtures", "quality");
const expected = JSON.parse(readFileSync(join(FIXTURE, "expected.json"), "utf8")) as {
  hook: string; seqLen: number; nWindows: number; tokens: number[]; mask: number[]; kind: number[]; metrics: QualityMetrics;
};

describe("SAE quality metrics", () => {
  it("equal PyTorch's on the fixture model and SAE (float32 forward against float64)", async () => {
    const model = await loadCheckpoint(join(FIXTURE, "model"));
    const { sae } = loadSAE(join(FIXTURE, "sae"));
    const windows = {
      seqLen: expected.seqLen, nWindows: expected.nWindows, tokens: Int32Array.from(expected.tokens),
      mask: Uint8Array.from(expected.mask), kind: Uint8Array.from(expected.kind),
    };
    const base = hookBaseline(model.weights, windows, expected.hook, "centered", 4);
    const got = saeQuality(sae, model.weights, base);
    const want = expected.metrics;
    // Counts are exact; losses to 1e-5 relative (a float32 forward against float64); the scores, being ratios of
    // differences of those losses, to 2e-4.
    for (const key of ["tokens", "predictions", "l0", "deadFraction", "denseAbove1Percent", "denseAbove10Percent"] as const) expect(got[key], key).toBe(want[key]);
    for (const key of ["ceClean", "ceWithSae", "ceZeroAblation", "klWithSae", "klZeroAblation", "explainedVariance", "fvu"] as const) {
      expect(Math.abs(got[key]! - want[key]!) / Math.abs(want[key]!), key).toBeLessThan(1e-5);
    }
    for (const key of ["ceLossScore", "klScore"] as const) expect(Math.abs(got[key]! - want[key]!), key).toBeLessThan(2e-4);
    // The clean and zero-ablated baselines do not depend on the SAE: a second SAE on the same baseline reuses them.
    const again = saeQuality(sae, model.weights, base);
    expect(again).toEqual(got);
  });
});
