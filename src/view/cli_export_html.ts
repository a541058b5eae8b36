/**
 * `thinwire export --format html`: the dispatch for the viewer's format (src/view/export_html.ts).
 * `--format` may be left out when `--task` is given: only the html format takes a task.
 */
import { parseFlags } from "../cli_flags.ts";
import { UserError } from "../errors.ts";
import { exportHtml } from "./export_html.ts";

const USAGE = `usage: deno task export --model DIR --task NAME --out FILE.html [--format html]

Writes the circuit viewer for one task as one self-contained HTML file (scripts, kernels and the
run's files inlined): it opens from disk, with no server and no network.

  --model DIR    run folder with circuits/<task>.json (deno task prune)   required
  --task NAME    the circuit to show                                     required
  --out FILE     the HTML file to write                                  required
  --format html  the default when --task is given
  --help         this text`;

export async function exportHtmlCommand(argv: string[]): Promise<number> {
  const v = parseFlags("export", {
    args: argv,
    strict: true,
    allowPositionals: false,
    options: {
      model: { type: "string" },
      task: { type: "string" },
      out: { type: "string" },
      format: { type: "string" },
      help: { type: "boolean", short: "h" },
    },
  }).values;
  if (v.help) {
    console.log(USAGE);
    return 0;
  }
  const format = v.format ?? (v.task !== undefined ? "html" : undefined);
  if (format === undefined) throw new UserError("export: --format is required (see --help)");
  if (format !== "html") throw new UserError(`export: unknown format '${format}' (formats: html)`);
  if (!v.model) throw new UserError("export: --model DIR is required (see --help)");
  if (!v.task) throw new UserError("export --format html: --task NAME is required (see --help)");
  if (!v.out) throw new UserError("export: --out FILE is required (see --help)");
  const t0 = performance.now();
  const bytes = await exportHtml({
    model: v.model,
    task: v.task,
    out: v.out,
    log: (line) => console.error(line),
  });
  console.error(
    `exported ${v.task} of ${v.model} → ${v.out} (${(bytes / 1048576).toFixed(1)} MiB, ` +
      `${((performance.now() - t0) / 1000).toFixed(1)}s); open it in a browser`,
  );
  return 0;
}
