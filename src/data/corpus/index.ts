/**
 * The default training corpus: a seeded generator of simple, varied Python programs that
 * exercise every construct the 20 next-token tasks probe (docs/method.md §2, §3), embedded in larger
 * programs rather than written as the task templates. Grammar and weights: docs/corpus.md.
 */
import { Rng } from "../../util/rng.ts";
import { generateProgram } from "./programs.ts";

export { generateProgram };

/** Seed of the training stream. */
export const TRAIN_SEED = 1;
/** Seed of the validation stream (its documents are drawn independently of training's). */
export const VAL_SEED = 2;

/**
 * Unlimited stream of documents reproducible from seed: document i is generateProgram(root.fork(i))
 * with root = new Rng(seed) after its i earlier forks (src/data/dataset.ts relies on this shape to
 * save and restore a position).
 */
export function* corpusStream(seed: number): Generator<string> {
  const root = new Rng(seed);
  for (let i = 0;; i++) yield generateProgram(root.fork(i));
}
