/**
 * Run folders for tests: a random-init model written the way the trainer lays a run out
 * (config.json, tokenizer.json with the default tokenizer, model.safetensors), a tiny preset run
 * trained for real, and the check that a promise fails with a one-line UserError (exit code 2).
 */
import assert from "node:assert/strict";
import { Backend } from "../src/backend/backend.ts";
import { loadDefaultTokenizer } from "../src/data/tokenizer.ts";
import { UserError } from "../src/errors.ts";
import { Model } from "../src/model/model.ts";
import { FORMAT_VERSION } from "../src/run/config.ts";
import { RunDir } from "../src/run/run_dir.ts";
import { type RunConfig } from "../src/run/config.ts";
import { saveModel } from "../src/train/trainer.ts";

/**
 * Writes a random-init run folder for `rc` into a new temp folder; returns its path. `edit` may
 * change the weights before they are saved (e.g. cut them to a density).
 */
export async function makeRandomRun(
  rc: RunConfig,
  prefix: string,
  seed = 7,
  edit?: (model: Model) => void,
): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix });
  const run = new RunDir(dir);
  const tok = loadDefaultTokenizer();
  await Deno.writeTextFile(
    run.config,
    JSON.stringify({ format_version: FORMAT_VERSION, tokenizer: tok.name, ...rc }),
  );
  await Deno.writeTextFile(run.tokenizer, JSON.stringify(tok.toJSON()));
  const be = await Backend.create();
  try {
    // Written, never trained: no gradients or moments (a wide model fits where training would not).
    const model = new Model(be, rc.model, { training: false });
    model.init(seed);
    edit?.(model);
    await saveModel(run, model, rc);
  } finally {
    be.close();
  }
  return dir;
}

/** Asserts that p rejects with a one-line UserError of exit code 2 matching pattern. */
export async function assertUserError(p: Promise<unknown>, pattern: RegExp): Promise<void> {
  await assert.rejects(p, (e: unknown) => {
    assert.ok(e instanceof UserError, `expected UserError, got ${(e as Error).stack}`);
    assert.equal(e.exitCode, 2);
    assert.ok(!e.message.includes("\n"), `not one line: ${e.message}`);
    assert.match(e.message, pattern);
    return true;
  });
}

/**
 * Steps of the tiny preset's training in trainTiny: the fewest (of 60, 100, 150) after which a
 * task, TINY_SOLVES, is below chance (else_elif: task loss 0.27 on 50 evaluation pairs; at the
 * preset's 60 steps every task is at chance, the best at 0.71). Prune refuses a model at chance.
 */
export const TINY_STEPS = 150;
/** The task the tiny run of trainTiny does better than chance on. */
export const TINY_SOLVES = "else_elif";

/** Trains the tiny preset for TINY_STEPS steps into `dir` (about ten seconds of CPU). */
export async function trainTiny(dir: string): Promise<void> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      new URL("../cli.ts", import.meta.url).pathname,
      "train",
      "--preset",
      "tiny",
      "--steps",
      String(TINY_STEPS),
      "--out",
      dir,
      "--quiet",
    ],
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (!out.success) throw new Error(`train failed: ${new TextDecoder().decode(out.stderr)}`);
}
