/**
 * while_return_true: inside a function, `while True` opens a loop (`:\n`) and `return True` ends
 * its statement (`\n`); the pair differs only in the keyword.
 */
import type { Task } from "./types.ts";
import * as B from "./banks.ts";
import { fresh, newScope, nextLine, prelude, someNum } from "./context.ts";

export const whileReturnTrue: Task = {
  name: "while_return_true",
  description: "while True → :\\n vs return True → \\n",
  generate(rng) {
    const s = newScope(rng);
    const f = prelude(s, { where: ["def", "def", "method"] });
    let ind = f.ind, text = f.text;
    const nested = rng.chance(0.6);
    if (nested) {
      text += `${ind}if ${someNum(s)} > ${B.intLit(rng)}:\n`;
      ind += "    ";
    }
    const c = fresh(s);
    const loop = `${ind}    ${c} = ${B.funcName(rng)}()\n${ind}    if ${c}:\n${ind}        break\n`;
    // After `return True` (a block's last statement) the code resumes one level out or at the top.
    const out = nested ? `${f.ind}return False\n` : nextLine(s, "");
    return {
      prompts: [`${text}${ind}while True`, `${text}${ind}return True`],
      answers: [":\n", "\n"],
      endings: [loop + (nested ? out : ""), out],
    };
  },
};
