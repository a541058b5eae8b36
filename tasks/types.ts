/** The shape of a minimal-pair next-token task (docs/method.md §3). */
import type { Rng } from "../src/util/rng.ts";

/** One datapoint: two prompts that differ in one detail, and the correct next token of each. */
export interface TaskPair {
  /** The two prompts; they differ only in the detail the task is about. */
  prompts: [string, string];
  /** answers[i] is the correct next token (its text) after prompts[i]; answers[1-i] is the alternative. */
  answers: [string, string];
  /** A plausible continuation after each prompt+answer so the completed member is valid Python. */
  endings: [string, string];
}

/** A task: a name from the task table of docs/method.md §3, a one-line description and a seeded pair generator. */
export interface Task {
  name: string;
  /** One line. */
  description: string;
  /** Draws one pair; the same generator state always gives the same pair. */
  generate(rng: Rng): TaskPair;
}
