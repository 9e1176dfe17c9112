/**
 * The library's public face, as a user meets it: `npm pack` builds dist/ (JavaScript + .d.ts) and packs it; two
 * separate projects install the tarball offline (dependencies from npm's cache, as after any `npm ci`):
 *   - a CommonJS project made by `npm init -y`: a tsx script (compiled to require() calls) and a plain-node script
 *     with require() through every public path, the latter running a small study whose runs are trained in forked
 *     worker processes from the packed dist/ — bit-identical to the same runs trained in one process; with require()
 *     of ES modules switched off (what Node < 20.19 does), one line saying the package is ES-module-only and how to
 *     load it; its scripts type-check against the shipped .d.ts under NodeNext and Bundler resolution (and under
 *     Node16 through `await import()`, the only way Node16's rules allow);
 *   - an ES-module project: a tsx script and a plain-node script through every public path, type-checked under
 *     NodeNext, Node16 and Bundler; and `npx sae-seeds --help`.
 */
import { describe, it, expect, beforeAll, afterAll } from "vitest";
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createHash } from "node:crypto";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { PROJECT_ROOT, TSX_LOADER } from "./helpers/cli.ts";
import { RESULTS_VERSION } from "../src/study/run_identity.ts";

const npm = process.platform === "win32" ? "npm.cmd" : "npm";
/** Child processes run asynchronously: a test worker blocked for minutes in spawnSync misses vitest's heartbeats. */
const exec = promisify(execFile);
const work = mkdtempSync(join(tmpdir(), "sae-seeds-pack-"));
const esm = join(work, "esm");
const cjs = join(work, "cjs");
let tarball = "";

/** Every public path, used as a script would; no top-level await, so the same text runs as CommonJS (tsx) and as an ES module. */
const SCRIPT = `
import { fromArray, matmul, Rng } from "sae-seeds/tensor";
import { parseGPT2Config, encode, decode, loadModel } from "sae-seeds/gpt2";
import { loadBrownCorpus, makeWindows, arrayRows } from "sae-seeds/data";
import { defaultTrainConfig, trainSAE } from "sae-seeds/sae";
import { linearSumAssignment } from "sae-seeds/match";
import { correctedSpec, conditionId, RESULTS_VERSION, type SweepSpec } from "sae-seeds/study";
import * as lib from "sae-seeds";

const a = fromArray([[1, 2], [3, 4]]);
const product: number[] = Array.from(matmul(a, a).data);
const ids: number[] = encode("Hello world");
const config = parseGPT2Config({ n_layer: 2, n_head: 2, n_embd: 8, n_positions: 16, vocab_size: 50257 });
const brown = loadBrownCorpus();
const windows = makeWindows(brown.documents.slice(0, 2), { seqLen: 16, maxTokens: 40 });
const data = new Float32Array(64 * 8);
Rng.stream(1, "consumer").fillNormal(data);
const sae = trainSAE({ config: defaultTrainConfig("topk", { dIn: 8, dSae: 16, k: 2, seed: 1 }, { epochs: 1, batchSize: 32 }), data: arrayRows(data, 8) });
const assignment = linearSumAssignment(Float64Array.from([4, 1, 3, 2, 0, 5, 3, 2, 2]), 3, 3);
const spec: SweepSpec = correctedSpec();
loadModel({ model: "mini" }).then((mini) => { // the shipped model, found inside the installed package
  console.log(JSON.stringify({
    product, roundTrip: decode(ids), layers: config.nLayer, documents: brown.documents.length, realTokens: windows.realTokens,
    history: sae.history.length, total: assignment.total, condition: conditionId(spec.conditions[0]!), resultsVersion: RESULTS_VERSION,
    namespaces: Object.keys(lib).sort(), miniLayers: mini.weights.config.nLayer,
  }));
});
`;

/** Node16 rules let a CommonJS file reach an ES-module package only through import(): the types must resolve there too. */
const DYNAMIC_SCRIPT = `
async function main(): Promise<void> {
  const tensor = await import("sae-seeds/tensor");
  const study = await import("sae-seeds/study");
  const spec = study.correctedSpec();
  console.log(Array.from(tensor.matmul(tensor.fromArray([[1]]), tensor.fromArray([[2]])).data), study.conditionId(spec.conditions[0]!));
}
void main();
`;

/** require() through every public path from plain node, then a small study trained in two worker processes and in one. */
const REQUIRE_SCRIPT = `
const { createHash } = require("node:crypto");
const { mkdtempSync, readFileSync } = require("node:fs");
const { tmpdir } = require("node:os");
const { join } = require("node:path");
const tensor = require("sae-seeds/tensor");
const gpt2 = require("sae-seeds/gpt2");
const data = require("sae-seeds/data");
const sae = require("sae-seeds/sae");
const match = require("sae-seeds/match");
const study = require("sae-seeds/study");
const lib = require("sae-seeds");

async function main() {
  const root = mkdtempSync(join(tmpdir(), "cjs-study-"));
  const spec = study.validateSpec({
    ...study.DEFAULT_SPEC, name: "tiny", model: "mini", conditions: study.gridConditions([1], [32], [4], ["topk"]),
    seeds: [1, 2], seqLen: 32, maxTokens: 300, epochs: 2, batchSize: 64, evalTokens: 0,
  });
  const logs = [];
  const sweep = (out, processes) => study.runSweep(spec, { outDir: join(root, out), cacheDir: join(root, "cache"), threads: 1, processes, log: (l) => logs.push(l) });
  const parallel = await sweep("two", 2);
  await sweep("one", 1);
  const sha = (out, seed) => createHash("sha256").update(readFileSync(join(root, out, "L1-n32-k4-topk", "seed-" + seed, "sae", "sae_weights.safetensors"))).digest("hex");
  const report = study.buildStabilityReport(study.findRuns([join(root, "two")]), { threshold: 0.9, bootstrap: 20, nullDraws: 2, rngSeed: 0 }, "cjs");
  console.log(JSON.stringify({
    product: Array.from(tensor.matmul(tensor.fromArray([[1, 2], [3, 4]]), tensor.fromArray([[1, 2], [3, 4]])).data),
    vocab: gpt2.VOCAB_SIZE, documents: data.loadBrownCorpus().documents.length, recipes: sae.RECIPES.length,
    total: match.linearSumAssignment(Float64Array.from([4, 1, 3, 2, 0, 5, 3, 2, 2]), 3, 3).total,
    namespaces: Object.keys(lib).sort(), oneInstance: lib.study === study && lib.tensor === tensor,
    trained: parallel.trained, inProcesses: logs.some((l) => /in 2 processes/.test(l)),
    identical: [1, 2].every((s) => sha("one", s) === sha("two", s)), conditions: report.conditions.length,
  }));
}
main().catch((e) => { console.error(e); process.exit(1); });
`;

/** The same paths through import from plain node (an ES-module project's .mjs). */
const IMPORT_SCRIPT = `
import { matmul, fromArray } from "sae-seeds/tensor";
import { VOCAB_SIZE } from "sae-seeds/gpt2";
import { loadBrownCorpus } from "sae-seeds/data";
import { RECIPES } from "sae-seeds/sae";
import { linearSumAssignment } from "sae-seeds/match";
import * as study from "sae-seeds/study";
import * as lib from "sae-seeds";
console.log(JSON.stringify({
  product: Array.from(matmul(fromArray([[1, 2], [3, 4]]), fromArray([[1, 2], [3, 4]])).data), vocab: VOCAB_SIZE,
  documents: loadBrownCorpus().documents.length, recipes: RECIPES.length,
  total: linearSumAssignment(Float64Array.from([4, 1, 3, 2, 0, 5, 3, 2, 2]), 3, 3).total,
  namespaces: Object.keys(lib).sort(), oneInstance: lib.study.runSweep === study.runSweep,
}));
`;

/**
 * Make `dir` depend on the tarball, with a lockfile: the tarball's own entry plus our lockfile's runtime entries (same
 * versions and integrity hashes), so `npm ci --offline` installs from npm's cache alone, as on a machine without a
 * network. (A lock is what makes an offline install possible at all: resolving "^2.17.5" needs the registry.) The
 * project's own package.json (from `npm init -y`, or a bare ES-module one) is kept, with the dependency added.
 */
async function installTarball(dir: string, tgz: string): Promise<void> {
  const ours = JSON.parse(readFileSync(join(PROJECT_ROOT, "package-lock.json"), "utf8")) as { packages: Record<string, Record<string, unknown>> };
  const manifest = JSON.parse(readFileSync(join(PROJECT_ROOT, "package.json"), "utf8")) as Record<string, unknown>;
  const project = JSON.parse(readFileSync(join(dir, "package.json"), "utf8")) as Record<string, unknown>;
  const spec = `file:${relative(dir, tgz)}`;
  const packages: Record<string, unknown> = {
    "": { name: project.name, version: project.version, license: project.license, dependencies: { "sae-seeds": spec } },
    "node_modules/sae-seeds": {
      version: manifest.version, resolved: spec, integrity: `sha512-${createHash("sha512").update(readFileSync(tgz)).digest("base64")}`,
      license: manifest.license, dependencies: manifest.dependencies, bin: manifest.bin, engines: manifest.engines,
    },
  };
  for (const [path, entry] of Object.entries(ours.packages)) if (path && !entry.dev) packages[path] = entry;
  writeFileSync(join(dir, "package.json"), JSON.stringify({ ...project, dependencies: { "sae-seeds": spec } }, null, 2));
  writeFileSync(join(dir, "package-lock.json"), JSON.stringify({ name: project.name, version: project.version, lockfileVersion: 3, requires: true, packages }, null, 2));
  await exec(npm, ["ci", "--offline", "--no-audit", "--no-fund", "--loglevel=error"], { cwd: dir });
}

interface Ran {
  status: number | null;
  stdout: string;
  stderr: string;
}

/** A command's exit status and output (a failing command is a result to look at, not an exception). */
async function runCommand(file: string, args: string[], cwd: string, timeout = 180_000): Promise<Ran> {
  try {
    const { stdout, stderr } = await exec(file, args, { cwd, encoding: "utf8", timeout, maxBuffer: 64 * 2 ** 20 });
    return { status: 0, stdout, stderr };
  } catch (e) {
    const err = e as { code?: number | string; stdout?: string; stderr?: string; message: string };
    return { status: typeof err.code === "number" ? err.code : null, stdout: err.stdout ?? "", stderr: err.stderr ?? err.message };
  }
}

const run = (cwd: string, args: string[]) => runCommand(process.execPath, args, cwd);
const lastJson = (stdout: string) => JSON.parse(stdout.trim().split("\n").at(-1)!);

/**
 * tsc on one file of a consumer project, against the shipped declarations, with the given module settings. With
 * `libCheck` the shipped .d.ts files themselves are checked too (slow: once is enough); otherwise skipLibCheck, as in
 * the tsconfig `tsc --init` writes.
 */
async function typecheck(dir: string, file: string, module: string, moduleResolution: string, libCheck = false): Promise<{ status: number | null; output: string }> {
  const tsconfig = `tsconfig.${module}.${moduleResolution}.json`;
  writeFileSync(join(dir, tsconfig), JSON.stringify({
    compilerOptions: {
      target: "ES2022", module, moduleResolution, strict: true, noEmit: true, skipLibCheck: !libCheck,
      types: ["node"], typeRoots: [join(PROJECT_ROOT, "node_modules", "@types")],
    },
    files: [file],
  }));
  const r = await run(dir, [join(PROJECT_ROOT, "node_modules", "typescript", "bin", "tsc"), "-p", tsconfig]);
  return { status: r.status, output: r.stdout + r.stderr };
}

beforeAll(async () => {
  // npm pack runs prepack (a clean dist/ from tsconfig.build.json) and writes the tarball.
  const { stdout: out } = await exec(npm, ["pack", "--json", "--pack-destination", work], { cwd: PROJECT_ROOT, encoding: "utf8" });
  tarball = join(work, (JSON.parse(out.slice(out.indexOf("["))) as { filename: string }[])[0]!.filename);
  mkdirSync(cjs);
  await exec(npm, ["init", "-y"], { cwd: cjs }); // what a new project starts as
  await installTarball(cjs, tarball);
  writeFileSync(join(cjs, "use.ts"), SCRIPT);
  writeFileSync(join(cjs, "dynamic.ts"), DYNAMIC_SCRIPT);
  writeFileSync(join(cjs, "use.js"), REQUIRE_SCRIPT);
  mkdirSync(esm);
  writeFileSync(join(esm, "package.json"), JSON.stringify({ name: "esm-consumer", version: "1.0.0", private: true, type: "module" }));
  await installTarball(esm, tarball);
  writeFileSync(join(esm, "use.ts"), SCRIPT);
  writeFileSync(join(esm, "use.mjs"), IMPORT_SCRIPT);
}, 300_000);

afterAll(() => rmSync(work, { recursive: true, force: true }));

const EXPECTED = {
  product: [7, 10, 15, 22], roundTrip: "Hello world", layers: 2, documents: 500, realTokens: 40, history: 1, total: 5,
  condition: "L0-n128-k8-topk", namespaces: ["data", "gpt2", "match", "sae", "study", "tensor"],
};
const miniLayers = () => JSON.parse(readFileSync(join(PROJECT_ROOT, "models", "brown-gpt2-mini", "config.json"), "utf8")).n_layer;

describe("the packed library", () => {
  it("ships compiled JavaScript, declarations and the CommonJS entry points, not the TypeScript sources or tests", async () => {
    const installed = join(esm, "node_modules", "sae-seeds");
    expect(existsSync(join(installed, "dist", "tensor", "index.js"))).toBe(true);
    expect(existsSync(join(installed, "dist", "study", "index.d.ts"))).toBe(true);
    expect(existsSync(join(installed, "dist", "study", "sweep_worker.js"))).toBe(true);
    expect(existsSync(join(installed, "dist", "cli", "study"))).toBe(false);
    expect(readdirSync(installed).sort()).toEqual(["README.md", "bin", "cjs", "dist", "models", "package.json"]);
    expect(readdirSync(join(installed, "models", "brown-gpt2-mini")).sort()).toEqual(["config.json", "model.safetensors", "training.json"]);
  });

  it("a CommonJS project (npm init -y): a tsx script imports every public path and runs", async () => {
    expect(JSON.parse(readFileSync(join(cjs, "package.json"), "utf8")).type ?? "commonjs").toBe("commonjs");
    const r = await run(cjs, ["--import", TSX_LOADER, "use.ts"]);
    expect(r.status, r.stderr).toBe(0);
    expect(lastJson(r.stdout)).toMatchObject({ ...EXPECTED, resultsVersion: RESULTS_VERSION, miniLayers: miniLayers() });
  });

  it("a CommonJS project: plain node require()s every public path and runs a study in two worker processes, bit-identical to one", async () => {
    const r = await run(cjs, ["use.js"]);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr).not.toMatch(/Warning/);
    expect(lastJson(r.stdout)).toEqual({
      product: [7, 10, 15, 22], vocab: 50257, documents: 500, recipes: 7, total: 5, namespaces: EXPECTED.namespaces, oneInstance: true,
      trained: 2, inProcesses: true, identical: true, conditions: 1,
    });
  });

  it("where require() of ES modules is off (Node < 20.19), one line says the package is ES-module-only and how to load it", async () => {
    const r = await run(cjs, ["--no-experimental-require-module", "use.js"]);
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/^Error: sae-seeds\/tensor is an ES-module package and .*: use Node >= 20\.19, or load it with `const m = await import\("sae-seeds\/tensor"\)`$/m);
  });

  it("a CommonJS project type-checks against the shipped .d.ts (NodeNext, Bundler; Node16 through import())", async () => {
    for (const [file, module, resolution] of [["use.ts", "NodeNext", "NodeNext"], ["use.ts", "Preserve", "Bundler"], ["dynamic.ts", "Node16", "Node16"]] as const) {
      const r = await typecheck(cjs, file, module, resolution);
      expect(r.status, `${file} ${module}/${resolution}: ${r.output}`).toBe(0);
    }
  });

  it("an ES-module project: a tsx script and a plain-node script import every public path and run", async () => {
    const r = await run(esm, ["--import", TSX_LOADER, "use.ts"]);
    expect(r.status, r.stderr).toBe(0);
    expect(lastJson(r.stdout)).toMatchObject({ ...EXPECTED, resultsVersion: RESULTS_VERSION, miniLayers: miniLayers() });
    const plain = await run(esm, ["use.mjs"]);
    expect(plain.status, plain.stderr).toBe(0);
    expect(lastJson(plain.stdout)).toEqual({ product: [7, 10, 15, 22], vocab: 50257, documents: 500, recipes: 7, total: 5, namespaces: EXPECTED.namespaces, oneInstance: true });
  });

  it("an ES-module project type-checks against the shipped .d.ts (NodeNext, Node16, Bundler)", async () => {
    for (const [module, resolution] of [["NodeNext", "NodeNext"], ["Node16", "Node16"], ["ESNext", "Bundler"]] as const) {
      const r = await typecheck(esm, "use.ts", module, resolution, module === "NodeNext");
      expect(r.status, `${module}/${resolution}: ${r.output}`).toBe(0);
    }
  });

  it("`npx sae-seeds --help` works after install", async () => {
    const r = await runCommand("npx", ["--offline", "sae-seeds", "--help"], esm, 60_000);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/sae-seeds — are SAE features properties of a model/);
    expect(r.stdout).toMatch(/replicate/);
  });
});
