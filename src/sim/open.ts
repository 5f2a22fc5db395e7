/**
 * fs/open.c: `open(2)` of the paths the model has (device nodes, and the directories of `/dev`,
 * `/proc` and debugfs) and `ftruncate(2)`.
 *
 * @module
 */
import { O_ACCMODE, O_CLOEXEC, O_DIRECTORY } from "../uapi/constants.ts";
import { chrdev_open } from "./char_dev.ts";
import { path_lookupat } from "./namei.ts";
import { Errno, fail, is_int } from "./errno.ts";
import {
  file,
  FMODE_LSEEK,
  FMODE_OPENED,
  FMODE_READ,
  FMODE_WRITE,
  O_LARGEFILE,
} from "./file_table.ts";
import { proc_readdir, type ProcNode } from "./procfs.ts";
import { shmem_file, shmem_truncate } from "./shmem.ts";

/** Mount id of the root file system, where the model's directories live. */
const ROOT_MNT_ID = 1;

/** A directory file (open of a directory path): it can only be read and seeked. */
const dir_fops = { llseek: (_f: file, off: number) => off };

/** `PATH_MAX` (include/uapi/linux/limits.h), counting the NUL. */
const PATH_MAX = 4096;
/** `NAME_MAX`: the longest path component. */
const NAME_MAX = 255;
const utf8 = new TextEncoder();

/**
 * The length limits of path lookup, as Linux applies them: `getname()` (fs/namei.c) refuses a
 * path of `PATH_MAX` bytes or more before looking at anything; a component longer than
 * `NAME_MAX` is refused by the filesystem's lookup, and only some check: devtmpfs (`/dev`, via
 * `simple_lookup()` in fs/libfs.c) says ENAMETOOLONG, procfs and sysfs do not check (ENOENT, as
 * for any name they do not have — measured on Linux 6.12).
 *
 * @throws {KernelError} ENAMETOOLONG.
 */
export function path_lookup_limits(path: string): void {
  if (typeof path !== "string") return;
  const bytes = utf8.encode(path);
  if (bytes.length >= PATH_MAX) fail(Errno.ENAMETOOLONG);
  if (!path.startsWith("/dev/")) return;
  let run = 0;
  for (const b of bytes) {
    run = b === 0x2f ? 0 : run + 1;
    if (run > NAME_MAX) fail(Errno.ENAMETOOLONG);
  }
}

/** Whether `path` names a directory of the model (`/dev`, `/proc`, debugfs, sysfs). */
export function path_is_dir(node: ProcNode, path: string): boolean {
  if (node.machine.dev.readdir(path)) return true;
  try {
    proc_readdir(node, path);
    return true;
  } catch {
    return false;
  }
}

/**
 * `do_sys_open()`: walks the path (`namei.ts`), then opens a device node through its driver's
 * `open`, or a directory; installs the file at the lowest free fd.
 *
 * @throws {KernelError} The walk's ENOENT, ENOTDIR, ENAMETOOLONG, EACCES; ENOTDIR for O_DIRECTORY on a
 * device, EISDIR for a directory opened for writing, EMFILE when no fd is free, or the driver's
 * error.
 */
export function do_sys_open(node: ProcNode, path: string, flags: number): number {
  const current = node.task;
  if (typeof path !== "string" || !is_int(flags)) fail(Errno.EINVAL);
  if (path.length === 0) fail(Errno.ENOENT);
  path_lookup_limits(path);
  const cloexec = (flags & O_CLOEXEC) !== 0;
  const nd = path_lookupat(node, path);
  const c = nd.node;
  if (c) {
    if (flags & O_DIRECTORY) fail(Errno.ENOTDIR);
    return current.files.fd_install_or_fput(chrdev_open(c, flags, current), cloexec);
  }
  if (!nd.dir) fail(Errno.ENOENT); // procfs/sysfs text files are read with readText, not opened
  if ((flags & O_ACCMODE) !== 0) fail(Errno.EISDIR);
  const f = new file(
    dir_fops,
    { i_ino: node.machine.get_next_ino(), kind: "anon", i_size: 0, mnt_id: ROOT_MNT_ID },
    (flags & ~O_CLOEXEC) | O_LARGEFILE,
    FMODE_READ | FMODE_LSEEK | FMODE_OPENED,
    () => nd.path,
  );
  return current.files.fd_install_or_fput(f, cloexec);
}

/**
 * `do_sys_ftruncate()` of a memfd.
 *
 * @throws {KernelError} EINVAL for a bad length or a file that is not a writable memfd, EBADF
 * for a closed fd, EPERM when a seal forbids the change.
 */
export function do_sys_ftruncate(node: ProcNode, fd: number, length: number): void {
  if (!is_int(length) || length < 0) fail(Errno.EINVAL);
  const f = node.task.files.fdget(fd);
  if (!shmem_file(f) || !(f.f_mode & FMODE_WRITE)) fail(Errno.EINVAL);
  shmem_truncate(f.f_inode, length);
}
