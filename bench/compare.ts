/**
 * `npm run bench:compare`: our benchmark and the PyTorch/scipy references on the same machine, one after the
 * other (never concurrently: two cores), then the ratios. Needs Debian's python3-torch and python3-scipy.
 *   npm run bench:compare [-- --quick]
 */
import { execFileSync } from "node:child_process";

const quick = process.argv.includes("--quick");
const run = (cmd: string, args: string[]) => JSON.parse(execFileSync(cmd, args, { encoding: "utf8", stdio: ["ignore", "pipe", "inherit"], maxBuffer: 1 << 26 })) as Record<string, number | string>;
const ours = run("npx", ["tsx", "bench/run.ts", ...(quick ? ["--quick"] : [])]);
const torch = run("/usr/bin/python3", ["tools/reference/bench_torch.py", ...(quick ? ["--quick"] : [])]);
const scipy = run("/usr/bin/python3", ["tools/reference/bench_lap_scipy.py", "--sizes", quick ? "1024" : "1024,4096"]);
const reference = { ...torch, ...scipy };
const rows: Record<string, unknown>[] = [];
for (const [key, theirs] of Object.entries(reference)) {
  if (typeof theirs !== "number") continue;
  if (key.startsWith("matmul.torch.")) {
    const shape = key.slice("matmul.torch.".length);
    const best = Math.max(...["wasm", "wasm1", "blocked"].map((k) => Number(ours[`matmul.${k}.${shape}`] ?? 0)));
    rows.push({ key: `matmul.${shape}`, ours: best, reference: theirs, ratio: Number((best / theirs).toFixed(3)), better: "higher" });
  } else if (key in ours && typeof ours[key] === "number") {
    const mine = ours[key] as number;
    const higherIsBetter = !key.endsWith(".seconds");
    rows.push({ key, ours: mine, reference: theirs, ratio: Number((higherIsBetter ? mine / theirs : mine / theirs).toFixed(3)), better: higherIsBetter ? "higher" : "lower" });
  }
}
// Every SAE training key also beside the matmul kernel's ceiling for its shape (bench/models.ts, benchSAE).
for (const row of rows) {
  const m = /^sae\.train\.(.+)\.n(\d+)\.k(\d+)\.b(\d+)(\.t1)?\.rows_per_s$/.exec(String(row.key));
  if (!m) continue;
  const ceiling = ours[`sae.ceiling.n${m[2]}.b${m[4]}${m[5] ?? ""}.rows_per_s`];
  if (typeof ceiling === "number") Object.assign(row, { ceiling, overCeiling: Number((ceiling / (row.ours as number)).toFixed(2)) });
}
console.log(JSON.stringify({ machine: Object.fromEntries(Object.entries(ours).filter(([k]) => k.startsWith("machine."))), rows }, null, 2));
