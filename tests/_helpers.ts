/**
 * Helpers shared by the test files: errno assertions, `/proc/self` readers and the probes that
 * decide whether a real-kernel test can run here.
 *
 * @module
 */
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
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

// ---------------------------------------------------------------------------------------------
// C layout probes: the uapi tests compile a small program against this machine's headers and
// compare what it prints (one JSON object of numbers) with the TypeScript values.

/**
 * The head of a C layout probe: `N(x)` prints a number, `S(t)` the size of `struct t`,
 * `O(t, f)` the offset of `f` in `struct t`, all into one JSON object; the program ends with
 * `printf("}\n")`.
 */
export const C_PROBE_MACROS = String.raw`
#include <stdio.h>
#include <stddef.h>
static int first = 1;
static void put(const char *k, unsigned long v) {
  printf("%s\"%s\":%lu", first ? "{" : ",", k, v);
  first = 0;
}
#define N(x) put(#x, (unsigned long)(unsigned int)(x))
#define S(t) put("sizeof " #t, sizeof(struct t))
#define O(t, f) put(#t "." #f, offsetof(struct t, f))
`;

/**
 * Why a probe compiled here with gcc cannot run (not Linux, `--allow-run` or
 * `--allow-write=/tmp` missing, one of `headers` absent, gcc not runnable), or undefined when it
 * can. Never throws: a failing check becomes the reason.
 */
export function gccSkipReason(headers: readonly string[] = []): string | undefined {
  try {
    if (Deno.build.os !== "linux") return "not Linux";
    if (Deno.permissions.querySync({ name: "run" }).state !== "granted") {
      return "needs --allow-run (gcc and the program it builds)";
    }
    if (Deno.permissions.querySync({ name: "write", path: "/tmp" }).state !== "granted") {
      return "needs --allow-write=/tmp (a temporary directory for gcc)";
    }
    for (const h of headers) {
      try {
        Deno.statSync(h);
      } catch {
        return `${h} is missing (install linux-libc-dev)`;
      }
    }
    const r = new Deno.Command("gcc", { args: ["--version"], stdout: "null", stderr: "null" })
      .outputSync();
    return r.success ? undefined : "gcc --version failed";
  } catch (e) {
    return `gcc is not runnable: ${e instanceof Error ? e.message : e}`;
  }
}

/** Runs a probe binary and returns the JSON object it printed; fails the test if it fails. */
export function runProbe(bin: string): Record<string, number> {
  const run = new Deno.Command(bin).outputSync();
  assert.ok(run.success, `${bin} failed: ${new TextDecoder().decode(run.stderr)}`);
  return JSON.parse(new TextDecoder().decode(run.stdout));
}

/**
 * Compiles a probe with gcc (`source`: C text, or the URL of a C file; `gccArgs` before the
 * output, e.g. `-I dir`) in a temporary directory, runs it and returns what it printed.
 */
export function gccProbe(source: string | URL, gccArgs: readonly string[] = []): Record<
  string,
  number
> {
  const dir = Deno.makeTempDirSync({ dir: "/tmp", prefix: "dmabuf_probe_" });
  try {
    let file = `${dir}/probe.c`;
    if (source instanceof URL) file = fileURLToPath(source);
    else Deno.writeTextFileSync(file, source);
    const cc = new Deno.Command("gcc", {
      args: ["-O0", "-Wall", ...gccArgs, "-o", `${dir}/probe`, file],
    }).outputSync();
    assert.ok(cc.success, new TextDecoder().decode(cc.stderr));
    return runProbe(`${dir}/probe`);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
}
