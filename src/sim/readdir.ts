/**
 * fs/readdir.c: `getdents` of a directory, opened and closed around the read as `opendir` /
 * `readdir` / `closedir` do.
 *
 * @module
 */
import { O_CLOEXEC, O_DIRECTORY, O_NONBLOCK } from "../uapi/constants.ts";
import { Errno, fail } from "./errno.ts";
import { do_sys_open, path_is_dir } from "./open.ts";
import { proc_readdir, type ProcNode } from "./procfs.ts";

/**
 * The entries of a directory. The directory is open on the lowest free fd while it is read, so
 * a listing of this process's own `/proc/<pid>/fd` shows that fd too, as on Linux.
 *
 * @throws {KernelError} EFAULT for a non-string path, ENOTDIR for a device node, ENOENT for a
 * missing directory, EACCES without ptrace access.
 */
export function iterate_dir(node: ProcNode, path: string): string[] {
  if (typeof path !== "string") fail(Errno.EFAULT);
  if (node.machine.dev.lookup(path)) fail(Errno.ENOTDIR);
  if (!path_is_dir(node, path)) proc_readdir(node, path); // throws the right errno
  const dfd = do_sys_open(node, path, O_DIRECTORY | O_NONBLOCK | O_CLOEXEC);
  try {
    return node.machine.dev.readdir(path) ?? proc_readdir(node, path);
  } finally {
    node.task.files.close_fd(dfd);
  }
}
