/**
 * `export --format html`: the viewer as one self-contained HTML file: the page's scripts and
 * stylesheet, the kernel module and the run's files (gzip, base64) inlined, so it opens from
 * disk (file://) with no server. Not cross-origin isolated there, so its kernels run on one
 * thread.
 */
import { UserError } from "../errors.ts";
import { DEFAULT_WASM_URL } from "../backend/wasm.ts";
import { parseCircuitText } from "../run/circuit.ts";
import { circuitFile, RUN_FILES } from "../run/format.ts";
import { parseRunFiles } from "../run/open.ts";
import {
  fileExists,
  type LoadedRun,
  loadRun,
  readCircuit,
  readMeans,
  RunDir,
  writeAtomic,
} from "../run/run_dir.ts";
import type { ExportFormat } from "../export/format.ts";
import { sha256Hex } from "../util/sha256.ts";
import { getTask } from "../../tasks/index.ts";
import { stopBundler, viewBundle } from "./bundle.ts";
import { pageHtml } from "./page_html.ts";
import { circuitPreview } from "./preview.ts";

/** The kernel module's bytes (built by `deno task build`). */
export async function readWasm(): Promise<Uint8Array> {
  try {
    return await Deno.readFile(DEFAULT_WASM_URL);
  } catch {
    throw new UserError(`${DEFAULT_WASM_URL.pathname}: missing; run \`deno task build\` first`);
  }
}

/**
 * Problems with a run folder's files, one line each (empty when the page can open it): the same
 * checks the page makes, so the server can print them where the user started it.
 */
export async function checkRunFiles(run: RunDir): Promise<string[]> {
  const problems: string[] = [];
  const attempt = async (f: () => Promise<void>) => {
    try {
      await f();
    } catch (e) {
      if (!(e instanceof UserError)) throw e;
      problems.push(e.message);
    }
  };
  await attempt(async () => {
    const config = await run.readJson(run.config);
    if (!(await fileExists(run.tokenizer))) {
      throw new UserError(`${run.tokenizer}: missing (not a finished run folder?)`);
    }
    const tokenizer = await run.readJson(run.tokenizer);
    if (!(await fileExists(run.model))) {
      throw new UserError(`${run.model}: missing (training not finished?)`);
    }
    parseRunFiles({ run: run.dir, config, tokenizer, model: await run.readBytes(run.model) });
  });
  return problems;
}

async function gzipBase64(bytes: Uint8Array): Promise<string> {
  const stream = new Blob([bytes as BlobPart]).stream().pipeThrough(new CompressionStream("gzip"));
  const z = new Uint8Array(await new Response(stream).arrayBuffer());
  let s = "";
  for (let i = 0; i < z.length; i += 0x8000) {
    s += String.fromCharCode(...z.subarray(i, i + 0x8000));
  }
  return btoa(s);
}

export interface ExportHtmlOptions {
  /** The run folder. */
  model: string;
  task: string;
  /** The HTML file to write. */
  out: string;
  log?: (line: string) => void;
}

/** `export --format html` (src/export/cli_export.ts): the viewer for `--task` as one file. */
export const htmlFormat: ExportFormat = {
  async write(run, out, opts) {
    if (opts.task === null) throw new UserError("export --format html: --task NAME is required");
    const bytes = await writeHtml(run, opts.task, out, opts.log);
    opts.log(`${out}: ${(bytes / 1048576).toFixed(1)} MiB; open it in a browser`);
    return [out];
  },
};

/**
 * Opens the run folder and writes the viewer for one task's circuit as one HTML file; returns
 * its size in bytes (what `export --format html` does, for callers without a loaded run).
 */
export async function exportHtml(o: ExportHtmlOptions): Promise<number> {
  getTask(o.task);
  const r = await loadRun(o.model);
  try {
    return await writeHtml(r, o.task, o.out, o.log ?? (() => {}));
  } finally {
    r.close();
  }
}

/**
 * Writes the viewer for one task's circuit of a loaded run as one HTML file (atomically); returns
 * its size in bytes. Every problem with the run is a UserError before anything is written.
 */
export async function writeHtml(
  r: LoadedRun,
  task: string,
  out: string,
  log: (line: string) => void,
): Promise<number> {
  getTask(task);
  const run = r.dir, dir = run.dir;
  const circuit = await readCircuit(run, task, r.rc.model);
  if (circuit.model.weights_sha256 !== r.weightsSha256) {
    throw new UserError(
      `${run.circuit(task)}: was pruned from other weights than ${run.model}; prune again with ` +
        `deno task prune --model ${dir} --task ${task}`,
    );
  }
  const model = await run.readBytes(run.model);
  if ((await sha256Hex(model)) !== r.weightsSha256) {
    throw new UserError(`${run.model}: changed while it was being exported; export again`);
  }
  if (
    circuit.ablation === "mean" && !(await readMeans(run, r.model.nodes.total, r.weightsSha256))
  ) {
    throw new UserError(
      `${run.means}: missing or not from these weights; it is written by deno task prune ` +
        `--model ${dir} --task ${task}`,
    );
  }
  const bundle = await viewBundle(log);
  await stopBundler();
  const text = (name: string) => new TextDecoder().decode(bundle.files.get(name)!);
  const files: Record<string, string> = {
    "thinwire.wasm": await gzipBase64(await readWasm()),
  };
  const names = [
    RUN_FILES.config,
    RUN_FILES.tokenizer,
    RUN_FILES.model,
    RUN_FILES.metrics,
    RUN_FILES.means,
    circuitFile(task),
  ];
  const embedded: string[] = [];
  for (const name of names) {
    const p = `${dir}/${name}`;
    if (!(await fileExists(p))) continue;
    const bytes = name === RUN_FILES.model ? model : await run.readBytes(p);
    if (name === circuitFile(task)) parseCircuitText(new TextDecoder().decode(bytes), p);
    files[`run/${name}`] = await gzipBase64(bytes);
    embedded.push(name);
  }
  const html = pageHtml(
    {
      mode: "inline",
      run: run.name,
      task,
      runFiles: embedded,
      circuits: [task],
    },
    {
      css: text("app.css"),
      appJs: text("app.js"),
      workers: {
        "model_worker.js": text("model_worker.js"),
        "compute_worker.js": text("compute_worker.js"),
      },
      files,
    },
    await circuitPreview(circuit),
  );
  const bytes = new TextEncoder().encode(html);
  await writeAtomic(out, bytes);
  return bytes.length;
}
