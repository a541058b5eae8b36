/**
 * Run folders for tests: a random-init model written the way the trainer lays a run out
 * (config.json, tokenizer.json with the default tokenizer, model.safetensors), and the check that
 * a promise fails with a one-line UserError (exit code 2).
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

/** Writes a random-init run folder for `rc` into a new temp folder; returns its path. */
export async function makeRandomRun(rc: RunConfig, prefix: string, seed = 7): Promise<string> {
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
    const model = new Model(be, rc.model);
    model.init(seed);
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
