/**
 * A local stand-in for the Hugging Face hub on 127.0.0.1 serving whole SAE repositories: the tree API
 * (`/api/models/<repo>/tree/<revision>?recursive=true`, paginated with a Link header as the hub does) and
 * `/<repo>/resolve/<revision>/<path>` (range probe with Content-Range; X-Linked-ETag = sha256 and X-Linked-Size
 * for LFS files — .safetensors and .pt — as the hub sends them). Repositories are built from local folders.
 */
import { createServer, type Server } from "node:http";
import { createHash } from "node:crypto";
import { readFileSync, readdirSync, statSync } from "node:fs";
import { join } from "node:path";

export interface FakeSAEHub {
  url: string;
  /** Paths requested through resolve/, in order. */
  fetched: string[];
  setCorrupt(path: string | null): void;
  close(): Promise<void>;
}

/** Every file under `dir`, as repository path → bytes. */
export function filesOf(dir: string, prefix = ""): Record<string, Buffer> {
  const out: Record<string, Buffer> = {};
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) Object.assign(out, filesOf(p, `${prefix}${name}/`));
    else out[`${prefix}${name}`] = readFileSync(p);
  }
  return out;
}

const isLfs = (path: string) => /\.(safetensors|pt)$/.test(path);

/** repos: "org/name" → revision → repository path → bytes. */
export async function startFakeSAEHub(repos: Record<string, Record<string, Record<string, Buffer>>>, pageSize = 3): Promise<FakeSAEHub> {
  const fetched: string[] = [];
  let corrupt: string | null = null;
  let base = "";
  const server: Server = createServer((req, res) => {
    const url = new URL(req.url ?? "/", base);
    const tree = /^\/api\/models\/([^/]+\/[^/]+)\/tree\/([^/]+)$/.exec(url.pathname);
    if (tree) {
      const files = repos[tree[1]!]?.[decodeURIComponent(tree[2]!)];
      if (!files) {
        res.writeHead(404, { "Content-Type": "application/json" });
        res.end(JSON.stringify({ error: "Repository not found" }));
        return;
      }
      const dirs = new Set<string>();
      for (const p of Object.keys(files)) for (let i = p.indexOf("/"); i >= 0; i = p.indexOf("/", i + 1)) dirs.add(p.slice(0, i));
      const items = [
        ...[...dirs].map((path) => ({ type: "directory", oid: "0".repeat(40), size: 0, path })),
        ...Object.entries(files).map(([path, body]) => ({
          type: "file", oid: createHash("sha1").update(body).digest("hex"), size: isLfs(path) ? 134 : body.length, path,
          ...(isLfs(path) ? { lfs: { oid: createHash("sha256").update(body).digest("hex"), size: body.length, pointerSize: 134 } } : {}),
        })),
      ].sort((a, b) => a.path.localeCompare(b.path));
      const page = Number(url.searchParams.get("cursor") ?? 0);
      const slice = items.slice(page * pageSize, (page + 1) * pageSize);
      const headers: Record<string, string> = { "Content-Type": "application/json" };
      if ((page + 1) * pageSize < items.length) {
        const next = new URL(url);
        next.searchParams.set("cursor", String(page + 1));
        headers.Link = `<${next.toString()}>; rel="next"`;
      }
      res.writeHead(200, headers);
      res.end(JSON.stringify(slice));
      return;
    }
    const m = /^\/([^/]+\/[^/]+)\/resolve\/([^/]+)\/(.+)$/.exec(url.pathname);
    const path = m ? decodeURIComponent(m[3]!) : "";
    const body = m ? repos[m[1]!]?.[decodeURIComponent(m[2]!)]?.[path] : undefined;
    if (!body) {
      res.writeHead(404, { "X-Error-Code": "EntryNotFound" });
      res.end("not found");
      return;
    }
    const lfs = isLfs(path);
    const etag = `"${createHash(lfs ? "sha256" : "sha1").update(body).digest("hex")}"`;
    const headers: Record<string, string> = { ETag: etag, ...(lfs ? { "X-Linked-ETag": etag, "X-Linked-Size": String(body.length) } : {}) };
    const range = /bytes=(\d+)-(\d+)/.exec(req.headers.range ?? "");
    if (range) {
      const [start, end] = [Number(range[1]), Math.min(Number(range[2]), body.length - 1)];
      res.writeHead(206, { ...headers, "Content-Range": `bytes ${start}-${end}/${body.length}`, "Content-Length": String(end - start + 1) });
      res.end(body.subarray(start, end + 1));
      return;
    }
    fetched.push(path);
    const payload = corrupt === path ? Buffer.concat([body.subarray(0, 10), Buffer.from([body[10]! ^ 0xff]), body.subarray(11)]) : body;
    res.writeHead(200, { ...headers, "Content-Length": String(payload.length) });
    res.end(payload);
  });
  await new Promise<void>((ok) => server.listen(0, "127.0.0.1", ok));
  const { port } = server.address() as { port: number };
  base = `http://127.0.0.1:${port}`;
  return {
    url: base,
    fetched,
    setCorrupt: (p) => {
      corrupt = p;
    },
    close: () => new Promise<void>((ok) => server.close(() => ok())),
  };
}
