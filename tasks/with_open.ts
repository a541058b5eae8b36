/**
 * with_open: the mode letter in `open(..., "` is `r` or `w`, decided by the file's role: its
 * variable name, its file name, or the verb of the enclosing function (load_x vs save_x).
 */
import type { Task } from "./types.ts";
import * as B from "./banks.ts";
import { fillers, fresh, newScope, nextLine, prelude } from "./context.ts";

export const withOpen: Task = {
  name: "with_open",
  description: 'open(<input-ish>, " → r vs open(<output-ish>, " → w',
  generate(rng) {
    const s = newScope(rng);
    const q = rng.chance(0.8) ? '"' : "'";
    const cue = rng.int(3);
    let pre: [string, string], path: [string, string], ind: string;
    if (cue === 2) {
      // The enclosing function's verb is the cue; the path is its parameter.
      const [vr, vw] = rng.pick(B.READ_WRITE_VERBS);
      const noun = rng.chance(0.5) ? B.plural(rng.pick(B.NOUNS)) : rng.pick(B.NOUNS);
      const p = rng.pick(["path", "filename", "file_path", "fname"]);
      s.used.add(p);
      const top = fillers(s, "", 1 + rng.int(2), { blocks: false }) + "\n";
      const body = fillers(s, "    ", rng.int(2));
      pre = [`${top}def ${vr}_${noun}(${p}):\n${body}`, `${top}def ${vw}_${noun}(${p}):\n${body}`];
      path = [p, p];
      ind = "    ";
    } else {
      const f = prelude(s);
      pre = [f.text, f.text];
      ind = f.ind;
      if (cue === 0) path = rng.pick(B.READ_WRITE_NAMES).slice() as [string, string];
      else {
        const [sr, sw] = rng.pick(B.READ_WRITE_STEMS), ext = rng.pick(B.EXTENSIONS);
        path = [`${q}${sr}${ext}${q}`, `${q}${sw}${ext}${q}`];
      }
    }
    const x = fresh(s);
    const fh = rng.pick(["f", "f", "fh", "out", "handle"]);
    const tail = nextLine(s, ind);
    return {
      prompts: [0, 1].map((i) => `${pre[i]}${ind}with open(${path[i]}, ${q}`) as [string, string],
      answers: ["r", "w"],
      endings: [
        `${q}) as ${fh}:\n${ind}    ${x} = ${fh}.read()\n${tail}`,
        `${q}) as ${fh}:\n${ind}    ${fh}.write(${x})\n${tail}`,
      ],
    };
  },
};
