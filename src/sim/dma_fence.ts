/**
 * drivers/dma-buf/dma-fence.c and sync_file.c, as far as user space can reach them without a
 * GPU: the signalled stub fence (`dma_fence_get_stub`) and sync_file fds that carry it.
 * Every fence in the model is signalled, so nothing ever waits.
 *
 * @module
 */
import { file, type file_operations, FMODE_OPENED, type inode } from "./file_table.ts";
import { POLLIN } from "../uapi/constants.ts";
import { O_RDONLY } from "../uapi/constants.ts";

/** `enum dma_resv_usage`, as bufinfo prints it. */
export type dma_resv_usage = "kernel" | "write" | "read" | "bookkeep";

/** `struct dma_fence` (what is printed and polled). */
export interface dma_fence {
  /** `ops->get_driver_name()`. */
  readonly driver: string;
  /** `ops->get_timeline_name()`. */
  readonly timeline: string;
  /** Fence context. */
  readonly context: number;
  /** Sequence number. */
  readonly seqno: number;
  /** Whether the fence has signalled. */
  readonly signalled: boolean;
}

/** `dma_fence_get_stub()`: the always-signalled fence of context 0. */
export const dma_fence_stub: dma_fence = {
  driver: "stub",
  timeline: "stub",
  context: 0,
  seqno: 0,
  signalled: true,
};

/** `struct sync_file`. */
export interface sync_file {
  /** The fence it carries. */
  readonly fence: dma_fence;
}

function sync_file_poll(f: file, events: number): number {
  const sf = f.private_data as sync_file;
  return sf.fence.signalled ? events & POLLIN : 0;
}

/** `sync_file_fops`. */
export const sync_file_fops: file_operations = {
  poll: sync_file_poll,
};

/**
 * `sync_file_create(fence)`: an anon-inode file named `sync_file` (`O_RDONLY`).
 *
 * @param fence The fence to carry.
 * @param ino The anon inode (shared by every anon-inode file, as `anon_inode_getfile` does).
 */
export function sync_file_create(fence: dma_fence, ino: inode): file {
  return new file(
    sync_file_fops,
    ino,
    O_RDONLY,
    1 | FMODE_OPENED,
    () => "anon_inode:sync_file",
    { fence } satisfies sync_file,
  );
}

/** `sync_file_get_fence(fd)`'s check: the fence of a sync_file, or null for any other file. */
export function sync_file_get_fence(f: file | undefined): dma_fence | null {
  return f && f.f_op === sync_file_fops ? (f.private_data as sync_file).fence : null;
}
