/**
 * fs/stat.c: `readlink(2)` of the model's links (`/proc/<pid>/fd/<fd>`, `/proc/self`).
 *
 * @module
 */
import { Errno, fail } from "./errno.ts";
import { proc_readlink, type ProcNode } from "./procfs.ts";

/**
 * `do_readlinkat()`.
 *
 * @throws {KernelError} EINVAL for a path that is not a link (a device node or directory),
 * ENOENT for a missing one, EACCES without ptrace access.
 */
export function do_readlinkat(node: ProcNode, path: string): string {
  if (node.machine.dev.lookup(path) || node.machine.dev.readdir(path)) fail(Errno.EINVAL);
  return proc_readlink(node, path);
}
