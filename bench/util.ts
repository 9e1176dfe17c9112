/** Small helpers shared by the benchmark sections: timing with tinybench and machine facts. */
import { Bench } from "tinybench";
import os from "node:os";

/**
 * Time `fn` with tinybench and return the fastest observed run in seconds. The minimum is the least
 * noisy estimate of what the code can do on a shared machine; tinybench's mean and samples are in the
 * task result if a caller wants them.
 */
export async function bestSeconds(name: string, fn: () => void, options: { iterations?: number; time?: number } = {}): Promise<number> {
  const bench = new Bench({ iterations: options.iterations ?? 3, time: options.time ?? 0, warmupIterations: 1, warmupTime: 0 });
  bench.add(name, fn);
  await bench.run();
  const result = bench.tasks[0]!.result as { latency?: { min: number }; min?: number } | undefined;
  const minMs = result?.latency?.min ?? result?.min;
  if (minMs === undefined) throw new Error(`benchmark ${name} produced no timing`);
  return minMs / 1000;
}

export function machineFacts(): Record<string, string | number> {
  const cpus = os.cpus();
  return {
    "machine.cpu": cpus[0]?.model ?? "unknown",
    "machine.cores": os.availableParallelism(),
    "machine.memory_gb": Math.round(os.totalmem() / 2 ** 30),
    "machine.node": process.version,
    "machine.loadavg_1m": Number(os.loadavg()[0]!.toFixed(2)),
  };
}

export function peakRssMb(): number {
  return Math.round(process.resourceUsage().maxRSS / 1024);
}
