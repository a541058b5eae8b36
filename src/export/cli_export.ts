/**
 * `thinwire export`: writes a trained run in another program's format. One command, one entry per
 * format in FORMATS; a format is a module exporting an ExportFormat, loaded only when chosen.
 * Adding one (e.g. `--format html`, a viewer page) is one line in FORMATS plus its module.
 */
import { parseFlags, threadsFlag } from "../cli_flags.ts";
import { UserError } from "../errors.ts";
import { type LoadedRun, loadRun } from "../run/run_dir.ts";

/** One export format. */
export interface ExportFormat {
  /**
   * Writes the export of `run` into the folder `out` (which exists), each file atomically; returns
   * the paths written. Problems the user can fix are UserErrors.
   */
  write(run: LoadedRun, out: string): Promise<string[]>;
}

/** The formats: a --help line each, and the module that writes it (loaded only when chosen). */
const FORMATS: Record<string, { summary: string; load: () => Promise<ExportFormat> }> = {
  reference: {
    summary: "openai/circuit_sparsity load_model folder (beeg_config.json, final_model.pt)",
    load: async () => (await import("./reference.ts")).referenceFormat,
  },
};

function usage(): string {
  const rows = Object.entries(FORMATS).map(([k, f]) => `  ${k.padEnd(10)} ${f.summary}`);
  return [
    "usage: deno task export --model DIR --format NAME --out DIR",
    "",
    "Writes a trained run in another program's format.",
    "",
    "  --model DIR    run folder (config.json, tokenizer.json, model.safetensors)   required",
    "  --format NAME  one of the formats below                                     required",
    "  --out DIR      folder to write (created if missing; files in it replaced)    required",
    "  --threads N    compute threads (default 1)",
    "  --help         this text",
    "",
    "formats:",
    ...rows,
  ].join("\n");
}

/** Runs `export` with its own arguments; returns the exit code (problems are thrown as UserError). */
export async function exportCommand(argv: string[]): Promise<number> {
  const v = parseFlags("export", {
    args: argv,
    strict: true,
    allowPositionals: false,
    options: {
      model: { type: "string" },
      format: { type: "string" },
      out: { type: "string" },
      threads: { type: "string" },
      help: { type: "boolean", short: "h" },
    },
  }).values;
  if (v.help) {
    console.log(usage());
    return 0;
  }
  if (!v.model) throw new UserError("export: --model DIR is required (see --help)");
  if (!v.format) {
    throw new UserError(
      `export: --format is required (one of: ${Object.keys(FORMATS).join(", ")})`,
    );
  }
  const entry = FORMATS[v.format];
  if (!entry) {
    throw new UserError(
      `export: unknown format '${v.format}' (formats: ${Object.keys(FORMATS).join(", ")})`,
    );
  }
  if (!v.out) throw new UserError("export: --out DIR is required (see --help)");
  const threads = v.threads === undefined ? 1 : threadsFlag(v.threads);
  const format = await entry.load();
  const run = await loadRun(v.model, { threads });
  try {
    await makeFolder(v.out);
    let written: string[];
    try {
      written = await format.write(run, v.out);
    } catch (e) {
      if (e instanceof Deno.errors.PermissionDenied || e instanceof Deno.errors.NotFound) {
        throw new UserError(
          `export: cannot write to ${v.out} (${(e as Error).message.split("\n")[0]})`,
        );
      }
      throw e;
    }
    console.error(`exported ${v.model} as ${v.format}: ${written.join(", ")}`);
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
