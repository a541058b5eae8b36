/**
 * with_as: `with open(p, "r")` continues with ` as f:` so its close is `")`; `f = open(p, "r")`
 * ends the line, `")\n`. (The regex glues the close and the newline, so ` as` itself cannot be
 * the next token after an identical prompt; this is the same decision one token earlier.)
 */
import type { Task } from "./types.ts";
import * as B from "./banks.ts";
import { fresh, newScope, nextLine, prelude } from "./context.ts";

export const withAs: Task = {
  name: "with_as",
  description: 'with open(p, "r → ") (then as f:) vs f = open(p, "r → ")\\n',
  generate(rng) {
    const s = newScope(rng);
    const f = prelude(s);
    const path = rng.chance(0.5)
      ? `"${rng.pick(B.READ_WRITE_STEMS)[rng.int(2)]}${rng.pick(B.EXTENSIONS)}"`
      : rng.pick([fresh(s), "path", "filename", "file_path", `self.${fresh(s)}`]);
    const usable = path.startsWith("self.") && f.where !== "method" ? "path" : path;
    const mode = rng.pick(["r", "r", "w", "a"]);
    const fh = rng.pick(["f", "f", "f", "fh", "handle"]);
    const x = fresh(s);
    const use = mode === "r"
      ? `${x} = ${fh}.${rng.pick(["read", "readlines", "readline"])}()`
      : `${fh}.write(${x})`;
    const call = `open(${usable}, "${mode}`;
    const ind = f.ind;
    return {
      prompts: [`${f.text}${ind}with ${call}`, `${f.text}${ind}${fh} = ${call}`],
      answers: ['")', '")\n'],
      endings: [
        ` as ${fh}:\n${ind}    ${use}\n${nextLine(s, ind)}`,
        `${ind}${use}\n${ind}${fh}.close()\n`,
      ],
    };
  },
};
