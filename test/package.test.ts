/**
 * The library's public face, as a user meets it: `npm pack` builds dist/ (JavaScript + .d.ts) and packs it; a separate
 * project installs the tarball offline (dependencies from npm's cache, as after any `npm ci`), imports every public
 * path from a tsx script, type-checks that script against the shipped declarations, and runs `npx sae-seeds --help`.
 */
import { describe, it, expect, beforeAll } from "vitest";
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { createHash } from "node:crypto";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { PROJECT_ROOT, TSX_LOADER } from "./helpers/cli.ts";

const npm = process.platform === "win32" ? "npm.cmd" : "npm";
const work = mkdtempSync(join(tmpdir(), "sae-seeds-pack-"));
const consumer = join(work, "consumer");
let tarball = "";

const SCRIPT = `
import { fromArray, matmul, Rng } from "sae-seeds/tensor";
import { parseGPT2Config, encode, decode, loadModel } from "sae-seeds/gpt2";
import { loadBrownCorpus, makeWindows, arrayRows } from "sae-seeds/data";
import { defaultTrainConfig, trainSAE } from "sae-seeds/sae";
import { linearSumAssignment } from "sae-seeds/match";
import { correctedSpec, conditionId } from "sae-seeds/study";
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
const mini = await loadModel({ model: "mini" }); // the shipped model, found inside the installed package
const assignment = linearSumAssignment(Float64Array.from([4, 1, 3, 2, 0, 5, 3, 2, 2]), 3, 3);
console.log(JSON.stringify({
  product, roundTrip: decode(ids), layers: config.nLayer, documents: brown.documents.length, realTokens: windows.realTokens,
  history: sae.history.length, total: assignment.total, condition: conditionId(correctedSpec().conditions[0]!),
  namespaces: Object.keys(lib).sort(), miniLayers: mini.weights.config.nLayer,
}));
`;

/**
 * A project depending on the tarball, with a lockfile: the tarball's own entry plus our lockfile's runtime entries (same
 * versions and integrity hashes), so `npm ci --offline` installs from npm's cache alone, as on a machine without a
 * network. (A lock is what makes an offline install possible at all: resolving "^2.17.5" needs the registry.)
 */
function writeConsumerProject(dir: string, tgz: string): void {
  const ours = JSON.parse(readFileSync(join(PROJECT_ROOT, "package-lock.json"), "utf8")) as { packages: Record<string, Record<string, unknown>> };
  const manifest = JSON.parse(readFileSync(join(PROJECT_ROOT, "package.json"), "utf8")) as Record<string, unknown>;
  const spec = `file:${relative(dir, tgz)}`;
  const packages: Record<string, unknown> = {
    "": { name: "consumer", dependencies: { "sae-seeds": spec } },
    "node_modules/sae-seeds": {
      version: manifest.version, resolved: spec, integrity: `sha512-${createHash("sha512").update(readFileSync(tgz)).digest("base64")}`,
      license: manifest.license, dependencies: manifest.dependencies, bin: manifest.bin, engines: manifest.engines,
    },
  };
  for (const [path, entry] of Object.entries(ours.packages)) if (path && !entry.dev) packages[path] = entry;
  writeFileSync(join(dir, "package.json"), JSON.stringify({ name: "consumer", private: true, type: "module", dependencies: { "sae-seeds": spec } }));
  writeFileSync(join(dir, "package-lock.json"), JSON.stringify({ name: "consumer", lockfileVersion: 3, requires: true, packages }, null, 2));
}

beforeAll(() => {
  // npm pack runs prepack (tsc -p tsconfig.build.json → dist/) and writes the tarball.
  const out = execFileSync(npm, ["pack", "--json", "--pack-destination", work], { cwd: PROJECT_ROOT, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
  const jsonStart = out.indexOf("[");
  tarball = join(work, (JSON.parse(out.slice(jsonStart)) as { filename: string }[])[0]!.filename);
  execFileSync("mkdir", ["-p", consumer]);
  writeConsumerProject(consumer, tarball);
  execFileSync(npm, ["ci", "--offline", "--no-audit", "--no-fund", "--loglevel=error"], { cwd: consumer, stdio: ["ignore", "pipe", "pipe"] });
  writeFileSync(join(consumer, "use.ts"), SCRIPT);
}, 300_000);

describe("the packed library", () => {
  it("ships compiled JavaScript and declarations, not the TypeScript sources or tests", () => {
    const installed = join(consumer, "node_modules", "sae-seeds");
    expect(existsSync(join(installed, "dist", "tensor", "index.js"))).toBe(true);
    expect(existsSync(join(installed, "dist", "cli", "study", "index.d.ts"))).toBe(true);
    expect(readdirSync(installed).sort()).toEqual(["README.md", "bin", "dist", "models", "package.json"]);
    expect(readdirSync(join(installed, "models", "brown-gpt2-mini")).sort()).toEqual(["config.json", "model.safetensors", "training.json"]);
  });

  it("imports through every public path from a tsx script in another project, and runs", () => {
    const r = spawnSync(process.execPath, ["--import", TSX_LOADER, "use.ts"], { cwd: consumer, encoding: "utf8", timeout: 120_000 });
    expect(r.status, r.stderr).toBe(0);
    const got = JSON.parse(r.stdout.trim().split("\n").at(-1)!);
    expect(got).toMatchObject({
      product: [7, 10, 15, 22], roundTrip: "Hello world", layers: 2, documents: 500, realTokens: 40, history: 1, total: 5,
      condition: "L0-n128-k8-topk", namespaces: ["data", "gpt2", "match", "sae", "study", "tensor"],
      miniLayers: JSON.parse(readFileSync(join(PROJECT_ROOT, "models", "brown-gpt2-mini", "config.json"), "utf8")).n_layer,
    });
  });

  it("type-checks a consumer's script against the shipped .d.ts files", () => {
    writeFileSync(join(consumer, "tsconfig.json"), JSON.stringify({
      compilerOptions: {
        target: "ES2022", module: "NodeNext", moduleResolution: "NodeNext", strict: true, noEmit: true, allowImportingTsExtensions: true,
        types: ["node"], typeRoots: [join(PROJECT_ROOT, "node_modules", "@types")],
      },
      files: ["use.ts"],
    }));
    const tsc = join(PROJECT_ROOT, "node_modules", "typescript", "bin", "tsc");
    const r = spawnSync(process.execPath, [tsc, "-p", "tsconfig.json"], { cwd: consumer, encoding: "utf8" });
    expect(r.status, r.stdout + r.stderr).toBe(0);
  });

  it("`npx sae-seeds --help` works after install", () => {
    const r = spawnSync("npx", ["--offline", "sae-seeds", "--help"], { cwd: consumer, encoding: "utf8", timeout: 60_000 });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/sae-seeds — are SAE features properties of a model/);
    expect(r.stdout).toMatch(/replicate/);
  });
});
