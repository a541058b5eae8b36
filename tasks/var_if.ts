/**
 * var_if: `if flag == True` ends its line with `:\n`; the assignment `flag = True` with `\n`.
 */
import type { Task } from "./types.ts";
import * as B from "./banks.ts";
import { fresh, newScope, nextLine, prelude, type Scope } from "./context.ts";

function flagName(s: Scope): string {
  return fresh(s, (r) => {
    const n = r.pick(B.NOUNS);
    return r.pick([`is_${n}`, `has_${B.plural(n)}`, `${n}_found`, `${n}_ok`, `${n}_done`, n]);
  });
}

export const varIf: Task = {
  name: "var_if",
  description: "if x == True → :\\n vs x = True → \\n",
  generate(rng) {
    const s = newScope(rng);
    const f = prelude(s);
    const v = flagName(s);
    const val = rng.pick(["True", "True", "False"]);
    const ind = f.ind;
    return {
      prompts: [`${f.text}${ind}if ${v} == ${val}`, `${f.text}${ind}${v} = ${val}`],
      answers: [":\n", "\n"],
      endings: [`${ind}    print(${v})\n`, nextLine(s, ind)],
    };
  },
};
