/**
 * `thinwire export`: writes a trained run in another program's format. One command, one entry per
 * format in FORMATS; a format is a module exporting an ExportFormat, loaded only when chosen.
 * Adding one is one entry in FORMATS plus its module. A format writes either a folder or one file
 * (`--out`), and may show one task (`--task`): `html` does, so `--task` alone picks it.
 */
import { commandFlags, openModelFlag, required, threadsFlag } from "../cli_flags.ts";
import { UserError } from "../errors.ts";
import { checkWritable } from "../util/write_atomic.ts";
import type { ExportFormat } from "./format.ts";
import { getTask } from "../../tasks/index.ts";

interface FormatEntry {
  /** The --help line. */
  summary: string;
  /** What --out names: a folder (created if missing) or the one file written. */
  out: "folder" | "file";
  /** Whether the format shows one task, named by --task (required then, refused otherwise). */
  task: boolean;
  /** The module that writes it (loaded only when chosen). */
  load: () => Promise<ExportFormat>;
}

/** The formats. */
const FORMATS: Record<string, FormatEntry> = {
  reference: {
    summary: "openai/circuit_sparsity load_model folder (beeg_config.json, final_model.pt)",
    out: "folder",
    task: false,
    load: async () => (await import("./reference.ts")).referenceFormat,
  },
  html: {
    summary: "the circuit viewer for --task as one HTML file that opens from disk",
    out: "file",
    task: true,
    load: async () => (await import("../view/export_html.ts")).htmlFormat,
  },
};

/** The format --task picks when --format is left out (the one that shows a task). */
const TASK_FORMAT = "html";

function usage(): string {
  const rows = Object.entries(FORMATS).map(([k, f]) => `  ${k.padEnd(10)} ${f.summary}`);
  return [
    "usage: deno task export --model DIR --format NAME --out DIR",
    "       deno task export --model DIR --task NAME --out FILE.html",
    "",
    "Writes a trained run in another program's format.",
    "",
    "  --model DIR    run folder (config.json, tokenizer.json, model.safetensors)   required",
    `  --format NAME  one of the formats below (default ${TASK_FORMAT} when --task is given)`,
    "  --out PATH     reference: folder to write (created if missing; files in it",
    "                 replaced); html: the file to write                           required",
    "  --task NAME    html: the task whose circuit the page shows (circuits/NAME.json,",
    "                 from deno task prune)",
    "  --threads N    compute threads (default 1)",
    "  --help         this text",
    "",
    "formats:",
    ...rows,
  ].join("\n");
}

/** Runs `export` with its own arguments; returns the exit code (problems are thrown as UserError). */
export async function exportCommand(argv: string[]): Promise<number> {
  const v = commandFlags("export", usage, {
    model: { type: "string" },
    format: { type: "string" },
    out: { type: "string" },
    task: { type: "string" },
    threads: { type: "string" },
  }, argv);
  if (!v) return 0;
  required("export", v.model, "--model DIR");
  const name = v.format ?? (v.task !== undefined ? TASK_FORMAT : undefined);
  if (!name) {
    throw new UserError(
      `export: --format is required (one of: ${Object.keys(FORMATS).join(", ")})`,
    );
  }
  const entry = FORMATS[name];
  if (!entry) {
    throw new UserError(
      `export: unknown format '${name}' (formats: ${Object.keys(FORMATS).join(", ")})`,
    );
  }
  if (entry.task && v.task === undefined) {
    throw new UserError(`export --format ${name}: --task NAME is required (see --help)`);
  }
  if (!entry.task && v.task !== undefined) {
    throw new UserError(`export --format ${name}: takes no --task (it writes the whole run)`);
  }
  if (!v.out) {
    throw new UserError(
      `export: --out ${entry.out === "folder" ? "DIR" : "FILE"} is required (see --help)`,
    );
  }
  if (v.task !== undefined) getTask(v.task);
  const threads = threadsFlag(v.threads, 1);
  const format = await entry.load();
  if (entry.out === "file") await checkWritable(v.out, "--out");
  const run = await openModelFlag("export", v.model, { threads });
  try {
    if (entry.out === "folder") await makeFolder(v.out);
    const written = await format.write(run, v.out, {
      task: v.task ?? null,
      log: (line) => console.error(line),
    });
    console.error(`exported ${v.model} as ${name}: ${written.join(", ")}`);
  } finally {
    run.close();
  }
  return 0;
}

async function makeFolder(dir: string): Promise<void> {
  try {
    const info = await Deno.stat(dir);
    if (!info.isDirectory) throw new UserError(`export: --out ${dir} exists and is not a folder`);
    return;
  } catch (e) {
    if (e instanceof UserError) throw e;
  }
  try {
    await Deno.mkdir(dir, { recursive: true });
  } catch (e) {
    throw new UserError(`export: cannot create ${dir} (${(e as Error).message.split("\n")[0]})`);
  }
}
