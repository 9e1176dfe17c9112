import { wasmMatmul, setThreads } from "../src/tensor/wasm/index.ts";
setThreads(2);
const m = 256, n = 256, k = 256;
wasmMatmul({ a: new Float32Array(m * k), b: new Float32Array(k * n), c: new Float32Array(m * n), m, n, k });
console.log("pid", process.pid);
Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 30000);
