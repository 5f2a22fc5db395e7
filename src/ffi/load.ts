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

/**
 * Whether Deno lets this process `dlopen` `path`: `--allow-ffi` (any library) or
 * `--allow-ffi=<path>` naming it. Never prompts.
 *
 * @param path A candidate, as {@linkcode LIBC_CANDIDATES} lists them.
 * @returns True when granted.
 */
export function ffiGranted(path: string): boolean {
  try {
    return Deno.permissions.querySync({ name: "ffi", path }).state === "granted";
  } catch {
    return false;
  }
}

/** Whether `--allow-ffi` is granted without a path. */
export function ffiUnscoped(): boolean {
  try {
    return Deno.permissions.querySync({ name: "ffi" }).state === "granted";
  } catch {
    return false;
  }
}

/**
 * Whether some libc the library would open may be opened: `--allow-ffi`, or `--allow-ffi=` with
 * the path of one of the candidates (or of `DMABUF_LIBC`).
 *
 * @returns True when {@linkcode loadLibc} is permitted to try at least one candidate.
 */
export function libcPermitted(): boolean {
  const override = envOverride();
  return (override ? [override] : LIBC_CANDIDATES).some(ffiGranted);
}

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
 * never falls back silently. Otherwise {@linkcode LIBC_CANDIDATES} are tried in order. Only
 * candidates the FFI permission covers are tried. A path-scoped `--allow-ffi=<libc>` is refused
 * with an error saying why: Deno (2.9.6) allows `dlopen` of that path but no pointer operation,
 * and the library needs them (errno, mmap views).
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
  const permitted = candidates.filter(ffiGranted);
  if (permitted.length > 0 && !ffiUnscoped()) {
    // Measured with Deno 2.9.6: a path-scoped --allow-ffi permits dlopen of that path only;
    // UnsafePointer.of/value/create and UnsafePointerView (getArrayBuffer of a mapping, errno)
    // all throw NotCapable unless --allow-ffi is given without a path.
    throw errnoError(Errno.EACCES, "dlopen", {
      path: permitted[0],
      detail: "--allow-ffi=<path> lets Deno open that library, but Deno " + Deno.version.deno +
        " refuses every pointer operation (UnsafePointer, UnsafePointerView: errno, mmap views) " +
        "unless --allow-ffi is given without a path",
      hint: "Run with --allow-ffi (no path)",
    });
  }
  if (permitted.length === 0) {
    throw errnoError(Errno.EACCES, "dlopen", {
      path: candidates[0],
      detail: "Loading libc needs the FFI permission",
      hint: `Run with --allow-ffi, or with --allow-ffi=<path of libc> (one of: ${
        candidates.filter((c) => c.startsWith("/")).join(", ") || candidates.join(", ")
      })`,
    });
  }
  for (const path of candidates) {
    if (!permitted.includes(path)) {
      failures.push(`${path} (not covered by --allow-ffi)`);
      continue;
    }
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
