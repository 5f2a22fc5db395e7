/**
 * Exit codes of the command-line tool and the mapping from errors to them.
 *
 * @module
 */
import { ErrnoError } from "../errors.ts";

/** The tool's exit codes. */
export const ExitCode = {
  /** Success. */
  OK: 0,
  /** The operation failed (the kernel said no: EINVAL, ENOMEM, …). */
  FAILED: 1,
  /** Bad command line. */
  USAGE: 2,
  /** EACCES/EPERM. */
  PERMISSION: 3,
  /** ENOENT/ESRCH/EBADF: no such heap, process, file or fd. */
  NOT_FOUND: 4,
} as const;

/**
 * A bad command line: unknown command or option, missing or malformed argument. Exit code 2.
 *
 * @example A usage error carries exit code 2
 * ```ts
 * import { UsageError } from "./errors.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(new UsageError("Unknown command: frob").exitCode, 2);
 * ```
 */
export class UsageError extends Error {
  /** Always {@linkcode ExitCode.USAGE}. */
  readonly exitCode: number = ExitCode.USAGE;
  /**
   * @param message What is wrong, one line.
   */
  constructor(message: string) {
    super(message);
    this.name = "UsageError";
  }
}

/**
 * The exit code for an error: 2 for usage, 3 for EACCES/EPERM, 4 for ENOENT/ESRCH/EBADF, else 1.
 *
 * @param e The error.
 * @returns The exit code.
 *
 * @example Permission errors exit with 3
 * ```ts
 * import { exitCodeOf } from "./errors.ts";
 * import { errnoError } from "../errors.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(exitCodeOf(errnoError(13, "open")), 3);
 * assert.equal(exitCodeOf(errnoError(2, "open")), 4);
 * assert.equal(exitCodeOf(errnoError(22, "ioctl")), 1);
 * ```
 */
export function exitCodeOf(e: unknown): number {
  if (e instanceof UsageError) return ExitCode.USAGE;
  if (e instanceof ErrnoError) return exitCodeOfErrno(e.code);
  if (e instanceof Deno.errors.PermissionDenied || e instanceof Deno.errors.NotCapable) {
    return ExitCode.PERMISSION;
  }
  if (e instanceof Deno.errors.NotFound) return ExitCode.NOT_FOUND;
  return ExitCode.FAILED;
}

/**
 * The exit code for an errno name.
 *
 * @param code `"EACCES"`, `"ENOENT"`, …
 * @returns The exit code.
 */
export function exitCodeOfErrno(code: string): number {
  if (code === "EACCES" || code === "EPERM") return ExitCode.PERMISSION;
  if (code === "ENOENT" || code === "ESRCH" || code === "EBADF") return ExitCode.NOT_FOUND;
  return ExitCode.FAILED;
}

/**
 * The one line the tool prints for an error: the library's message, never a stack.
 *
 * @param e The error.
 * @returns `"dmabuf: <message>"`, on one line.
 */
export function errorLine(e: unknown): string {
  const msg = e instanceof Error ? e.message : String(e);
  return `dmabuf: ${msg.replace(/\s*\n\s*/g, " ")}`;
}
