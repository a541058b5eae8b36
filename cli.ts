/**
 * thinwire's command line: one entry, one subcommand per pipeline stage.
 *
 *   deno task train     train a sparse (or --dense) model        (src/train)
 *   deno task eval      evaluate a run on the task suite         (src/eval, tasks/)
 *   deno task prune     find and measure a task's circuit        (src/prune)
 *   deno task tasks     list the tasks with an example pair      (tasks/)
 *   deno task tokenizer train the BPE tokenizer                  (src/data)
 *   deno task view      serve the circuit viewer                 (src/view)
 *   deno task export    write a run in another program's format  (src/export; html: src/view)
 *   deno task logits    next-token candidates and activations    (src/export; --batch: many)
 *   deno task verify    re-train a run and compare bit for bit   (src/train)
 *   deno task import    another program's model as a run folder  (src/import)
 *   deno task study     sparse vs dense at matched loss, as jobs (src/study)
 *
 * Flags are parsed with node:util parseArgs (strict, src/cli_flags.ts). Errors a user can cause print one line and
 * exit with code 2; anything else is a bug and keeps its stack trace.
 */
import { commandFlags } from "./src/cli_flags.ts";
import { KernelError, UserError } from "./src/errors.ts";
import { VERSION } from "./src/version.ts";

const COMMANDS: Record<string, { summary: string; run: (argv: string[]) => Promise<number> }> = {
  train: {
    summary: "train a weight-sparse (or dense baseline) model",
    run: async (argv) => (await import("./src/train/cli_train.ts")).trainCommand(argv),
  },
  eval: {
    summary: "evaluate a trained run on the 20 tasks",
    run: async (argv) => (await import("./src/eval/cli_eval.ts")).evalCommand(argv),
  },
  prune: {
    summary: "find the circuit behind a task (or --all) and measure it",
    run: async (argv) => (await import("./src/prune/cli_prune.ts")).pruneCommand(argv),
  },
  tasks: {
    summary: "list the tasks with a description and an example pair",
    run: async (argv) => {
      const usage =
        "usage: thinwire tasks\n\nLists the 20 minimal-pair tasks with an example each.";
      if (commandFlags("tasks", usage, {}, argv)) {
        console.log((await import("./tasks/index.ts")).formatTaskList());
      }
      return 0;
    },
  },
  tokenizer: {
    summary: "train the byte-level BPE tokenizer",
    run: async (argv) => (await import("./src/data/cli_tokenizer.ts")).tokenizerCommand(argv),
  },
  view: {
    summary: "serve the circuit viewer for a run on 127.0.0.1",
    run: async (argv) => (await import("./src/view/cli_view.ts")).viewCommand(argv),
  },
  export: {
    summary: "write a run in another program's format (--format reference | html)",
    run: async (argv) => (await import("./src/export/cli_export.ts")).exportCommand(argv),
  },
  logits: {
    summary: "next-token candidates for a prompt; every activation (--out), of many (--batch)",
    run: async (argv) => (await import("./src/export/cli_logits.ts")).logitsCommand(argv),
  },
  verify: {
    summary: "re-train a run from its config and compare bit for bit (exit 0 equal, 1 not)",
    run: async (argv) => (await import("./src/train/cli_verify.ts")).verifyCommand(argv),
  },
  import: {
    summary: "a model trained elsewhere as a run folder (--format reference)",
    run: async (argv) => (await import("./src/import/cli_import.ts")).importCommand(argv),
  },
  study: {
    summary: "a grid of sparse and dense runs as jobs for an engine; report: matched-loss ratio",
    run: async (argv) => (await import("./src/study/cli_study.ts")).studyCommand(argv),
  },
};

function usage(): string {
  const rows = Object.entries(COMMANDS).map(([k, v]) => `  ${k.padEnd(10)} ${v.summary}`);
  return [
    `thinwire ${VERSION}: train weight-sparse transformers on Python and find their circuits`,
    "",
    "usage: deno task <command> [flags]   (or: deno run -A cli.ts <command> [flags])",
    "",
    "commands:",
    ...rows,
    "",
    "Each command takes --help; --version prints the version.",
  ].join("\n");
}

export async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  if (!cmd || cmd === "--help" || cmd === "-h" || cmd === "help") {
    console.log(usage());
    return cmd ? 0 : 2;
  }
  if (cmd === "--version") {
    console.log(VERSION);
    return 0;
  }
  const c = COMMANDS[cmd];
  if (!c) {
    throw new UserError(`unknown command '${cmd}' (commands: ${Object.keys(COMMANDS).join(", ")})`);
  }
  return await c.run(rest);
}

if (import.meta.main) {
  let code: number;
  try {
    code = await main(Deno.args);
  } catch (e) {
    if (e instanceof UserError) {
      console.error(`thinwire: ${e.message}`);
      code = e.exitCode;
    } else if (e instanceof KernelError) {
      console.error(`thinwire: ${e.message}`);
      code = 1;
    } else {
      throw e;
    }
  }
  Deno.exit(code);
}
