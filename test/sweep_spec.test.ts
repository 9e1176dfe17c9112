import { describe, it, expect } from "vitest";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseYamlSubset, YamlSubsetError } from "../src/study/yaml.ts";
import { readSpecFile } from "../src/study/spec.ts";
import { DEFAULT_SPEC } from "../src/study/spec.ts";

describe("YAML subset for sweep specs", () => {
  it("reads mappings, block and flow sequences, scalars and comments", () => {
    const text = [
      "# a sweep",
      "name: 'it''s mine'   # trailing comment",
      "seeds:",
      "  - 1",
      "  - 2",
      "layers: [0, 6]",
      "lr: 1e-3",
      "includeSpecial: false",
      "hookTemplate: \"blocks.{layer}.hook_resid_pre\"",
      "conditions:",
      "- layer: 0",
      "  features: 128",
      "  k: 8",
      "  recipe: topk",
      "- {layer: 6, features: 512, k: 32, recipe: seed-report}",
      "corpus: ../data/a#b.jsonl",
      "nothing:",
    ].join("\n");
    expect(parseYamlSubset(text)).toEqual({
      name: "it's mine",
      seeds: [1, 2],
      layers: [0, 6],
      lr: 0.001,
      includeSpecial: false,
      hookTemplate: "blocks.{layer}.hook_resid_pre",
      conditions: [
        { layer: 0, features: 128, k: 8, recipe: "topk" },
        { layer: 6, features: 512, k: 32, recipe: "seed-report" },
      ],
      corpus: "../data/a#b.jsonl",
      nothing: null,
    });
  });

  it("agrees with JSON on what JSON can say", () => {
    expect(parseYamlSubset('{a: [1, -2.5, "x,y"], b: {c: true}}')).toEqual({ a: [1, -2.5, "x,y"], b: { c: true } });
    expect(parseYamlSubset("")).toBeNull();
  });

  it("rejects what it does not support, naming the line", () => {
    const bad: Array<[string, RegExp]> = [
      ["a: 1\na: 2", /:2: key "a" appears twice/],
      ["a:\n\t- 1", /:2: indent with spaces, not tabs/],
      ["a: &anchor 1", /anchors, aliases/],
      ["a: |", /block strings/],
      ["a: [1, 2", /expected "," or "\]"/],
      ["a: 'open", /unterminated/],
      ["a: 1\n   b: 2", /:2: unexpected indentation/],
      ["a: 1\n---\nb: 2", /one YAML document/],
      ["a: b: c", /mapping cannot start here/],
      ["seeds: [1, 2]\n- 3", /:2: expected `key: value` in this mapping/],
      ["my key: 1", /mapping cannot start here/],
    ];
    for (const [text, message] of bad) expect(() => parseYamlSubset(text, "s.yaml"), text).toThrow(message);
    expect(() => parseYamlSubset("a: 1\na: 2")).toThrow(YamlSubsetError);
  });

  it("never lets a key reach Object.prototype", () => {
    const value = parseYamlSubset("__proto__: {polluted: true}") as Record<string, unknown>;
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(Object.keys(value)).toEqual(["__proto__"]);
  });
});

describe("sweep spec files", () => {
  const dir = mkdtempSync(join(tmpdir(), "sae-spec-"));
  const write = (name: string, text: string) => {
    const path = join(dir, name);
    writeFileSync(path, text);
    return path;
  };

  it("give the same spec from YAML and from JSON", () => {
    const yaml = readSpecFile(write("s.yaml", "name: grid\nlayers: [0, 6]\nfeatures: [128]\nk: [8, 32]\nrecipes: [topk]\nseeds: [1, 2, 3]\n"), DEFAULT_SPEC);
    const json = readSpecFile(write("s.json", JSON.stringify({ name: "grid", layers: [0, 6], features: [128], k: [8, 32], recipes: ["topk"], seeds: [1, 2, 3] })), DEFAULT_SPEC);
    expect(yaml).toEqual(json);
    expect(yaml.conditions).toHaveLength(4);
    expect(yaml.seeds).toEqual([1, 2, 3]);
    expect(yaml.seqLen).toBe(DEFAULT_SPEC.seqLen);
  });

  it("reads the example spec shipped in examples/specs", () => {
    const spec = readSpecFile("examples/specs/layers_0_6.yaml", DEFAULT_SPEC);
    expect(spec.conditions.map((c) => `${c.layer}/${c.features}`)).toEqual(["0/128", "0/512", "6/128", "6/512"]);
    expect(spec.maxTokens).toBe(4000);
  });

  it("fail in one line on unknown keys, wrong types and bad values", () => {
    expect(() => readSpecFile(write("u.yaml", "sedes: [1]\n"), DEFAULT_SPEC)).toThrow(/unknown key "sedes"/);
    expect(() => readSpecFile(write("t.yaml", "seqLen: sixty\n"), DEFAULT_SPEC)).toThrow(/t\.yaml: seqLen must be an integer ≥ 2, got "sixty"/);
    expect(() => readSpecFile(write("l.json", '{"seeds": [1, "2"]}'), DEFAULT_SPEC)).toThrow(/seeds must be a list of integers ≥ 0 without repeats/);
    expect(() => readSpecFile(write("w.yaml", "windowing: sliding\n"), DEFAULT_SPEC)).toThrow(/windowing must be one of standard, faithful, got "sliding"/);
    expect(() => readSpecFile(write("c.yaml", "conditions:\n- {layer: 0, k: 8}\n"), DEFAULT_SPEC)).toThrow(/\{layer, features, k, recipe\[, tokens\]\}/);
    expect(() => readSpecFile(join(dir, "missing.yaml"), DEFAULT_SPEC)).toThrow(/ENOENT; check the --config path/);
    expect(() => readSpecFile(write("bad.json", "{"), DEFAULT_SPEC)).toThrow(/is not valid JSON/);
  });
});
