/**
 * The viewer's HTTP server: loopback only, and it answers only for a fixed list of paths, the
 * page, its bundled assets and the run folder's known files, each read from a name in that list
 * (never from the request's path), so `..`, encoded traversal and other files of the disk cannot
 * be reached. A run file that is a symlink resolving outside the run folder is refused too.
 *
 * Every answer carries COOP/COEP (cross-origin isolation: SharedArrayBuffer, so the kernels run
 * multi-threaded in the page), a content security policy that allows nothing from another
 * origin, and no-store caching (a run folder changes under the viewer when prune runs again).
 */
import { TASKS } from "../../tasks/index.ts";
import { parseCircuitText } from "../run/circuit.ts";
import { circuitFile, RUN_FILES } from "../run/format.ts";
import { sha256Hex } from "../util/sha256.ts";
import type { Bundle } from "./bundle.ts";
import { pageHtml } from "./page_html.ts";
import { circuitPreview } from "./preview.ts";

/** Run files the page may ask for, under /run/. */
export function servedRunFiles(): string[] {
  return [
    RUN_FILES.config,
    RUN_FILES.tokenizer,
    RUN_FILES.model,
    RUN_FILES.metrics,
    RUN_FILES.lossSvg,
    RUN_FILES.means,
    RUN_FILES.summary,
    ...TASKS.map((t) => circuitFile(t.name)),
  ];
}

const TYPES: Record<string, string> = {
  ".js": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".json": "application/json; charset=utf-8",
  ".jsonl": "text/plain; charset=utf-8",
  ".svg": "image/svg+xml",
  ".wasm": "application/wasm",
  ".safetensors": "application/octet-stream",
  ".html": "text/html; charset=utf-8",
};

function typeOf(name: string): string {
  const m = /\.[a-z]+$/.exec(name);
  return (m && TYPES[m[0]]) ?? "application/octet-stream";
}

/** The headers of every answer. */
export const SECURITY_HEADERS: Record<string, string> = {
  "Cross-Origin-Opener-Policy": "same-origin",
  "Cross-Origin-Embedder-Policy": "require-corp",
  "Cross-Origin-Resource-Policy": "same-origin",
  "X-Content-Type-Options": "nosniff",
  "Referrer-Policy": "no-referrer",
  "Cache-Control": "no-store",
  "Content-Security-Policy": "default-src 'self'; script-src 'self' 'wasm-unsafe-eval' blob:; " +
    "worker-src 'self' blob:; style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; " +
    "connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'",
};

/**
 * How long the page's first HTML waits for the circuit's drawing (laid out once per circuit
 * file, from the server's start on): a few seconds for hundreds of nodes, longer for thousands,
 * where the page comes without it and draws the graph itself.
 */
const PREVIEW_WAIT_MS = 8000;

export interface ViewServerOptions {
  /** The run folder. */
  runDir: string;
  /** Port on 127.0.0.1; 0 = a free one. */
  port: number;
  bundle: Bundle;
  /** The kernel module's bytes. */
  wasm: Uint8Array;
  /** Circuit to open first (a task name), or null. */
  task: string | null;
  /** The run's name as the user gave it (for commands the page prints); default: folder name. */
  runName?: string;
}

/** Tasks whose circuit file is in the run folder now (prune may have run since the start). */
export async function presentCircuits(root: string): Promise<string[]> {
  const out: string[] = [];
  for (const t of TASKS) {
    if (await insideRoot(root, `${root}/${circuitFile(t.name)}`)) out.push(t.name);
  }
  return out;
}

export interface ViewServer {
  url: string;
  port: number;
  /** Stops listening and waits for open requests. */
  close(): Promise<void>;
}

/** The realpath of `path` when it is inside `root` (itself a realpath), else null. */
async function insideRoot(root: string, path: string): Promise<string | null> {
  let real: string;
  try {
    real = await Deno.realPath(path);
  } catch {
    return null;
  }
  return real.startsWith(root + "/") ? real : null;
}

/** Starts the server; resolves once it listens. */
export async function startViewServer(o: ViewServerOptions): Promise<ViewServer> {
  const root = await Deno.realPath(o.runDir);
  const runFiles = new Set(servedRunFiles());
  const assets = new Map<string, Uint8Array>(o.bundle.files);
  assets.set("thinwire.wasm", o.wasm);
  const runName = root.split("/").pop() ?? root;
  let port = 0;
  const allowedHosts = () => new Set([`127.0.0.1:${port}`, `localhost:${port}`]);

  // The first circuit drawn into the page, by the file's bytes (prune may rewrite it meanwhile).
  const previews = new Map<string, Promise<string>>();
  const preview = async (task: string | null): Promise<string> => {
    const real = task ? await insideRoot(root, `${root}/${circuitFile(task)}`) : null;
    if (!task || !real) return "";
    let bytes: Uint8Array;
    try {
      bytes = await Deno.readFile(real);
    } catch {
      return "";
    }
    const key = `${task}:${await sha256Hex(bytes)}`;
    let p = previews.get(key);
    if (!p) {
      // A damaged file has no preview: the page reports it once it has started.
      p = (async () => {
        try {
          return await circuitPreview(parseCircuitText(new TextDecoder().decode(bytes), real));
        } catch {
          return "";
        }
      })();
      previews.set(key, p);
    }
    return await p;
  };
  /** The preview if it is ready within PREVIEW_WAIT_MS, else none (it is kept for later). */
  const previewSoon = async (task: string | null): Promise<string> => {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const late = new Promise<string>((res) => timer = setTimeout(() => res(""), PREVIEW_WAIT_MS));
    try {
      return await Promise.race([preview(task), late]);
    } finally {
      clearTimeout(timer);
    }
  };
  const firstTask = async () => o.task ?? (await presentCircuits(root))[0] ?? null;
  // Laid out now, so the first request does not wait for it.
  firstTask().then(preview).catch(() => {});

  const answer = (status: number, body: BodyInit | null, type: string, method: string) =>
    new Response(method === "HEAD" ? null : body, {
      status,
      headers: { ...SECURITY_HEADERS, "Content-Type": type },
    });
  const notFound = (method: string) => answer(404, "not found\n", "text/plain", method);

  const handler = async (req: Request): Promise<Response> => {
    const method = req.method;
    if (method !== "GET" && method !== "HEAD") {
      return answer(405, "method not allowed\n", "text/plain", "GET");
    }
    // A page on another site cannot reach us through a DNS name that resolves to 127.0.0.1.
    if (!allowedHosts().has(req.headers.get("host") ?? "")) {
      return answer(403, "forbidden host\n", "text/plain", method);
    }
    // The raw path, undecoded: names are compared as sent, so "%2e%2e" is just an unknown name.
    const raw = req.url.replace(/^[a-z]+:\/\/[^/]*/i, "").replace(/[?#].*$/, "");
    if (raw === "/" || raw === "/index.html") {
      const circuits = await presentCircuits(root);
      const html = pageHtml(
        {
          mode: "server",
          run: o.runName ?? runName,
          task: o.task,
          runFiles: [...runFiles],
          circuits,
        },
        undefined,
        method === "HEAD" ? "" : await previewSoon(o.task ?? circuits[0] ?? null),
      );
      return answer(200, html, TYPES[".html"], method);
    }
    if (raw.startsWith("/assets/")) {
      const name = raw.slice("/assets/".length);
      const bytes = assets.get(name);
      return bytes ? answer(200, bytes as BodyInit, typeOf(name), method) : notFound(method);
    }
    if (raw.startsWith("/run/")) {
      const name = raw.slice("/run/".length);
      if (!runFiles.has(name)) return notFound(method);
      const real = await insideRoot(root, `${root}/${name}`);
      if (!real) return notFound(method);
      try {
        const bytes = await Deno.readFile(real);
        return answer(200, bytes as BodyInit, typeOf(name), method);
      } catch {
        return notFound(method);
      }
    }
    return notFound(method);
  };

  let listening!: () => void;
  const ready = new Promise<void>((r) => listening = r);
  const server = Deno.serve({
    hostname: "127.0.0.1",
    port: o.port,
    onListen: (addr) => {
      port = (addr as Deno.NetAddr).port;
      listening();
    },
    onError: (e) => {
      console.error(`view: ${(e as Error).message}`);
      return new Response("internal error\n", { status: 500, headers: SECURITY_HEADERS });
    },
  }, handler);
  await ready;
  return {
    url: `http://127.0.0.1:${port}/`,
    port,
    close: async () => {
      await server.shutdown();
    },
  };
}
