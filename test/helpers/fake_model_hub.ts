/**
 * A local stand-in for the Hugging Face hub on 127.0.0.1 serving whole model repositories:
 * `/<owner>/<name>/resolve/main/<file>` answered the way the hub does (range probe with Content-Range; LFS files —
 * *.safetensors — with X-Linked-ETag = sha256 and X-Linked-Size; 404 + X-Error-Code EntryNotFound for a missing
 * file), and gated repositories that answer 401 without a token and 403 with the wrong one.
 */
import { createServer, type Server } from "node:http";
import { createHash } from "node:crypto";

export interface FakeRepo {
  files: Record<string, Buffer>;
  /** The token a gated repository accepts. */
  token?: string;
}

export interface FakeModelHub {
  url: string;
  /** Files served so far (full bodies, not probes), by "repo/file". */
  bodies: string[];
  close(): Promise<void>;
}

export async function startFakeModelHub(repos: Record<string, FakeRepo>): Promise<FakeModelHub> {
  const bodies: string[] = [];
  const server: Server = createServer((req, res) => {
    const m = /^\/([^/]+\/[^/]+)\/resolve\/main\/(.+)$/.exec(req.url ?? "");
    const repo = m ? repos[m[1]!] : undefined;
    if (!m || !repo) {
      res.writeHead(404, { "X-Error-Code": "RepoNotFound" });
      res.end("repository not found");
      return;
    }
    if (repo.token !== undefined) {
      const auth = req.headers.authorization;
      if (!auth) {
        res.writeHead(401, { "X-Error-Code": "GatedRepo" });
        res.end("gated");
        return;
      }
      if (auth !== `Bearer ${repo.token}`) {
        res.writeHead(403, { "X-Error-Code": "GatedRepo" });
        res.end("forbidden");
        return;
      }
    }
    const body = repo.files[m[2]!];
    if (!body) {
      res.writeHead(404, { "X-Error-Code": "EntryNotFound" });
      res.end("not found");
      return;
    }
    const isLfs = m[2]!.endsWith(".safetensors");
    const etag = `"${createHash(isLfs ? "sha256" : "sha1").update(body).digest("hex")}"`;
    const headers: Record<string, string> = { ETag: etag, ...(isLfs ? { "X-Linked-ETag": etag, "X-Linked-Size": String(body.length) } : {}) };
    const range = /bytes=(\d+)-(\d+)/.exec(req.headers.range ?? "");
    if (range) {
      const [start, end] = [Number(range[1]), Math.min(Number(range[2]), body.length - 1)];
      res.writeHead(206, { ...headers, "Content-Range": `bytes ${start}-${end}/${body.length}`, "Content-Length": String(end - start + 1) });
      res.end(body.subarray(start, end + 1));
      return;
    }
    bodies.push(`${m[1]}/${m[2]}`);
    res.writeHead(200, { ...headers, "Content-Length": String(body.length) });
    res.end(body);
  });
  await new Promise<void>((ok) => server.listen(0, "127.0.0.1", ok));
  const { port } = server.address() as { port: number };
  return { url: `http://127.0.0.1:${port}`, bodies, close: () => new Promise<void>((ok) => server.close(() => ok())) };
}
