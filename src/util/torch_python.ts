/**
 * Finds a Python 3 that imports torch, for the opt-in checks against the reference's own code
 * (tests/reference_export_test.ts) and the PyTorch peer of the training bench
 * (bench/torch_peer.py). Nothing in the product needs Python.
 */

/** THINWIRE_PYTHON if set, else these in order (Debian's python3-torch is for /usr/bin/python3). */
const CANDIDATES = ["python3", "/usr/bin/python3"];

/** The first candidate whose `-c "import torch"` succeeds (null if none), and those tried. */
export async function findTorchPython(): Promise<{ exe: string | null; tried: string[] }> {
  const env = Deno.env.get("THINWIRE_PYTHON");
  const tried = env ? [env] : CANDIDATES;
  for (const exe of tried) {
    try {
      const r = await new Deno.Command(exe, {
        args: ["-c", "import torch"],
        stdout: "null",
        stderr: "null",
      }).output();
      if (r.success) return { exe, tried };
    } catch {
      // not installed: try the next
    }
  }
  return { exe: null, tried };
}

/** The one line a skip prints: what was tried and how to get torch. */
export function noTorchLine(what: string, tried: string[]): string {
  return `${what} needs Python 3 with torch (tried ${tried.join(", ")}; ` +
    `Debian: apt-get install python3-torch, or set THINWIRE_PYTHON)`;
}
