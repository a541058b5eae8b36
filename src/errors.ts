/**
 * The one error type for problems a user can cause (bad flags, bad files, impossible configs).
 * `cli.ts` prints its message as one line and exits with its code; any other error is a bug and
 * keeps its stack trace.
 */
export class UserError extends Error {
  constructor(message: string, readonly exitCode = 2) {
    super(message);
    this.name = "UserError";
  }
}

/** A kernel was called with shapes or values it cannot work on (names the kernel and shapes). */
export class KernelError extends Error {
  constructor(kernel: string, problem: string) {
    super(`${kernel}: ${problem}`);
    this.name = "KernelError";
  }
}
