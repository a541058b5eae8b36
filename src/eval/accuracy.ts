/**
 * Accuracy over a task's prompts, the one definition the eval table, `prune`'s viewer and the
 * page share: a prompt whose correct candidate is more likely than the other counts 1, one where
 * the two are equally likely (a 50/50 tie: the model does not choose) counts 1/2, and the rest
 * count 0. Counting a tie as wrong would report a model at chance on every prompt as 0% accurate.
 */

/** Accuracy and the number of ties behind it. */
export interface Accuracy {
  /** (right + ties / 2) / prompts; 0 for no prompts. */
  accuracy: number;
  /** Prompts where both candidates are equally likely. */
  ties: number;
}

/**
 * Accuracy from per-prompt margins (> 0: the correct candidate is preferred, 0: a tie), e.g.
 * l_correct − l_wrong or a calibrated logit difference.
 */
export function accuracyOfMargins(margins: ArrayLike<number>): Accuracy {
  let right = 0, ties = 0;
  for (let i = 0; i < margins.length; i++) {
    if (margins[i] > 0) right++;
    else if (margins[i] === 0) ties++;
  }
  return { accuracy: margins.length ? (right + ties / 2) / margins.length : 0, ties };
}

/**
 * Task loss of a 50/50 guess, ln 2 nats: a model whose loss on a task is not below it does not
 * tell the task's two answers apart, and any circuit, even an empty one, meets a target at or
 * above it.
 */
export const CHANCE_LOSS = Math.LN2;

/** softplus(0) = ln 2 as the kernels store it (f32): the per-prompt loss of a tie. */
export const TIE_LOSS = Math.fround(Math.LN2);

/**
 * Accuracy from per-prompt losses −log P(correct) as the kernels store them (f32): below
 * TIE_LOSS right, equal a tie (P(correct) is 1/2 to f32 precision), above it wrong.
 */
export function accuracyOfLosses(losses: ArrayLike<number>): Accuracy {
  const m = Array.from(losses, (l) => TIE_LOSS - l);
  return accuracyOfMargins(m);
}
