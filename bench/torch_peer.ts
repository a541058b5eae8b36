/**
 * The PyTorch peer of the training bench: bench/torch_peer.py, kept running as a child process so
 * that its steps can be timed between thinwire's in one run. What it trains comes from thinwire's
 * own tables: the reference config of src/export/reference.ts and, per parameter, the sparsity
 * class, neuron axis, kept count at the target L0 and decay flag of src/model/params.ts and
 * src/train/sparsify.ts.
 */
import { referenceConfig } from "../src/export/reference.ts";
import { paramLayout } from "../src/model/params.ts";
import { type RunConfig } from "../src/run/config.ts";
import { isSparsified, keptCount } from "../src/train/sparsify.ts";
import { findTorchPython, noTorchLine } from "../src/util/torch_python.ts";

const SCRIPT = new URL("./torch_peer.py", import.meta.url).pathname;

/** What the peer says about itself once its models are built. */
export interface TorchInfo {
  torch: string;
  /** BLAS_INFO of torch.__config__.show() ("generic": whatever libblas.so.3 resolves to). */
  blas_info: string | null;
  /** The BLAS/LAPACK libraries the process mapped, symlinks resolved. */
  blas_loaded: string[];
  /** torch.get_num_threads() after set_num_threads. */
  threads: number;
  /** What tests/circuit_sparsity/torch_compat.py added to this torch. */
  compat: string[];
  models: { params: number; loss: number }[];
}

/** The spec of one model for torch_peer.py (its docstring lists the fields). */
function modelSpec(rc: RunConfig) {
  const t = rc.train;
  return {
    config: referenceConfig(rc.model, "thinwire"),
    batch: t.batchSize,
    lr: t.lr,
    beta1: t.beta1,
    beta2: t.beta2,
    eps: t.eps,
    weight_decay: t.weightDecay,
    protect_j: t.protectJ,
    seed: t.seed,
    params: paramLayout(rc.model).specs.map((s) => ({
      name: s.name,
      shape: s.shape,
      cls: s.cls,
      axis: s.axis,
      k: isSparsified(s, rc) ? keptCount(s, t.steps, rc) : s.size,
      decay: s.decay,
    })),
  };
}

/** A running torch_peer.py with one model per RunConfig it was started with. */
export class TorchPeer {
  private buf = "";
  private stderrTail = "";

  private constructor(
    private readonly child: Deno.ChildProcess,
    private readonly stdin: WritableStreamDefaultWriter<Uint8Array>,
    private readonly stdout: ReadableStreamDefaultReader<string>,
    private readonly specFile: string,
    readonly exe: string,
    public info: TorchInfo | null = null,
  ) {
    this.drainStderr();
  }

  /**
   * Starts the peer on `threads` torch threads and waits until every model has taken its
   * untimed first step. Returns a one-line reason instead where there is no torch or it fails.
   */
  static async start(threads: number, rcs: RunConfig[]): Promise<TorchPeer | string> {
    const py = await findTorchPython();
    if (!py.exe) return noTorchLine("the PyTorch peer", py.tried);
    const specFile = await Deno.makeTempFile({ prefix: "thinwire-torch-peer-", suffix: ".json" });
    await Deno.writeTextFile(specFile, JSON.stringify({ threads, models: rcs.map(modelSpec) }));
    const child = new Deno.Command(py.exe, {
      args: [SCRIPT, specFile],
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
      // One torch thread pool of the requested size: OpenMP and OpenBLAS would start their own.
      env: { OMP_NUM_THREADS: String(threads), OPENBLAS_NUM_THREADS: String(threads) },
    }).spawn();
    const peer = new TorchPeer(
      child,
      child.stdin.getWriter(),
      child.stdout.pipeThrough(new TextDecoderStream()).getReader(),
      specFile,
      py.exe,
    );
    try {
      const first = await peer.readLine();
      if ("error" in first) throw new Error(String(first.error));
      peer.info = first as unknown as TorchInfo;
      return peer;
    } catch (e) {
      await peer.close();
      return `the PyTorch peer (${py.exe} ${SCRIPT}) failed: ${(e as Error).message}` +
        (peer.stderrTail ? ` (stderr: ${peer.stderrTail.trim().split("\n").pop()})` : "");
    }
  }

  /** Runs `steps` steps of model `model` (index into the start list); ms of each step. */
  async steps(model: number, steps: number): Promise<number[]> {
    await this.stdin.write(new TextEncoder().encode(JSON.stringify({ model, steps }) + "\n"));
    const r = await this.readLine();
    if (!Array.isArray(r.ms)) throw new Error(`the PyTorch peer answered ${JSON.stringify(r)}`);
    return r.ms as number[];
  }

  /** Closes its stdin (it exits at EOF), waits for it and removes the spec file. */
  async close(): Promise<void> {
    await this.stdin.close().catch(() => {});
    await this.child.status;
    await this.stdout.cancel().catch(() => {});
    await Deno.remove(this.specFile).catch(() => {});
  }

  private async readLine(): Promise<Record<string, unknown>> {
    for (;;) {
      const nl = this.buf.indexOf("\n");
      if (nl >= 0) {
        const line = this.buf.slice(0, nl);
        this.buf = this.buf.slice(nl + 1);
        return JSON.parse(line);
      }
      const { value, done } = await this.stdout.read();
      if (done) throw new Error("it exited without answering");
      this.buf += value;
    }
  }

  /** Keeps the last lines of stderr (torch's warnings, a traceback) for the failure line. */
  private async drainStderr(): Promise<void> {
    for await (const s of this.child.stderr.pipeThrough(new TextDecoderStream())) {
      this.stderrTail = (this.stderrTail + s).slice(-2000);
    }
  }
}
