/**
 * else_elif: after an if block, `else` is followed by `:\n` and `elif` by a condition, here on the
 * same variable as the `if` (the alternative token is that variable's name).
 */
import type { Task } from "./types.ts";
import * as B from "./banks.ts";
import { fresh, newScope, nextLine, prelude } from "./context.ts";

const OPS = [">", "<", "==", ">=", "<=", "!="];

export const elseElif: Task = {
  name: "else_elif",
  description: "after an if block: else → :\\n vs elif → <the if's variable>",
  generate(rng) {
    const s = newScope(rng);
    const f = prelude(s);
    const v = fresh(s, (r) => r.pick(B.COPY_NAMES));
    const ind = f.ind, body = ind + "    ";
    let text = f.text;
    if (rng.chance(0.5)) text += `${ind}${v} = ${B.intLit(rng)}\n`;
    const cond = () => `${rng.pick(OPS)} ${B.intLit(rng)}`;
    text += `${ind}if ${v} ${cond()}:\n` + nextLine(s, body);
    if (rng.chance(0.3)) text += `${ind}elif ${v} ${cond()}:\n` + nextLine(s, body);
    return {
      prompts: [`${text}${ind}else`, `${text}${ind}elif`],
      answers: [":\n", ` ${v}`],
      endings: [
        nextLine(s, body),
        ` ${cond()}:\n${nextLine(s, body)}`,
      ],
    };
  },
};
