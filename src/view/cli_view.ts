/**
 * `thinwire view`: serves the circuit viewer for a run folder on 127.0.0.1 and prints its URL.
 *
 * The run's files are checked at the start with the same parsers the page uses, and each problem
 * is printed on stderr as one line; the page then shows the same message (a damaged file is an
 * error in the page, never a blank one). Only a folder that is not a run at all stops here.
 */
import { commandFlags, intFlag, required } from "../cli_flags.ts";
import { UserError } from "../errors.ts";
import { checkCircuitFits, parseCircuitText } from "../run/circuit.ts";
import { parseRunConfig } from "../run/config.ts";
import { checkIsFolder, fileExists, RunDir } from "../run/run_dir.ts";
import { getTask } from "../../tasks/index.ts";
import { stopBundler, viewBundle } from "./bundle.ts";
import { checkRunFiles, readWasm } from "./export_html.ts";
import { presentCircuits, startViewServer } from "./server.ts";

const USAGE = `usage: deno task view --model DIR [--task NAME] [--port N]

Serves the circuit viewer for a run folder on http://127.0.0.1 (this machine only) and prints
its URL. The page runs the model in the browser: open it, pick a task, click nodes.

  --model DIR   run folder (config.json, tokenizer.json, model.safetensors;
                circuits/<task>.json from deno task prune)                    required
  --task NAME   open this task's circuit first
  --port N      port to listen on (default: a free one)
  --help        this text`;

export interface ViewHandle {
  url: string;
  close(): Promise<void>;
}

/** Starts the viewer (what `view` does before waiting for Ctrl+C); `log` hears stderr lines. */
export async function startView(
  opts: { model: string; task: string | null; port: number },
  log: (line: string) => void,
): Promise<ViewHandle> {
  const dir = opts.model.replace(/\/+$/, "") || "/";
  const run = new RunDir(dir);
  await checkIsFolder(run);
  if (!(await fileExists(run.config))) {
    throw new UserError(`${dir}: not a run folder (no config.json)`);
  }
  if (opts.task !== null) getTask(opts.task);
  // A damaged run is refused before anything is served (the page also reports files that are
  // damaged while it runs).
  const problems = await checkRunFiles(run);
  if (problems.length > 0) throw new UserError(`view: ${problems[0]}`);
  const root = await Deno.realPath(dir);
  const circuits = await presentCircuits(root);
  const cfg = parseRunConfig(await run.readJson(run.config), run.config).model;
  for (const t of circuits) {
    const where = run.circuit(t);
    const c = parseCircuitText(new TextDecoder().decode(await run.readBytes(where)), where);
    checkCircuitFits(c, cfg, t, where);
  }
  if (opts.task !== null && !circuits.includes(opts.task)) {
    log(
      `view: ${run.circuit(opts.task)}: no circuit for ${opts.task} yet (make it with: ` +
        `deno task prune --model ${dir} --task ${opts.task})`,
    );
  } else if (circuits.length === 0) {
    log(`view: ${dir} has no circuits yet (make them with: deno task prune --model ${dir} --all)`);
  }
  const bundle = await viewBundle(log);
  await stopBundler();
  let server;
  try {
    server = await startViewServer({
      runDir: dir,
      runName: dir,
      port: opts.port,
      bundle,
      wasm: await readWasm(),
      task: opts.task,
    });
  } catch (e) {
    if (e instanceof Deno.errors.AddrInUse) {
      throw new UserError(`view: port ${opts.port} is in use (leave out --port for a free one)`);
    }
    throw e;
  }
  const url = server.url + (opts.task ? `#task=${encodeURIComponent(opts.task)}` : "");
  return { url, close: () => server.close() };
}

/** Runs `view`; returns when interrupted (Ctrl+C). */
export async function viewCommand(argv: string[]): Promise<number> {
  const v = commandFlags("view", USAGE, {
    model: { type: "string" },
    task: { type: "string" },
    port: { type: "string" },
  }, argv);
  if (!v) return 0;
  const model = required("view", v.model, "--model DIR");
  // 0 = a free port.
  const port = intFlag("port", v.port, 0, 0, 65535);
  const h = await startView(
    { model, task: v.task ?? null, port },
    (line) => console.error(line),
  );
  console.log(`thinwire view: ${h.url}`);
  console.error("(serving on 127.0.0.1 only; Ctrl+C stops)");
  await new Promise<void>((resolve) => {
    const stop = () => resolve();
    Deno.addSignalListener("SIGINT", stop);
    Deno.addSignalListener("SIGTERM", stop);
  });
  await h.close();
  return 0;
}
