/**
 * What `npm start` runs on: weights if present; else a download (here from a local stand-in hub); else — hub
 * unreachable or --offline — one line saying so and the seeded random control. An explicit --weights DIR without
 * weights is an error, never a silent fallback.
 */
import { describe, it, expect, beforeAll, afterAll, afterEach } from "vitest";
import { mkdtempSync, readdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { obtainModel } from "../src/study/obtain_model.ts";
import { MissingWeightsError } from "../src/gpt2/loader.ts";
import { startFakeHub, type FakeHub } from "./helpers/fake_hub.ts";

let hub: FakeHub;
const savedEnv = process.env.SAE_SEEDS_WEIGHTS;

beforeAll(async () => {
  hub = await startFakeHub(["gpt2"]);
});
afterAll(() => hub.close());
afterEach(() => {
  if (savedEnv === undefined) delete process.env.SAE_SEEDS_WEIGHTS;
  else process.env.SAE_SEEDS_WEIGHTS = savedEnv;
});

function emptyWeightsDir(): string {
  const dir = mkdtempSync(join(tmpdir(), "obtain-"));
  process.env.SAE_SEEDS_WEIGHTS = dir;
  return dir;
}

describe("obtainModel", () => {
  it("downloads GPT-2 into the weights directory when none is there, then loads it", async () => {
    const dir = emptyWeightsDir();
    const lines: string[] = [];
    const got = await obtainModel({ model: "gpt2", download: true, hubUrl: hub.url, quiet: true, log: (l) => lines.push(l) });
    expect(got.modelName).toBe("gpt2");
    expect(got.control).toBeNull(); // with GPT-2 present nothing changes
    expect(got.model.kind).not.toBe("random");
    expect(readdirSync(dir).sort()).toEqual(["config.json", "model.safetensors"]);
    // Second time: found on disk, nothing said, nothing downloaded.
    const before = hub.requests();
    const again = await obtainModel({ model: "gpt2", download: true, hubUrl: hub.url, quiet: true, log: (l) => lines.push(l) });
    expect(again.model.sha256).toBe(got.model.sha256);
    expect(hub.requests()).toBe(before);
    expect(lines).toEqual([]);
  });

  it("offline: one line naming the place looked and the reason, then the shipped trained model with its random control", async () => {
    const dir = emptyWeightsDir();
    for (const attempt of [{ download: true, hubUrl: "http://127.0.0.1:9" }, { download: false }]) {
      const lines: string[] = [];
      const got = await obtainModel({ model: "gpt2", ...attempt, quiet: true, log: (l) => lines.push(l) });
      expect(got.modelName).toBe("mini");
      expect(got.model.kind).toBe("checkpoint");
      expect(got.model.label).toMatch(/brown-gpt2-mini .*trained by train-lm/);
      expect(got.control).toBe("random-mini");
      expect(lines).toHaveLength(1);
      expect(lines[0]).toContain(dir);
      expect(lines[0]).toMatch(/running on --model mini, brown-gpt2-mini .* beside its random-weight control --model random-mini/);
      if (attempt.download) expect(lines[0]).toMatch(/download failed \(cannot reach http:\/\/127\.0\.0\.1:9/);
      expect(readdirSync(dir)).toEqual([]); // nothing half-written left behind
    }
  }, 60_000);

  it("an explicit --weights directory without weights is an error, not a fallback", async () => {
    const dir = mkdtempSync(join(tmpdir(), "obtain-"));
    await expect(obtainModel({ model: "gpt2", weightsDir: dir, download: true, hubUrl: hub.url, log: () => {} })).rejects.toThrow(MissingWeightsError);
  });
});

describe("the shipped model and its control", () => {
  it("--model mini loads models/brown-gpt2-mini from any working directory; random-mini has its shape and seeded random weights", async () => {
    const { loadModel, SHIPPED_MODEL_DIR } = await import("../src/gpt2/loader.ts");
    const here = process.cwd();
    process.chdir(tmpdir());
    try {
      const mini = await loadModel({ model: "mini" });
      const control = await loadModel({ model: "random-mini" });
      expect(mini.path).toBe(SHIPPED_MODEL_DIR);
      expect(control.weights.config).toEqual(mini.weights.config);
      expect(control.kind).toBe("random");
      expect(control.sha256).not.toBe(mini.sha256);
      expect((await loadModel({ model: "random-mini" })).sha256).toBe(control.sha256);
    } finally {
      process.chdir(here);
    }
  });
});
