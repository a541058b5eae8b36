/** set_or_string: `.add` vs ` +=` at a variable's use site, from whether it was set() or a string. */
import type { Task } from "./types.ts";
import { setOrStringPair } from "./set_or_string_common.ts";

export const setOrString: Task = {
  name: "set_or_string",
  description: 'x = set() vs x = "" earlier: .add vs += at the use of x (name varies)',
  generate: (rng) => setOrStringPair(rng),
};
