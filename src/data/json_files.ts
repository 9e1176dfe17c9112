/**
 * Atomic writes: to a temporary file beside the target, then rename, so readers never see half a file; a write that
 * fails removes its temporary file, so nothing is left behind either way.
 */
import { readdirSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { processAlive } from "./file_lock.ts";

/** Write a file whole or not at all: to `<path>.tmp-<pid>`, then renamed over `path`. */
export function writeFileAtomic(path: string, content: string | Uint8Array): void {
  const tmp = `${path}.tmp-${process.pid}`;
  try {
    writeFileSync(tmp, content);
    renameSync(tmp, path);
  } catch (e) {
    rmSync(tmp, { force: true });
    throw e;
  }
}

/** Write a value as indented JSON, whole or not at all (writeFileAtomic). */
export function writeJsonAtomic(path: string, value: unknown): void {
  writeFileAtomic(path, JSON.stringify(value, null, 2) + "\n");
}

/**
 * Remove `<name>.tmp-<pid>` files and directories in `dir` left by processes of this machine that are gone (killed
 * mid-write). A live writer's temporaries are left alone.
 */
export function removeStaleTemporaries(dir: string): string[] {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return [];
  }
  const removed: string[] = [];
  for (const name of names) {
    const m = /\.tmp-(\d+)$/.exec(name);
    if (!m || Number(m[1]) === process.pid || processAlive(Number(m[1]))) continue;
    rmSync(join(dir, name), { recursive: true, force: true });
    removed.push(name);
  }
  return removed;
}
