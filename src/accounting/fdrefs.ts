/**
 * `/proc/<pid>/fdinfo/*`: which fds of a process are dma-bufs (`ReadDmaBufFdRefs` in Android's
 * libdmabufinfo).
 *
 * @module
 */
import { type DmaBufInfo, parseFdinfo } from "../dmabuf/fdinfo.ts";
import { errnoError } from "../errors.ts";
import { Errno } from "../uapi/errno.ts";
import { denoFsReader, errnoOf, type FsReader, isGone, isPermissionError, join } from "./reader.ts";

/** Where the readers of `/proc` look, and through what. */
export interface ProcOptions {
  /** The procfs mount point; default `"/proc"`. */
  procRoot?: string;
  /** The file access; default {@linkcode denoFsReader} (pass a `Kernel` for the real `/proc`). */
  reader?: FsReader;
}

/** One dma-buf fd of a process. */
export interface FdRef extends DmaBufInfo {
  /** The fd number in that process. */
  fd: number;
}

/** The hint for EACCES/EPERM on another process's `/proc` files. */
export const PTRACE_HINT = "requires PTRACE_MODE_READ or root";

/** Rethrows a failed read of a process's file with the ptrace hint when it is a refusal. */
export function procError(e: unknown, syscall: string, path: string): Error {
  if (isPermissionError(e)) {
    return errnoError(errnoOf(e)!, syscall, { path, hint: `Reading it ${PTRACE_HINT}`, cause: e });
  }
  return e as Error;
}

/**
 * Lists the dma-buf fds of a process from `<procRoot>/<pid>/fdinfo/*`. An fd is a dma-buf iff
 * its fdinfo has an `exp_name:` line. fds closed while the scan runs (their fdinfo vanished:
 * `ENOENT`) are skipped; an fdinfo without `ino:` (kernels before 5.14) is skipped too, since
 * its buffer cannot be identified without `stat`.
 *
 * @param pid A process id, or `"self"`.
 * @param options The proc root and the reader.
 * @returns The dma-buf fds in fd order; empty when the process holds none.
 * @throws {Deno.errors.PermissionDenied} `EACCES`/`EPERM` (reading another user's process
 * requires PTRACE_MODE_READ or root).
 * @throws {Deno.errors.NotFound} `ENOENT` when the process does not exist (or exited).
 *
 * @example Reading a synthetic process
 * ```ts
 * import { readFdRefs } from "@dmabuf/dmabuf/accounting";
 * import assert from "node:assert/strict";
 *
 * const files: Record<string, string> = {
 *   "/p/7/fdinfo/3": "pos:\t0\nflags:\t02\nmnt_id:\t9\nino:\t42\nsize:\t4096\ncount:\t1\nexp_name:\tsystem\n",
 *   "/p/7/fdinfo/4": "pos:\t0\nflags:\t02\nmnt_id:\t22\nino:\t1001\n",
 * };
 * const reader = {
 *   readDir: (p: string) => Object.keys(files).filter((f) => f.startsWith(p + "/")).map((f) => f.slice(p.length + 1)),
 *   readText: (p: string) => files[p],
 * };
 * const refs = readFdRefs(7, { procRoot: "/p", reader });
 * assert.deepEqual(refs.map((r) => [r.fd, r.inode, r.exporter]), [[3, 42, "system"]]);
 * ```
 */
export function readFdRefs(pid: number | "self", options: ProcOptions = {}): FdRef[] {
  const reader = options.reader ?? denoFsReader();
  const dir = join(options.procRoot ?? "/proc", pid, "fdinfo");
  checkPid(pid);
  let fds: string[];
  try {
    fds = reader.readDir(dir);
  } catch (e) {
    throw procError(e, "opendir", dir);
  }
  const refs: FdRef[] = [];
  for (const name of fds) {
    if (!/^\d+$/.test(name)) continue;
    let text: string;
    try {
      text = reader.readText(join(dir, name));
    } catch (e) {
      if (isGone(e)) continue; // closed between readdir and open
      throw procError(e, "open", join(dir, name));
    }
    const info = parseFdinfo(text);
    if (info === undefined || !/^ino:/m.test(text)) continue;
    refs.push({ fd: Number(name), ...info });
  }
  return refs.sort((a, b) => a.fd - b.fd);
}

/** Throws EINVAL unless `pid` is a positive safe integer or `"self"`. */
export function checkPid(pid: unknown): void {
  if (pid === "self" || (typeof pid === "number" && Number.isSafeInteger(pid) && pid > 0)) return;
  throw errnoError(Errno.EINVAL, "readProc", {
    detail: `a pid is a positive integer or "self", got ${String(pid)}`,
  });
}
