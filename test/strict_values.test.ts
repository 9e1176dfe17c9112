/**
 * Values are what the user asked for: flags and spec files are checked by one set of rules with one set of messages,
 * an explicit value always wins over the layers below it (0 is a value, never "unset"), and anything outside its
 * domain is one error line naming the setting and what would be valid.
 */
import { describe, it, expect } from "vitest";
import fc from "fast-check";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "../src/cli/args.ts";
import { SettingsError } from "../src/study/value_rules.ts";
import { SWEEP_FLAGS, STABILITY_FLAGS, specFromFlags } from "../src/cli/commands/study.ts";
import { matchCommand } from "../src/cli/commands/train_match.ts";
import { DEFAULT_SPEC } from "../src/study/spec.ts";
import { parseStrictJson } from "../src/study/strict_json.ts";
import { checkSpecAgainstModel } from "../src/study/pipeline.ts";
import { GPT2_PRESETS } from "../src/gpt2/config.ts";
import { runCli } from "./helpers/cli.ts";

const dir = mkdtempSync(join(tmpdir(), "strict-"));
const write = (name: string, text: string) => {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
};
const sweep = (argv: string[]) => specFromFlags(parseArgs("sweep", argv, SWEEP_FLAGS).flags);

/** The error a call throws, as the CLI would print it (one line). */
function errorOf(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(SettingsError);
    return (e as Error).message;
  }
  throw new Error("expected an error");
}

describe("strict values", () => {
  it("zero is a value: --epochs 0, --batch-size 0, --lr 0 and --max-tokens 0 are refused, not replaced by defaults", () => {
    expect(errorOf(() => sweep(["--epochs", "0"]))).toBe('--epochs must be an integer ≥ 1, got "0"');
    expect(errorOf(() => sweep(["--batch-size", "0"]))).toBe('--batch-size must be an integer ≥ 1, got "0"');
    expect(errorOf(() => sweep(["--lr", "0"]))).toBe('--lr must be a finite number > 0, got "0"');
    expect(errorOf(() => sweep(["--max-tokens", "0"]))).toBe('--max-tokens must be a list of integers ≥ 1 without repeats (e.g. 1,2,3 or 1-5), got "0"');
    expect(errorOf(() => sweep(["--seeds", "-1"]))).toMatch(/^--seeds must be a list of integers ≥ 0 without repeats .*got "-1"$/);
    expect(errorOf(() => sweep(["--seeds", "1,1"]))).toMatch(/without repeats/);
  });

  it("a spec file breaking the same rule gets the same words", () => {
    expect(errorOf(() => sweep(["--config", write("z.yaml", "epochs: 0\n")]))).toBe(`sweep spec ${dir}/z.yaml: epochs must be an integer ≥ 1, got 0`);
    expect(errorOf(() => sweep(["--config", write("z.json", '{"lr": 0}')]))).toBe(`sweep spec ${dir}/z.json: lr must be a finite number > 0, got 0`);
    expect(errorOf(() => sweep(["--config", write("s.json", '{"seeds": [-1]}')]))).toMatch(/z?s\.json: seeds must be a list of integers ≥ 0/);
  });

  it("precedence: flag > spec file > preset > default, and a file's model is not overridden by a default", () => {
    const file = write("m.yaml", "model: random\nepochs: 3\n");
    expect(sweep(["--config", file]).model).toBe("random");
    expect(sweep(["--config", file, "--model", "gpt2"]).model).toBe("gpt2");
    expect(sweep(["--preset", "corrected"]).epochs).toBe(8);
    expect(sweep(["--preset", "corrected", "--config", file]).epochs).toBe(3);
    expect(sweep(["--preset", "corrected", "--config", file, "--epochs", "2"]).epochs).toBe(2);
    expect(sweep([]).model).toBe(DEFAULT_SPEC.model);
    expect(sweep(["--include-special=false", "--preset", "faithful"]).includeSpecial).toBe(false);
  });

  it("JSON spec files refuse a repeated key, as YAML ones do, naming the line", () => {
    expect(errorOf(() => sweep(["--config", write("d.json", '{\n  "epochs": 8,\n  "epochs": 2\n}')]))).toMatch(/d\.json is not valid JSON: line 3: key "epochs" appears twice/);
    expect(errorOf(() => sweep(["--config", write("d.yaml", "epochs: 8\nepochs: 2\n")]))).toMatch(/d\.yaml is not valid YAML/);
    expect(parseStrictJson('{"a": [1, {"b": "x\\"y"}], "c": null}')).toEqual({ a: [1, { b: 'x"y' }], c: null });
    expect(() => parseStrictJson('{"a": 1,}')).toThrow(/line 1/);
  });

  it("thresholds, counts and choices are checked where they are given", () => {
    expect(errorOf(() => parseArgs("stability", ["--threshold", "1.5"], STABILITY_FLAGS))).toBe('--threshold must be a finite number > -1 and ≤ 1, got "1.5"');
    expect(errorOf(() => parseArgs("match", ["--threshold", "-2"], matchCommand.flags))).toMatch(/^--threshold must be a finite number > -1 and ≤ 1/);
    expect(errorOf(() => parseArgs("stability", ["--null", "-5"], STABILITY_FLAGS))).toBe('--null must be an integer ≥ 0, got "-5"');
    expect(errorOf(() => sweep(["--recipes", "topk,relu"]))).toMatch(/^--recipes must be a list of topk, seed-report/);
    expect(errorOf(() => sweep(["--residual", "none"]))).toBe('--residual must be one of centered, raw, got "none"');
    expect(errorOf(() => sweep(["--epochs", "3", "--epochs", "4"]))).toBe("--epochs is given twice; give it once");
    expect(errorOf(() => sweep(["--k", "64", "--features", "32"]))).toMatch(/k 64 must be at most the dictionary size 32/);
  });

  it("sizes are checked against the model and the machine before anything is allocated", () => {
    const gpt2 = GPT2_PRESETS.gpt2!;
    expect(errorOf(() => checkSpecAgainstModel(sweep(["--features", "100000000", "--k", "8"]), gpt2, 24 * 2 ** 30))).toMatch(/a dictionary of 100000000 features × d_in 768 needs about \d+\.\d GiB to train .* more than this machine's 24 GiB allows/);
    expect(errorOf(() => checkSpecAgainstModel(sweep(["--layers", "12"]), gpt2))).toMatch(/layer 12 does not exist: the model has 12 layers \(0–11\)/);
    expect(errorOf(() => checkSpecAgainstModel(sweep(["--seq-len", "2048"]), gpt2))).toMatch(/seq-len 2048 exceeds the model's 1024 positions/);
    expect(() => checkSpecAgainstModel(sweep(["--features", "32768", "--k", "32"]), gpt2, 24 * 2 ** 30)).not.toThrow();
  });

  it("the command line says it in one line, exit code 2", () => {
    const r = runCli(["sweep", "--epochs", "0", "--model", "random"]);
    expect(r.status).toBe(2);
    expect(r.stderr).toBe('sae-seeds sweep: --epochs must be an integer ≥ 1, got "0"\n');
  });

  // Generated flag sets: each either gives a spec holding exactly the values given, or fails with one line.
  it("random flag combinations run with exactly the values given or fail with one line", () => {
    type Gen = { flag: string; key: string; valid: fc.Arbitrary<string>; invalid: fc.Arbitrary<string>; read: (v: string) => unknown };
    const int = (lo: number, hi: number) => fc.integer({ min: lo, max: hi }).map(String);
    const gens: Gen[] = [
      { flag: "epochs", key: "epochs", valid: int(1, 50), invalid: fc.constantFrom("0", "-1", "2.5", "x", "1e3", ""), read: Number },
      { flag: "batch-size", key: "batchSize", valid: int(1, 8192), invalid: fc.constantFrom("0", "-64", "64.5", "sixty"), read: Number },
      { flag: "lr", key: "lr", valid: fc.double({ min: 1e-6, max: 1, noNaN: true }).map(String), invalid: fc.constantFrom("0", "-0.1", "NaN", "Infinity", "abc"), read: Number },
      { flag: "max-tokens", key: "maxTokens", valid: int(1, 10 ** 6), invalid: fc.constantFrom("0", "-5", "1.5"), read: Number },
      { flag: "seq-len", key: "seqLen", valid: int(2, 1024), invalid: fc.constantFrom("1", "0", "-2"), read: Number },
      { flag: "seeds", key: "seeds", valid: fc.uniqueArray(fc.integer({ min: 0, max: 99 }), { minLength: 1, maxLength: 4 }).map((a) => a.join(",")), invalid: fc.constantFrom("-1", "1,1", "a", "3-1"), read: (v) => v.split(",").map(Number) },
      { flag: "residual", key: "residual", valid: fc.constantFrom("raw", "centered"), invalid: fc.constantFrom("none", "RAW"), read: (v) => v },
      { flag: "dead-after-tokens", key: "deadAfterTokens", valid: int(1, 10 ** 7), invalid: fc.constantFrom("0", "-1"), read: Number },
    ];
    const choice = fc.tuple(...gens.map((g) => fc.oneof(fc.constant(null), g.valid.map((v) => ({ v, ok: true })), g.invalid.map((v) => ({ v, ok: false })))));
    fc.assert(fc.property(choice, (picked) => {
      const argv: string[] = [];
      let allValid = true;
      picked.forEach((p, i) => {
        if (!p) return;
        argv.push(`--${gens[i]!.flag}`, p.v);
        allValid &&= p.ok;
      });
      let spec;
      try {
        spec = sweep(argv);
      } catch (e) {
        expect(e).toBeInstanceOf(SettingsError);
        expect((e as Error).message).not.toMatch(/\n/);
        expect(allValid).toBe(false);
        const named = picked.map((p, i) => (p && !p.ok ? `--${gens[i]!.flag}` : null)).filter(Boolean);
        expect(named.some((f) => (e as Error).message.startsWith(`${f} `))).toBe(true);
        return;
      }
      expect(allValid).toBe(true);
      picked.forEach((p, i) => {
        if (p) expect((spec as unknown as Record<string, unknown>)[gens[i]!.key]).toEqual(gens[i]!.read(p.v));
      });
    }), { numRuns: 300 });
  });
});
