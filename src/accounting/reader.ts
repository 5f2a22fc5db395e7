/**
 * The file access the accounting readers need: three calls that a `Kernel` already has
 * (`readDir`, `readText`, `readLink`), so the readers work the same on real Linux (through the
 * FFI kernel, which can read `/proc` without `--allow-all`), on the simulated kernel (which serves
 * `/proc/<pid>/…` itself) and on a synthetic tree in a plain directory ({@linkcode denoFsReader}).
 *
 * @module
 */
import { type ErrnoError, errnoError } from "../errors.ts";
import { Errno } from "../uapi/errno.ts";

/** The minimal file access of the accounting readers; a `Kernel` satisfies it. */
export interface FsReader {
  /** Names in a directory, without `.` and `..`. Throws an errno error (ENOENT, EACCES, …). */
  readDir(path: string): string[];
  /** A whole text file. Throws an errno error. */
  readText(path: string): string;
  /** The target of a symbolic link, when the reader can tell. */
  readLink?(path: string): string;
}

function mapped(e: unknown, syscall: string, path: string): Error {
  if (e instanceof Deno.errors.NotCapable) {
    return errnoError(Errno.EACCES, syscall, {
      path,
      detail: "Deno refuses this path without --allow-all; read it through a kernel instead",
      cause: e,
    });
  }
  const code = (e as { code?: unknown }).code;
  const errno = typeof code === "string" && code in Errno
    ? Errno[code as keyof typeof Errno]
    : e instanceof Deno.errors.NotFound
    ? Errno.ENOENT
    : e instanceof Deno.errors.PermissionDenied
    ? Errno.EACCES
    : Errno.EIO;
  return errnoError(errno, syscall, { path, cause: e });
}

/**
 * A reader over the real file system through Deno's file API, with failures turned into the
 * library's errno errors (`ENOENT` → `Deno.errors.NotFound`, `EACCES` →
 * `Deno.errors.PermissionDenied`, …). Meant for synthetic trees; Deno refuses `/proc` and `/sys`
 * without `--allow-all`, which this reader reports as `EACCES`.
 *
 * @returns The reader.
 *
 * @example Reading a missing file gives ENOENT
 * ```ts
 * import { denoFsReader } from "@dmabuf/dmabuf/accounting";
 * import assert from "node:assert/strict";
 *
 * const fs = denoFsReader();
 * assert.throws(() => fs.readText("/nonexistent/file"), { code: "ENOENT" });
 * ```
 */
export function denoFsReader(): FsReader {
  return {
    readDir(path: string): string[] {
      try {
        return [...Deno.readDirSync(path)].map((e) => e.name).sort();
      } catch (e) {
        throw mapped(e, "opendir", path);
      }
    },
    readText(path: string): string {
      try {
        return Deno.readTextFileSync(path);
      } catch (e) {
        throw mapped(e, "open", path);
      }
    },
    readLink(path: string): string {
      try {
        return Deno.readLinkSync(path);
      } catch (e) {
        throw mapped(e, "readlink", path);
      }
    },
  };
}

/** The errno of an error from a reader, or `undefined` when it carries none. */
export function errnoOf(e: unknown): number | undefined {
  const n = (e as ErrnoError | undefined)?.errno;
  return typeof n === "number" ? n : undefined;
}

/** True for the errors that mean "this process may not look": EACCES and EPERM. */
export function isPermissionError(e: unknown): boolean {
  const n = errnoOf(e);
  return n === Errno.EACCES || n === Errno.EPERM;
}

/** True for ENOENT and ESRCH: the file or process went away. */
export function isGone(e: unknown): boolean {
  const n = errnoOf(e);
  return n === Errno.ENOENT || n === Errno.ESRCH;
}

/** Joins path parts with single slashes (`join("/proc/", "12", "maps")` → `/proc/12/maps`). */
export function join(...parts: (string | number)[]): string {
  return parts.map(String).join("/").replace(/\/{2,}/g, "/");
}
