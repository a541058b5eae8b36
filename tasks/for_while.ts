/** for_while: `for x` continues with ` in`, `while x` with `:\n`; the pair differs in the keyword. */
import type { Task } from "./types.ts";
import * as B from "./banks.ts";
import { fresh, newScope, prelude } from "./context.ts";

export const forWhile: Task = {
  name: "for_while",
  description: "for x → in vs while x → :\\n",
  generate(rng) {
    const s = newScope(rng);
    const f = prelude(s);
    const v = fresh(s, (r) => r.pick(B.LOOP_NAMES));
    const body = `${f.ind}    `;
    return {
      prompts: [`${f.text}${f.ind}for ${v}`, `${f.text}${f.ind}while ${v}`],
      answers: [" in", ":\n"],
      endings: [
        ` ${fresh(s, B.pluralName)}:\n${body}${B.funcName(rng)}(${v})\n`,
        `${body}${v} = ${B.funcName(rng)}(${v})\n`,
      ],
    };
  },
};
