/**
 * lambda_func: `f = lambda x` continues with `:`; `def f(x` with `):\n`. (The regex glues `(`
 * to the first parameter, so the contrast sits after the parameters.)
 */
import type { Task } from "./types.ts";
import * as B from "./banks.ts";
import { fresh, newScope, nextLine, prelude } from "./context.ts";

export const lambdaFunc: Task = {
  name: "lambda_func",
  description: "f = lambda x → : vs def f(x → ):\\n",
  generate(rng) {
    const s = newScope(rng);
    const f = prelude(s, { where: ["top", "top", "def"] });
    const name = fresh(s, B.funcName);
    const args = Array.from(
      { length: 1 + rng.int(3) },
      () => fresh(s, (r) => r.chance(0.5) ? r.pick(B.COPY_NAMES) : B.varName(r)),
    );
    const a = args[0];
    const expr = rng.pick([
      `${a} * ${1 + rng.int(9)}`,
      `${a} + ${args[args.length - 1]}`,
      `len(${a})`,
      `${a} > ${B.intLit(rng)}`,
      `${a}.${rng.pick(B.METHODS)}()`,
      `${B.funcName(rng)}(${args.join(", ")})`,
    ]);
    const ind = f.ind, list = args.join(", ");
    return {
      prompts: [`${f.text}${ind}${name} = lambda ${list}`, `${f.text}${ind}def ${name}(${list}`],
      answers: [":", "):\n"],
      endings: [` ${expr}\n${nextLine(s, ind)}`, `${ind}    return ${expr}\n`],
    };
  },
};
