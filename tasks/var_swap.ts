/**
 * var_swap: in a swap `a, b = b, a` the last name copies the first; the pair swaps the order of
 * the left-hand side (`a, b = b,` → ` a` vs `b, a = a,` → ` b`).
 */
import type { Task } from "./types.ts";
import * as B from "./banks.ts";
import { fresh, newScope, nextLine, prelude } from "./context.ts";

export const varSwap: Task = {
  name: "var_swap",
  description: "a, b = b, → a (the swap copies the first name)",
  generate(rng) {
    const s = newScope(rng);
    const f = prelude(s);
    const a = fresh(s, (r) => r.pick(B.COPY_NAMES)), b = fresh(s, (r) => r.pick(B.COPY_NAMES));
    let ind = f.ind, text = f.text;
    const form = rng.int(3);
    if (form === 0) {
      text += `${ind}${a} = ${B.intLit(rng)}\n${ind}${b} = ${B.intLit(rng)}\n`;
    } else if (form === 1) {
      text += `${ind}if ${a} > ${b}:\n`;
      ind += "    ";
    } else {
      // Fibonacci-style update: a, b = b, a + b.
      text += `${ind}${a}, ${b} = 0, 1\n${ind}for _ in range(${2 + rng.int(20)}):\n`;
      ind += "    ";
    }
    const next = `\n${nextLine(s, f.ind)}`;
    const tail = (y: string) => form === 2 ? ` + ${y}${next}` : next;
    const line = (x: string, y: string) => `${text}${ind}${x}, ${y} = ${y},`;
    return {
      prompts: [line(a, b), line(b, a)],
      answers: [` ${a}`, ` ${b}`],
      endings: [tail(b), tail(a)],
    };
  },
};
