/**
 * In-kernel error returns. Kernel functions in the model throw {@linkcode KernelError} where C
 * code would `return -EINVAL`; the syscall entry (`process.ts`) turns it into the library's typed
 * `errnoError`. Anything else that escapes is a bug in the model, not an errno.
 *
 * @module
 */
import { Errno } from "../uapi/errno.ts";

export { Errno };

/** A negative errno return travelling up the in-kernel call stack. */
export class KernelError extends Error {
  /** The positive errno value. */
  readonly errno: number;
  /**
   * @param errno The positive errno value.
   * @param detail Why, for the error message.
   */
  constructor(errno: number, detail?: string) {
    super(detail ?? `errno ${errno}`);
    this.errno = errno;
  }
}

/**
 * `return -errno;` — throws a {@linkcode KernelError}.
 *
 * @param errno The positive errno value.
 * @param detail Why, for the error message.
 * @throws {KernelError} Always.
 */
export function fail(errno: number, detail?: string): never {
  throw new KernelError(errno, detail);
}

/** Whether a syscall argument is a safe integer (anything else from user space is EINVAL). */
export function is_int(x: unknown): x is number {
  return typeof x === "number" && Number.isSafeInteger(x);
}

/** Whether a syscall argument fits a C `int`. */
export function is_int32(x: unknown): x is number {
  return typeof x === "number" && (x | 0) === x;
}
