/**
 * Progress for long jobs: a redrawn bar on a terminal, plain occasional lines otherwise (logs, CI), always on
 * stderr so stdout stays clean for --json output. The study layer asks for bars through a ProgressFactory
 * (../study/progress.ts); `createProgress` is the one the CLI hands it.
 */
import type { ProgressBar } from "../study/progress.ts";

export type { ProgressBar } from "../study/progress.ts";

function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds)) return "?";
  if (seconds < 60) return `${seconds.toFixed(0)}s`;
  if (seconds < 3600) return `${Math.floor(seconds / 60)}m${String(Math.round(seconds % 60)).padStart(2, "0")}s`;
  return `${Math.floor(seconds / 3600)}h${String(Math.round((seconds % 3600) / 60)).padStart(2, "0")}m`;
}

/** A progress bar on `stream` (stderr): redrawn on a terminal, a plain line every 10 s otherwise. */
export function createProgress(label: string, total: number, unit = "", stream: NodeJS.WriteStream = process.stderr): ProgressBar {
  const start = performance.now();
  const tty = Boolean(stream.isTTY) && process.env.CI !== "true";
  let lastPlain = 0;
  let lastDraw = 0;
  const line = (done: number, extra?: string) => {
    const elapsed = (performance.now() - start) / 1000;
    const rate = done / Math.max(elapsed, 1e-9);
    const eta = total > done ? (total - done) / Math.max(rate, 1e-9) : 0;
    const pct = total > 0 ? Math.min(100, (100 * done) / total) : 100;
    const rateText = unit ? ` ${rate >= 100 ? rate.toFixed(0) : rate.toFixed(1)} ${unit}/s` : "";
    return { pct, text: `${label} ${pct.toFixed(1).padStart(5)}% ${done}/${total}${rateText} eta ${formatDuration(eta)}${extra ? "  " + extra : ""}` };
  };
  return {
    update(done, extra) {
      const now = performance.now();
      if (tty) {
        if (now - lastDraw < 100 && done < total) return;
        lastDraw = now;
        const { pct, text } = line(done, extra);
        const width = 24;
        const filled = Math.round((pct / 100) * width);
        stream.write(`\r[${"#".repeat(filled)}${"-".repeat(width - filled)}] ${text}\x1b[K`);
      } else if (now - lastPlain > 10_000 || done >= total) {
        lastPlain = now;
        stream.write(line(done, extra).text + "\n");
      }
    },
    done(message) {
      const elapsed = (performance.now() - start) / 1000;
      if (tty) stream.write("\r\x1b[K");
      stream.write(`${label} done in ${formatDuration(elapsed)}${message ? ": " + message : ""}\n`);
    },
  };
}

