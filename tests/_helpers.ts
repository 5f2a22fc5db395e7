/**
 * Helpers shared by the test files: errno assertions, `/proc/self` readers and the probes that
 * decide whether a real-kernel test can run here.
 *
 * @module
 */
import assert from "node:assert/strict";
import type { Kernel } from "../src/kernel/types.ts";
import { ErrnoError } from "../src/errors.ts";
import { O_CLOEXEC, O_RDWR } from "../src/uapi/constants.ts";

/**
 * Asserts that `fn` throws an errno error with `code` (and, when given, for `syscall`), and
 * returns it.
 */
export function assertErrno(fn: () => unknown, code: string, syscall?: string): ErrnoError {
  let caught: unknown;
  try {
    fn();
  } catch (e) {
    caught = e;
  }
  assert.ok(caught instanceof ErrnoError, `expected ${code}, got ${caught ?? "nothing thrown"}`);
  assert.equal(caught.code, code, caught.message);
  if (syscall !== undefined) assert.equal(caught.syscall, syscall);
  return caught;
}

/** Calls `fn` and returns the errno name it threw, or `"ok"`; anything else is rethrown. */
export function errnoOf(fn: () => unknown): string {
  try {
    fn();
    return "ok";
  } catch (e) {
    const code = (e as ErrnoError).code;
    if (typeof code !== "string") throw e;
    return code;
  }
}

/** The fds open in the process, from `/proc/self/fd`. */
export function openFds(k: Kernel): string[] {
  return k.readDir("/proc/self/fd");
}

/** `/proc/self/fdinfo/<fd>` as a map of its fields (`"count"` → `"1"`, …). */
export function fdinfo(k: Kernel, fd: number): Map<string, string> {
  const text = k.readText(`/proc/self/fdinfo/${fd}`);
  return new Map(
    text.trimEnd().split("\n").map((l) => {
      const i = l.indexOf(":");
      return [l.slice(0, i), l.slice(i + 1).trim()] as [string, string];
    }),
  );
}

/**
 * Why the device at `path` cannot be used on `k` (it does not open read-write), or undefined
 * when it can: the probe every real-kernel test uses to skip with a reason.
 */
export function unusable(k: Kernel, path: string): string | undefined {
  if (k.kind === "linux" && Deno.build.os !== "linux") return `not Linux (${Deno.build.os})`;
  try {
    k.close(k.open(path, O_RDWR | O_CLOEXEC));
    return undefined;
  } catch (e) {
    return `${path} does not open here (${e instanceof ErrnoError ? e.code : e})`;
  }
}
