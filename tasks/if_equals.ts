/**
 * if_equals: after `if x` the comparison ` ==` follows; after a bare `x` at the start of a
 * statement the assignment ` =` does. The pair differs only in the `if `.
 */
import type { Task } from "./types.ts";
import * as B from "./banks.ts";
import { fresh, newScope, nextLine, prelude, someVar } from "./context.ts";

export const ifEquals: Task = {
  name: "if_equals",
  description: "if x → == (condition) vs x → = (assignment)",
  generate(rng) {
    const s = newScope(rng);
    const f = prelude(s);
    const v = rng.chance(0.5) && s.vars.length > 0 ? someVar(s) : fresh(s);
    const kw = rng.chance(0.85) ? "if" : "while";
    const val = rng.pick([B.intLit(rng), B.intLit(rng), `"${rng.pick(B.WORDS)}"`, someVar(s)]);
    const ind = f.ind;
    return {
      prompts: [`${f.text}${ind}${kw} ${v}`, `${f.text}${ind}${v}`],
      answers: [" ==", " ="],
      endings: [
        ` ${val}:\n${ind}    ${kw === "while" ? "break" : `print(${v})`}\n`,
        ` ${val}\n${nextLine(s, ind)}`,
      ],
    };
  },
};
