/**
 * fs/namei.c in miniature: the path walk of `open(2)` over the model's file systems (`/`,
 * devtmpfs at `/dev`, procfs at `/proc`, sysfs at `/sys`, debugfs at `/sys/kernel/debug`).
 *
 * As `getname()` + `link_path_walk()` + `open_last_lookups()` do: an empty path is ENOENT, one of
 * `PATH_MAX` (4096) bytes or more (with its NUL, more than 4096) is ENAMETOOLONG; repeated `/`
 * collapse; `.` stays, `..` goes to the parent (at `/` it stays); every component but the last
 * must be a directory (ENOTDIR), and so must the last when the path ends in `/`; a directory is
 * searched only with exec permission (debugfs's root is 0700: EACCES for non-root); a component
 * of more than `NAME_MAX` (255) bytes is ENAMETOOLONG where the file system's lookup checks it
 * (`simple_lookup`: rootfs, devtmpfs, debugfs) and simply not found (ENOENT) on procfs and
 * sysfs, whose lookups do not; a missing component is ENOENT. The model has no working
 * directory other than `/` (a relative path starts there) and no symbolic links besides the
 * names procfs resolves itself (`/proc/self`).
 *
 * @module
 */
import { Errno, fail, KernelError } from "./errno.ts";
import type { cdev } from "./char_dev.ts";
import type { DriverContext } from "./driver_context.ts";
import { proc_readdir, proc_readlink, proc_readtext, type ProcNode } from "./procfs.ts";

/** `PATH_MAX`: bytes of a path including its NUL. */
export const PATH_MAX = 4096;
/** `NAME_MAX`: bytes of one component. */
export const NAME_MAX = 255;

/** What a walk found: the normalized path, and the device-like node or directory there. */
export interface nameidata {
  /** The path with `//`, `.` and `..` resolved. */
  readonly path: string;
  /** The device node (devtmpfs or debugfs file) at the path, if it is one. */
  readonly node: cdev | undefined;
  /** Whether the path names a directory. */
  readonly dir: boolean;
}

type Kind = { dir: boolean; node?: cdev } | undefined;

const encoder = new TextEncoder();

/** The inode at an absolute normalized path, or undefined when there is none. */
function lookup(m: DriverContext, proc: ProcNode, path: string): Kind {
  if (path === "/" || path === "/sys" || path === "/sys/kernel") return { dir: true };
  if (path === "/sys/kernel/dmabuf" && m.dma_buf.sysfs_stats) return { dir: true };
  for (const fs of [m.dev, m.debugfs]) {
    const node = fs.lookup(path);
    if (node) return { dir: false, node };
    if (fs.readdir(path)) return { dir: true };
  }
  // procfs, sysfs and the bufinfo file: their readers tell a directory from a file.
  const exists = (e: unknown, dirErr: number): Kind => {
    if (!(e instanceof KernelError)) throw e;
    if (e.errno === Errno.ENOENT) return undefined;
    return { dir: e.errno === dirErr };
  };
  let kind: Kind;
  try {
    proc_readdir(proc, path);
    return { dir: true };
  } catch (e) {
    kind = exists(e, Errno.EACCES); // EACCES: another process's fd directory
  }
  if (kind) return kind;
  try {
    proc_readtext(proc, path);
    return { dir: false };
  } catch (e) {
    kind = exists(e, Errno.EISDIR);
  }
  if (kind) return kind;
  try {
    proc_readlink(proc, path); // the /proc/<pid>/fd/<n> links
    return { dir: false };
  } catch (e) {
    return exists(e, -1);
  }
}

/** Whether the file system holding directory `dir` checks `NAME_MAX` in its lookup. */
function checks_name_max(dir: string): boolean {
  if (dir === "/sys/kernel/debug" || dir.startsWith("/sys/kernel/debug/")) return true;
  return !(dir === "/proc" || dir.startsWith("/proc/") || dir === "/sys" ||
    dir.startsWith("/sys/"));
}

/**
 * `path_lookupat()` for `open(2)`: walks `path` as `proc.task` (uid 0 may search anything).
 *
 * @throws {KernelError} ENOENT, ENOTDIR, ENAMETOOLONG or EACCES, as Linux in that walk order.
 */
export function path_lookupat(proc: ProcNode, path: string): nameidata {
  const current = proc.task;
  // A NUL would end the C string; the syscall seam refuses such a path (as `LinuxKernel` does).
  if (path.includes("\0")) fail(Errno.EINVAL);
  const bytes = encoder.encode(path).length;
  if (bytes === 0) fail(Errno.ENOENT);
  if (bytes >= PATH_MAX) fail(Errno.ENAMETOOLONG);
  const m = proc.machine;
  const parts = path.split("/").filter((p) => p !== "");
  let cur = "/";
  let kind: NonNullable<Kind> = { dir: true };
  for (const name of parts) {
    if (!kind.dir) fail(Errno.ENOTDIR);
    // may_lookup(): exec permission on the directory; debugfs's root is 0700 root:root.
    if (current.uid !== 0 && cur.startsWith("/sys/kernel/debug")) fail(Errno.EACCES);
    if (name === ".") continue;
    if (name === "..") {
      cur = cur.slice(0, cur.lastIndexOf("/")) || "/";
      continue;
    }
    if (encoder.encode(name).length > NAME_MAX) {
      fail(checks_name_max(cur) ? Errno.ENAMETOOLONG : Errno.ENOENT);
    }
    const next = cur === "/" ? `/${name}` : `${cur}/${name}`;
    const found = lookup(m, proc, next);
    if (!found) fail(Errno.ENOENT);
    cur = next;
    kind = found;
  }
  // A trailing "/" (or a final "." / "..") asks for a directory (LOOKUP_DIRECTORY).
  if (!kind.dir && path.endsWith("/")) fail(Errno.ENOTDIR);
  return { path: cur, node: kind.node, dir: kind.dir };
}
