/**
 * The viewer's bundle: esbuild (its WebAssembly build, npm `esbuild-wasm`: no native binary, no
 * install script) turns the page's TypeScript and the npm libraries it uses (elkjs, uPlot, zod,
 * js-tiktoken) into three scripts and a stylesheet under build/view/, so the page needs nothing
 * from a network.
 *
 *   app.js             the page (src/view/page/main.ts)
 *   model_worker.js    the dedicated worker that runs the model (src/view/page/model_worker.ts)
 *   compute_worker.js  a compute thread of the backend (src/backend/worker.ts)
 *   app.css            src/view/page/style.css with uPlot's stylesheet
 *
 * Built once and cached: manifest.json records every input file esbuild read with its SHA-256,
 * and a later call whose inputs (and this file, and the esbuild version) are unchanged returns
 * the cached files without starting esbuild (which takes seconds).
 */
import * as esbuild from "esbuild-wasm";
import { sha256Hex } from "../util/sha256.ts";
import { writeAtomic } from "../util/write_atomic.ts";

/** The bundle's files by name (app.js, model_worker.js, compute_worker.js, app.css). */
export interface Bundle {
  files: Map<string, Uint8Array>;
  /** True when the files came from the cache. */
  cached: boolean;
}

const ROOT = new URL("../../", import.meta.url);
const OUT_DIR = new URL("build/view/", ROOT);

const ENTRIES: Record<string, string> = {
  "app.js": "src/view/page/main.ts",
  "model_worker.js": "src/view/page/model_worker.ts",
  "compute_worker.js": "src/backend/worker.ts",
  "app.css": "src/view/page/style.css",
};

interface Manifest {
  key: string;
  inputs: Record<string, string>;
  files: Record<string, string>;
}

async function readOrNull(url: URL): Promise<Uint8Array | null> {
  try {
    return await Deno.readFile(url);
  } catch {
    return null;
  }
}

/** What the bundle depends on besides its inputs: this file, the esbuild version, the entries. */
async function buildKey(): Promise<string> {
  const self = await Deno.readFile(new URL(import.meta.url));
  return await sha256Hex(
    new TextEncoder().encode(
      `${esbuild.version}\n${JSON.stringify(ENTRIES)}\n${await sha256Hex(self)}`,
    ),
  );
}

async function fromCache(key: string): Promise<Map<string, Uint8Array> | null> {
  const text = await readOrNull(new URL("manifest.json", OUT_DIR));
  if (!text) return null;
  let m: Manifest;
  try {
    m = JSON.parse(new TextDecoder().decode(text));
  } catch {
    return null;
  }
  if (m.key !== key || typeof m.inputs !== "object" || typeof m.files !== "object") return null;
  for (const [path, hash] of Object.entries(m.inputs)) {
    const b = await readOrNull(new URL(path, ROOT));
    if (!b || await sha256Hex(b) !== hash) return null;
  }
  const files = new Map<string, Uint8Array>();
  for (const name of Object.keys(ENTRIES)) {
    const b = await readOrNull(new URL(name, OUT_DIR));
    if (!b || await sha256Hex(b) !== m.files[name]) return null;
    files.set(name, b);
  }
  return files;
}

let initialized: Promise<void> | null = null;

/**
 * The bundle, from build/view/ when its inputs are unchanged, else built now (and cached).
 * `log` hears one line when a build runs.
 */
export async function viewBundle(log: (line: string) => void = () => {}): Promise<Bundle> {
  const key = await buildKey();
  const cached = await fromCache(key);
  if (cached) return { files: cached, cached: true };
  log("bundling the viewer page (esbuild, once per change of its sources)…");
  const t0 = performance.now();
  initialized ??= esbuild.initialize({});
  await initialized;
  const root = new URL(".", ROOT).pathname;
  const files = new Map<string, Uint8Array>();
  const inputs: Record<string, string> = {};
  for (const [name, entry] of Object.entries(ENTRIES)) {
    const r = await esbuild.build({
      absWorkingDir: root,
      entryPoints: [entry],
      bundle: true,
      write: false,
      metafile: true,
      minify: true,
      format: "iife",
      platform: "browser",
      target: ["es2022"],
      charset: "utf8",
      legalComments: "none",
      logLevel: "silent",
      loader: { ".css": "css" },
      // Module-relative defaults (the kernel file, the compute worker) mean nothing in a bundle;
      // the page always passes both, so any valid URL will do for their unused defaults.
      define: { "import.meta.url": JSON.stringify("file:///thinwire-bundle/") },
    });
    if (r.outputFiles.length !== 1) {
      throw new Error(`esbuild: ${entry} gave ${r.outputFiles.length} files`);
    }
    files.set(name, r.outputFiles[0].contents);
    for (const path of Object.keys(r.metafile.inputs)) {
      const b = await Deno.readFile(new URL(path, ROOT));
      inputs[path] = await sha256Hex(b);
    }
  }
  await Deno.mkdir(OUT_DIR, { recursive: true });
  const hashes: Record<string, string> = {};
  for (const [name, bytes] of files) {
    await writeAtomic(new URL(name, OUT_DIR).pathname, bytes);
    hashes[name] = await sha256Hex(bytes);
  }
  const manifest: Manifest = { key, inputs, files: hashes };
  await writeAtomic(new URL("manifest.json", OUT_DIR).pathname, JSON.stringify(manifest, null, 1));
  const kb = [...files].map(([n, b]) => `${n} ${(b.length / 1024).toFixed(0)} KiB`).join(", ");
  log(`bundled in ${((performance.now() - t0) / 1000).toFixed(1)}s: ${kb}`);
  return { files, cached: false };
}

/** Stops esbuild's service if a build started it (lets a test or the CLI exit promptly). */
export async function stopBundler(): Promise<void> {
  if (initialized) {
    await initialized;
    await esbuild.stop();
    initialized = null;
  }
}
