/**
 * Ownership of shared files by several processes, possibly on several machines sharing one filesystem: a claim is a
 * small JSON file created with O_EXCL (`wx`), which exactly one creator can win, on local disks and on NFS alike. It
 * names its owner (host, pid) and is kept fresh by touching its mtime.
 *
 * A claim is dead when its owner is: on this host, when the pid no longer exists; on another host (whose processes we
 * cannot see), when the claim has not been touched for `staleMs`. A dead claim is taken over under a second, short
 * mutex (a directory, mkdir being atomic too), so two processes that both find it dead cannot both take it.
 */
import { mkdirSync, readFileSync, rmdirSync, rmSync, statSync, utimesSync, writeFileSync } from "node:fs";
import { hostname } from "node:os";

export interface ClaimOwner {
  host: string;
  pid: number;
  since: string;
  /** What the owner is doing, for messages ("training L0-n128-k8-topk seed 3"). */
  purpose: string;
}

export const HOST = hostname();
/** Another host's claim untouched for this long is taken as dead (owners touch theirs at least every minute). */
export const DEFAULT_STALE_MS = 10 * 60_000;

export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM"; // exists, but not ours to signal
  }
}

function readOwner(path: string): { owner: ClaimOwner | null; mtimeMs: number } | null {
  let mtimeMs: number;
  try {
    mtimeMs = statSync(path).mtimeMs;
  } catch {
    return null; // gone
  }
  try {
    return { owner: JSON.parse(readFileSync(path, "utf8")) as ClaimOwner, mtimeMs };
  } catch {
    return { owner: null, mtimeMs }; // just created, not yet written
  }
}

function alive(found: { owner: ClaimOwner | null; mtimeMs: number }, staleMs: number): boolean {
  if (found.owner && found.owner.host === HOST) return processAlive(found.owner.pid);
  return Date.now() - found.mtimeMs < staleMs;
}

export class Claim {
  private released = false;
  private lastTouch = Date.now();
  constructor(readonly path: string, readonly owner: ClaimOwner) {}

  /** Keep the claim fresh; cheap to call often (touches the file at most every 10 s). */
  heartbeat(): void {
    if (this.released || Date.now() - this.lastTouch < 10_000) return;
    this.lastTouch = Date.now();
    const now = new Date();
    try {
      utimesSync(this.path, now, now);
    } catch {
      // Taken over or removed: the work goes on; whoever took it will find the result complete or redo it.
    }
  }

  release(): void {
    if (this.released) return;
    this.released = true;
    const found = readOwner(this.path);
    if (found?.owner?.host === this.owner.host && found.owner.pid === this.owner.pid) rmSync(this.path, { force: true });
  }
}

export type ClaimResult = { claim: Claim; heldBy?: undefined } | { claim?: undefined; heldBy: ClaimOwner | null };

function create(path: string, purpose: string): Claim | null {
  const owner: ClaimOwner = { host: HOST, pid: process.pid, since: new Date().toISOString(), purpose };
  try {
    writeFileSync(path, JSON.stringify(owner) + "\n", { flag: "wx" });
    return new Claim(path, owner);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "EEXIST") return null;
    throw e;
  }
}

/** Try once to own `path`: created if absent, taken over if its owner is dead, else the live owner is returned. */
export function tryClaim(path: string, purpose: string, staleMs = DEFAULT_STALE_MS): ClaimResult {
  const made = create(path, purpose);
  if (made) return { claim: made };
  const found = readOwner(path);
  if (!found) return tryClaimOnce(path, purpose); // released between our attempt and our look
  if (alive(found, staleMs)) return { heldBy: found.owner };
  // Dead owner: take over under a mutex, so that of several processes finding it dead exactly one does.
  const mutex = `${path}.takeover`;
  try {
    mkdirSync(mutex);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e;
    try {
      if (Date.now() - statSync(mutex).mtimeMs > staleMs) rmdirSync(mutex); // a taker that died mid-way
    } catch {
      // someone else cleared it
    }
    return { heldBy: found.owner };
  }
  try {
    const again = readOwner(path);
    if (again && alive(again, staleMs)) return { heldBy: again.owner };
    rmSync(path, { force: true });
    const taken = create(path, purpose);
    return taken ? { claim: taken } : { heldBy: readOwner(path)?.owner ?? null };
  } finally {
    rmdirSync(mutex);
  }
}

function tryClaimOnce(path: string, purpose: string): ClaimResult {
  const made = create(path, purpose);
  return made ? { claim: made } : { heldBy: readOwner(path)?.owner ?? null };
}

/** Who holds `path` now (null when nobody, or when the holder is dead). */
export function liveOwner(path: string, staleMs = DEFAULT_STALE_MS): ClaimOwner | null {
  const found = readOwner(path);
  return found && alive(found, staleMs) ? found.owner ?? { host: "?", pid: 0, since: "", purpose: "starting" } : null;
}

/** Block this thread for `ms` (synchronous code waiting for another process: no event loop to yield to). */
export function sleepSync(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

export function describeOwner(owner: ClaimOwner | null): string {
  return owner ? `${owner.purpose} by pid ${owner.pid} on ${owner.host} since ${owner.since}` : "a process that is just starting";
}

/** Run `fn` holding `path` (a short critical section, e.g. a read-modify-write of one shared file). */
export function withLock<T>(path: string, purpose: string, fn: () => T): T {
  for (;;) {
    const got = tryClaim(path, purpose);
    if (got.claim) {
      try {
        return fn();
      } finally {
        got.claim.release();
      }
    }
    sleepSync(100);
  }
}
