/// <reference lib="dom" />
/**
 * Where the page's files come from: the view server (`/run/<file>`, `/assets/<file>`), or the
 * page itself when exported (`<script data-file>` blocks: base64 of gzip, gunzipped with the
 * browser's DecompressionStream).
 */
import type { PageConfig } from "../page_html.ts";

export interface Source {
  cfg: PageConfig;
  /** A run file's bytes, or null when the run has no such file. */
  runFile(name: string): Promise<Uint8Array | null>;
  /** The kernel module. */
  wasm(): Promise<Uint8Array>;
  /** A worker script's URL (a blob URL for an exported page). */
  workerUrl(name: string): string;
}

async function gunzip(b64: string): Promise<Uint8Array> {
  const bin = atob(b64.trim());
  const bytes = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
  const stream = new Blob([bytes]).stream().pipeThrough(new DecompressionStream("gzip"));
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

function serverSource(cfg: PageConfig): Source {
  const get = async (url: string): Promise<Uint8Array | null> => {
    const r = await fetch(url, { cache: "no-store" });
    if (r.status === 404) return null;
    if (!r.ok) throw new Error(`${url}: HTTP ${r.status}`);
    return new Uint8Array(await r.arrayBuffer());
  };
  return {
    cfg,
    runFile: (name) => cfg.runFiles.includes(name) ? get(`/run/${name}`) : Promise.resolve(null),
    wasm: async () => {
      const b = await get("/assets/thinwire.wasm");
      if (!b) throw new Error("the server has no kernel module (/assets/thinwire.wasm)");
      return b;
    },
    workerUrl: (name) => `/assets/${name}`,
  };
}

function inlineSource(cfg: PageConfig): Source {
  const block = (attr: string, name: string) =>
    document.querySelector<HTMLScriptElement>(`script[${attr}="${CSS.escape(name)}"]`);
  const urls = new Map<string, string>();
  return {
    cfg,
    runFile: async (name) => {
      const el = block("data-file", `run/${name}`);
      return el ? await gunzip(el.textContent ?? "") : null;
    },
    wasm: async () => {
      const el = block("data-file", "thinwire.wasm");
      if (!el) throw new Error("this page has no kernel module embedded");
      return await gunzip(el.textContent ?? "");
    },
    workerUrl: (name) => {
      let u = urls.get(name);
      if (!u) {
        const el = block("data-worker", name);
        if (!el) throw new Error(`this page has no ${name} embedded`);
        u = URL.createObjectURL(new Blob([el.textContent ?? ""], { type: "text/javascript" }));
        urls.set(name, u);
      }
      return u;
    },
  };
}

/** The page's source, from its `#thinwire-config` block. */
export function pageSource(): Source {
  const el = document.getElementById("thinwire-config");
  if (!el) throw new Error("the page has no #thinwire-config block");
  const cfg = JSON.parse(el.textContent ?? "{}") as PageConfig;
  return cfg.mode === "inline" ? inlineSource(cfg) : serverSource(cfg);
}
