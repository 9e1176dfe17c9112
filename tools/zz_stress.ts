import { wasmMatmul, setThreads } from "../src/tensor/wasm/index.ts";
setThreads(2);
const sizes = [[64, 64, 1000], [128, 200, 300], [300, 64, 64], [16, 2000, 64]];
const bufs = sizes.map(([m, n, k]) => ({ a: new Float32Array(m * k).fill(1), b: new Float32Array(k * n).fill(1), c: new Float32Array(m * n), m, n, k }));
const t0 = Date.now(); let i = 0;
const limit = Number(process.argv[2] ?? 20000);
for (; i < limit; i++) { const p = bufs[i % bufs.length]!; wasmMatmul({ a: p.a, b: p.b, c: p.c, m: p.m, n: p.n, k: p.k }); if (i % 2000 === 0) console.log(i, (Date.now() - t0) / 1000); }
console.log("done", i, (Date.now() - t0) / 1000);
