/**
 * single_double_quote: a string opened with `"` or `'` is closed at the end of the line; the pair
 * differs only in the opening quote, so the closing token must copy its type.
 */
import type { Task } from "./types.ts";
import * as B from "./banks.ts";
import { fresh, newScope, nextLine, prelude } from "./context.ts";

export const singleDoubleQuote: Task = {
  name: "single_double_quote",
  description: `close a string with ")\\n or ')\\n matching its opening quote`,
  generate(rng) {
    const s = newScope(rng);
    const f = prelude(s, { strings: false });
    const text = B.words(rng);
    const call = rng.pick([
      () => "print(",
      () => "print(",
      () => `${fresh(s)} = ${B.funcName(rng)}(`,
      () => `${fresh(s, B.pluralName)}.append(`,
      () => `${B.funcName(rng)}(`,
      () => f.where === "top" ? "print(" : rng.pick(["return ", "raise ValueError("]),
    ])();
    // `return "x"` closes with `"\n`, not `")\n`: give it a call to close.
    const open = call === "return " ? `return ${B.funcName(rng)}(` : call;
    const ending = nextLine(s, f.ind, { strings: false });
    return {
      prompts: [`${f.text}${f.ind}${open}"${text}`, `${f.text}${f.ind}${open}'${text}`],
      answers: ['")\n', "')\n"],
      endings: [ending, ending],
    };
  },
};
