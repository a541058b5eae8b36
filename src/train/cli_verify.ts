/**
 * `thinwire verify`: does a run reproduce? Re-trains it from its config.json in a temporary
 * folder and compares bit for bit (src/train/verify.ts). Exit 0 and one line when equal, exit 1
 * and one line naming the first differing tensor when not, exit 2 on bad input: what a CI job
 * needs.
 */
import { commandFlags, intFlag, required, threadsFlag } from "../cli_flags.ts";
import { verifyRun } from "./verify.ts";

const USAGE = `usage: deno task verify --model DIR [--steps N] [--threads N] [--quiet]

Re-trains a run from its config.json (same data, seed and schedule; the thread count does not
matter) in a temporary folder, removed afterwards, and compares the result with the run bit for
bit. Prints one line; exit 0 when equal, 1 when not (the line names the first tensor that
differs, with its largest absolute difference), 2 on bad input.

  --model DIR   the run folder                                                    required
  --steps N     check the training state at step N instead of the final weights: the run's
                checkpoint (state/checkpoint.safetensors) must be at step N. train keeps only
                its latest checkpoint (every save-every steps and at the end), so N is the
                run's last step, or the step a stopped run stopped at. Weights, both Adam
                moments and the data position are compared
  --threads N   compute threads (default: all cores; the result does not depend on it)
  --quiet       no progress output

The tokenizer training would make from the run's data is compared with tokenizer.json first. A
run trained on --data DIR needs DIR at the same path (relative paths from the current folder).
A run extended with train --resume --steps is re-trained in the same parts (config.json's
"extended"), each under the schedule it had.`;

export async function verifyCommand(argv: string[]): Promise<number> {
  const v = commandFlags("verify", USAGE, {
    model: { type: "string" },
    steps: { type: "string" },
    threads: { type: "string" },
    quiet: { type: "boolean" },
  }, argv);
  if (!v) return 0;
  const dir = required("verify", v.model, "--model DIR");
  const steps = v.steps === undefined ? undefined : intFlag("steps", v.steps, 0);
  const verdict = await verifyRun({
    dir,
    steps,
    threads: threadsFlag(v.threads),
    quiet: !!v.quiet,
  });
  console.log(verdict.line);
  return verdict.equal ? 0 : 1;
}
