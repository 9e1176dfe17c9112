/**
 * A local stand-in for the Hugging Face hub on 127.0.0.1: it answers `/<org>/<model>/resolve/main/<file>` the way
 * the hub does (range probe with Content-Range, X-Linked-ETag = sha256 for LFS files, then the full body) for the
 * tiny GPT-2 fixture, served under every model name in `models`.
 */
import { createServer, type Server } from "node:http";
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { join } from "node:path";

const FIXTURE = join(import.meta.dirname, "..", "fixtures", "gpt2_tiny");

export interface FakeHub {
  url: string;
  files: Record<string, Buffer>;
  /** Requests served so far. */
  requests(): number;
  /** Serve a corrupted model.safetensors body (probe still honest) while true. */
  setCorrupt(on: boolean): void;
  close(): Promise<void>;
}

export async function startFakeHub(models: string[]): Promise<FakeHub> {
  const files: Record<string, Buffer> = {
    "config.json": readFileSync(join(FIXTURE, "config.json")),
    "model.safetensors": readFileSync(join(FIXTURE, "model.safetensors")),
  };
  let corrupt = false;
  let requests = 0;
  const server: Server = createServer((req, res) => {
    requests++;
    const m = /^\/openai-community\/([^/]+)\/resolve\/main\/(.+)$/.exec(req.url ?? "");
    const body = m && models.includes(m[1]!) ? files[m[2]!] : undefined;
    if (!body) {
      res.writeHead(404, { "X-Error-Code": "EntryNotFound" });
      res.end("not found");
      return;
    }
    const isLfs = m![2] === "model.safetensors";
    const etag = isLfs ? `"${createHash("sha256").update(body).digest("hex")}"` : `"${createHash("sha1").update(body).digest("hex")}"`;
    const headers: Record<string, string> = { ETag: etag, ...(isLfs ? { "X-Linked-ETag": etag, "X-Linked-Size": String(body.length) } : {}) };
    const range = /bytes=(\d+)-(\d+)/.exec(req.headers.range ?? "");
    if (range) {
      const [start, end] = [Number(range[1]), Math.min(Number(range[2]), body.length - 1)];
      res.writeHead(206, { ...headers, "Content-Range": `bytes ${start}-${end}/${body.length}`, "Content-Length": String(end - start + 1) });
      res.end(body.subarray(start, end + 1));
      return;
    }
    const payload = corrupt && isLfs ? Buffer.concat([body.subarray(0, 100), Buffer.from([body[100]! ^ 0xff]), body.subarray(101)]) : body;
    res.writeHead(200, { ...headers, "Content-Length": String(payload.length) });
    res.end(payload);
  });
  await new Promise<void>((ok) => server.listen(0, "127.0.0.1", ok));
  const { port } = server.address() as { port: number };
  return {
    url: `http://127.0.0.1:${port}`,
    files,
    requests: () => requests,
    setCorrupt: (on) => {
      corrupt = on;
    },
    close: () => new Promise<void>((ok) => server.close(() => ok())),
  };
}
