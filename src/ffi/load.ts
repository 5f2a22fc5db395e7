/**
 * Opens libc on first use. Importing this module needs no permission; {@linkcode loadLibc} needs
 * `--allow-ffi` (and reads `DMABUF_LIBC` only if `--allow-env` grants it, without prompting).
 *
 * @module
 */
import { Errno } from "../uapi/errno.ts";
import { errnoError } from "../errors.ts";
import { type Libc, symbols } from "./libc.ts";

/** The environment variable naming the C library to open instead of the default candidates. */
export const LIBC_ENV = "DMABUF_LIBC";

/** Where libc is looked for, in order, when `DMABUF_LIBC` is not set. */
export const LIBC_CANDIDATES: readonly string[] = [
  "libc.so.6",
  "/lib/x86_64-linux-gnu/libc.so.6",
  "/usr/lib/x86_64-linux-gnu/libc.so.6",
  "/lib/aarch64-linux-gnu/libc.so.6",
  "/usr/lib/aarch64-linux-gnu/libc.so.6",
  "/lib64/libc.so.6",
  "/usr/lib64/libc.so.6",
  "/lib/libc.musl-x86_64.so.1",
  "/lib/ld-musl-x86_64.so.1",
  "/lib/libc.musl-aarch64.so.1",
  "/lib/ld-musl-aarch64.so.1",
];

/** An opened C library. */
export interface LoadedLibc {
  /** The path or soname that opened. */
  readonly path: string;
  /** Its symbols. */
  readonly symbols: Libc;
  /**
   * This thread's `errno` as a one-element array: `errno[0]` is valid right after a synchronous
   * call on this thread, and can be set to 0 before a call that reports errors only by errno
   * (`readdir`). `__errno_location()` is per thread; each Deno worker loads its own copy.
   */
  readonly errno: Int32Array;
}

let loaded: LoadedLibc | undefined;

function envOverride(): string | undefined {
  // querySync never prompts; a missing --allow-env just means "no override".
  const status = Deno.permissions.querySync({ name: "env", variable: LIBC_ENV });
  if (status.state !== "granted") return undefined;
  return Deno.env.get(LIBC_ENV) || undefined;
}

function open(path: string): LoadedLibc {
  const lib = Deno.dlopen(path, symbols);
  const location = lib.symbols.__errno_location();
  if (location === null) throw new Error("__errno_location() returned NULL");
  // SAFETY: __errno_location() returns the address of this thread's `int errno`: 4 aligned,
  // writable bytes valid for the life of the thread, and this module instance only ever runs on
  // that thread. The array never leaves the library.
  const errno = new Int32Array(Deno.UnsafePointerView.getArrayBuffer(location, 4));
  return { path, symbols: lib.symbols, errno };
}

/**
 * Opens libc once and returns it; later calls return the same library.
 *
 * With `DMABUF_LIBC` set (and readable), that path is the only candidate: an explicit choice
 * never falls back silently. Otherwise {@linkcode LIBC_CANDIDATES} are tried in order.
 *
 * @returns The symbols, the path that opened and an errno reader.
 * @throws {Deno.errors.PermissionDenied} `EACCES` from `dlopen` without `--allow-ffi`.
 * @throws {Deno.errors.NotFound} `ENOENT` when no candidate opens; the message lists every path
 * tried and why each failed.
 */
export function loadLibc(): LoadedLibc {
  if (loaded) return loaded;
  const override = envOverride();
  const candidates = override ? [override] : LIBC_CANDIDATES;
  const failures: string[] = [];
  for (const path of candidates) {
    try {
      loaded = open(path);
      return loaded;
    } catch (e) {
      if (e instanceof Deno.errors.NotCapable || e instanceof Deno.errors.PermissionDenied) {
        throw errnoError(Errno.EACCES, "dlopen", {
          path,
          detail: "Loading libc needs the FFI permission",
          hint: "Run with --allow-ffi",
          cause: e,
        });
      }
      failures.push(`${path} (${e instanceof Error ? e.message : String(e)})`);
    }
  }
  const source = override ? `${LIBC_ENV}=${override}` : "the default candidates";
  throw errnoError(Errno.ENOENT, "dlopen", {
    detail: `Could not open a C library from ${source}; tried: ${failures.join("; ")}`,
    hint: `Set ${LIBC_ENV} to the path of libc.so.6 (glibc) or libc.musl-*.so.1 (musl)`,
  });
}
