/**
 * The opt-in relaxed-SIMD kernel (SAE_SEEDS_MATMUL=wasm-relaxed): within the same float32 error bound as the default
 * kernel, named "wasm-simd-relaxed" (what receipts record), and refused in one line where the runtime lacks relaxed
 * SIMD (Node 20 without --experimental-wasm-relaxed-simd).
 */
import { describe, it, expect } from "vitest";
import { execFileSync, spawnSync } from "node:child_process";
import { join } from "node:path";

const probe = join(import.meta.dirname, "helpers", "relaxed_probe.ts");
const major = Number(process.versions.node.split(".")[0]);

describe("relaxed SIMD (opt-in)", () => {
  it("computes within the float32 bound and names itself in the kernel name", () => {
    const flags = major < 22 ? ["--experimental-wasm-relaxed-simd"] : [];
    const out = JSON.parse(execFileSync(process.execPath, [...flags, "--import", "tsx", probe], { env: { ...process.env, SAE_SEEDS_MATMUL: "wasm-relaxed" }, encoding: "utf8" })) as { kernel: string; worstOverBound: number };
    expect(out.kernel).toBe("wasm-simd-relaxed");
    expect(out.worstOverBound).toBeLessThanOrEqual(1);
    const plain = JSON.parse(execFileSync(process.execPath, ["--import", "tsx", probe], { env: { ...process.env, SAE_SEEDS_MATMUL: "" }, encoding: "utf8" })) as { kernel: string };
    expect(plain.kernel).toBe("wasm-simd");
  });

  it.skipIf(major >= 22)("is refused in one line without the runtime flag on Node 20", () => {
    const r = spawnSync(process.execPath, ["--import", "tsx", probe], { env: { ...process.env, SAE_SEEDS_MATMUL: "wasm-relaxed" }, encoding: "utf8" });
    expect(r.status).not.toBe(0);
    expect(r.stderr).toMatch(/relaxed SIMD is not available in this runtime: use Node 22 or later, or start Node 20 with --experimental-wasm-relaxed-simd/);
  });
});
