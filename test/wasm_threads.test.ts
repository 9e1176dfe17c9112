import { spawnSync } from "node:child_process";
import { afterAll, describe, expect, it } from "vitest";
import { getThreads, setThreads, shutdownThreads, wasmMatmul, wasmMatmulSingle, workerThreadCount } from "../src/tensor/wasm/index.ts";

afterAll(() => shutdownThreads());

const INDEX_URL = new URL("../src/tensor/wasm/index.ts", import.meta.url).href;

interface ChildResult {
  status: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  seconds: number;
}

/**
 * Run a module snippet in a fresh `node` (with tsx to load the TypeScript sources; the worker threads themselves
 * run without it) and report how it ended. The timeout catches a pool that keeps the process alive.
 */
function runChild(body: string, env: Record<string, string | undefined> = {}, timeoutMs = 20_000): ChildResult {
  const script = `import * as wasm from ${JSON.stringify(INDEX_URL)};\n${body}`;
  const started = Date.now();
  const result = spawnSync(process.execPath, ["--import", "tsx", "--input-type=module", "-e", script], {
    env: { ...process.env, ...env },
    encoding: "utf8",
    timeout: timeoutMs,
  });
  return { status: result.status, signal: result.signal, stdout: result.stdout, stderr: result.stderr, seconds: (Date.now() - started) / 1000 };
}

/** A threaded-size product of ones: every element of C must equal k. */
const THREADED_PRODUCT = `
const m = 200, n = 300, k = 400;
const c = new Float32Array(m * n);
wasm.wasmMatmul({ a: new Float32Array(m * k).fill(1), b: new Float32Array(k * n).fill(1), c, m, n, k });
if (!c.every((x) => x === k)) throw new Error("wrong product");
`;

describe("wasm matmul worker threads", () => {
  it("let the process exit on its own after threaded products, with idle workers still alive", () => {
    const child = runChild(`${THREADED_PRODUCT}\nconsole.log("workers", wasm.workerThreadCount());`, { SAE_SEEDS_THREADS: "2" });
    expect(child.stderr).toBe("");
    expect(child.signal).toBeNull(); // not killed by the timeout
    expect(child.status).toBe(0);
    expect(child.stdout.trim()).toBe("workers 1");
    expect(child.seconds).toBeLessThan(10);
  });

  it("end on shutdownThreads(), in a child process too", () => {
    const child = runChild(`${THREADED_PRODUCT}\nwasm.shutdownThreads();\nconsole.log("workers", wasm.workerThreadCount());`, { SAE_SEEDS_THREADS: "3" });
    expect(child.stderr).toBe("");
    expect(child.status).toBe(0);
    expect(child.stdout.trim()).toBe("workers 0");
  });

  it("follow SAE_SEEDS_THREADS, and reject a malformed value", () => {
    const report = `${THREADED_PRODUCT}\nconsole.log(wasm.getThreads(), wasm.workerThreadCount());`;
    expect(runChild(report, { SAE_SEEDS_THREADS: "1" }).stdout.trim()).toBe("1 0");
    expect(runChild(report, { SAE_SEEDS_THREADS: "4" }).stdout.trim()).toBe("4 3");
    const bad = runChild(report, { SAE_SEEDS_THREADS: "two" });
    expect(bad.status).not.toBe(0);
    expect(bad.stderr).toMatch(/SAE_SEEDS_THREADS: thread count must be an integer/);
  });

  it("restart on demand after shutdownThreads(), with the same results", () => {
    setThreads(2);
    const m = 150, n = 170, k = 190;
    const a = Float32Array.from({ length: m * k }, (_, i) => ((i * 7) % 13) - 6);
    const b = Float32Array.from({ length: k * n }, (_, i) => ((i * 5) % 11) - 5);
    const first = new Float32Array(m * n);
    wasmMatmul({ a, b, c: first, m, n, k });
    expect(workerThreadCount()).toBe(1);
    shutdownThreads();
    expect(workerThreadCount()).toBe(0);
    const second = new Float32Array(m * n);
    wasmMatmul({ a, b, c: second, m, n, k });
    expect(workerThreadCount()).toBe(1);
    const single = new Float32Array(m * n);
    wasmMatmulSingle({ a, b, c: single, m, n, k });
    expect(second).toEqual(first);
    expect(single).toEqual(first);
  });

  it("do not start for products below the threading threshold", () => {
    shutdownThreads();
    setThreads(2);
    const c = new Float32Array(16 * 16);
    wasmMatmul({ a: new Float32Array(16 * 16).fill(1), b: new Float32Array(16 * 16).fill(1), c, m: 16, n: 16, k: 16 });
    expect(c.every((x) => x === 16)).toBe(true);
    expect(workerThreadCount()).toBe(0);
  });

  it("validate setThreads()", () => {
    expect(() => setThreads(0)).toThrow(RangeError);
    expect(() => setThreads(1.5)).toThrow(RangeError);
    setThreads(3);
    expect(getThreads()).toBe(3);
    setThreads(2);
  });
});

describe("the pool's job protocol", () => {
  // A worker woken without a new job (a spurious wake-up, or the re-notification awaitWorkers sends while it waits)
  // must not run its last job again: that would count it twice (the pending count below zero) and let the next job
  // start before the workers are ready — the state in which a sweep once hung, the caller and the worker each waiting.
  it("a worker woken without a new job waits again instead of running its last one twice", async () => {
    const { GemmWorkerPool } = await import("../src/tensor/wasm/threads.ts");
    const { WasmGemmEngine } = await import("../src/tensor/wasm/engine.ts");
    const engine = new WasmGemmEngine();
    const m = 64, n = 2048, k = 300; // enough work for two threads
    const product = () => {
      const c = new Float32Array(m * n);
      engine.multiply({ a: new Float32Array(m * k).fill(1), b: new Float32Array(k * n).fill(1), c, m, n, k }, 2);
      return c;
    };
    expect(product().every((x) => x === k)).toBe(true);
    const pool = (engine as unknown as { pool: InstanceType<typeof GemmWorkerPool> }).pool;
    const ctl = (pool as unknown as { control: Int32Array }).control;
    expect(pool.size).toBe(1);
    for (let i = 0; i < 20; i++) {
      Atomics.notify(ctl, 0); // GENERATION: wake every worker, with no new job
      await new Promise((ok) => setTimeout(ok, 5));
    }
    expect(Atomics.load(ctl, 1)).toBe(0); // PENDING: nobody ran the last job again
    expect(product().every((x) => x === k)).toBe(true);
    engine.shutdown();
  });
});
