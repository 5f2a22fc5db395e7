/**
 * drivers/dma-buf/sync_file.c: sync_file fds — one fence (possibly a container) behind an
 * anon-inode file named `sync_file`; `poll` reports POLLIN once the fence has signalled (never
 * POLLOUT); the ioctls `SYNC_IOC_MERGE`, `SYNC_IOC_FILE_INFO` and `SYNC_IOC_SET_DEADLINE`.
 *
 * @module
 */
import { file, type file_operations, FMODE_OPENED, fput, type inode } from "./file_table.ts";
import { O_RDONLY, POLLIN } from "../uapi/constants.ts";
import {
  sync_fence_info,
  sync_file_info,
  SYNC_IOC_FILE_INFO,
  SYNC_IOC_MERGE,
  SYNC_IOC_SET_DEADLINE,
  sync_merge_data,
  sync_set_deadline,
} from "../uapi/sync_file.ts";
import { type poll_table, poll_wait, wait_queue_head } from "./wait.ts";
import {
  type dma_fence,
  dma_fence_add_callback,
  dma_fence_get_status,
  dma_fence_is_signaled,
  dma_fence_set_deadline,
  dma_fence_timestamp,
  dma_fence_unwrap,
  dma_fence_unwrap_merge,
} from "./dma_fence.ts";
import { Errno, fail } from "./errno.ts";
import type { Task } from "./sched.ts";
import { copy_from_user, copy_to_user, fd_install_copy_to_user } from "./uaccess.ts";

/** `struct sync_file`. */
export interface sync_file {
  /** The fence it carries. */
  readonly fence: dma_fence;
  /** `wq`: woken when the fence signals, once polling enabled the callback. */
  readonly wq: wait_queue_head;
  /** `POLL_ENABLED` flag. */
  poll_enabled: boolean;
  /** `user_name[32]`: the name given at merge ("" otherwise). */
  user_name: string;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** `strscpy(dst, src, size)` into bytes: at most `size - 1` bytes, NUL-terminated. */
function strscpy(dst: Uint8Array, off: number, src: string, size: number): void {
  const b = encoder.encode(src);
  const n = Math.min(b.length, size - 1);
  dst.set(b.subarray(0, n), off);
  dst.fill(0, off + n, off + size);
}

/** A C string from `bytes[off, off + size)`. */
function cstr(bytes: Uint8Array, off: number, size: number): string {
  const s = bytes.subarray(off, off + size);
  const nul = s.indexOf(0);
  return decoder.decode(nul < 0 ? s : s.subarray(0, nul));
}

function sync_file_poll(f: file, _events: number, pt?: poll_table): number {
  const sf = f.private_data as sync_file;
  poll_wait(sf.wq, pt);
  if (!sf.poll_enabled) {
    sf.poll_enabled = true;
    // fence_check_cb_func: wake the pollers when the fence signals.
    if (!dma_fence_add_callback(sf.fence, () => sf.wq.wake_up(POLLIN))) sf.wq.wake_up(POLLIN);
  }
  return dma_fence_is_signaled(sf.fence) ? POLLIN : 0;
}

/**
 * `sync_file_get_name()`: the merge name, else `<driver>-<timeline><context>-<seqno>` of the
 * fence (`snprintf` into 32 bytes: at most 31).
 */
export function sync_file_get_name(sf: sync_file): string {
  if (sf.user_name) return sf.user_name;
  const f = sf.fence;
  const name = encoder.encode(`${f.driver}-${f.timeline}${f.context}-${f.seqno}`);
  return decoder.decode(name.subarray(0, 31));
}

/** `sync_file_ioctl_merge()`: a new sync_file (O_CLOEXEC) holding both files' fences. */
function sync_file_ioctl_merge(sf: sync_file, arg: number, current: Task): number {
  const data = copy_from_user(current, arg, sync_merge_data.size);
  const v = new DataView(data.buffer);
  if (v.getUint32(sync_merge_data.flags, true) || v.getUint32(sync_merge_data.pad, true)) {
    fail(Errno.EINVAL);
  }
  const f2 = current.files.fget(v.getInt32(sync_merge_data.fd2, true));
  if (!f2 || f2.f_op !== sync_file_fops) {
    if (f2) fput(f2);
    fail(Errno.ENOENT);
  }
  try {
    const fence = dma_fence_unwrap_merge(sf.fence, (f2.private_data as sync_file).fence);
    const merged = sync_file_create(fence, current.machine.anon_inode_inode);
    (merged.private_data as sync_file).user_name = cstr(data, sync_merge_data.name, 32);
    fd_install_copy_to_user(current, merged, arg, data, (fd) => {
      v.setInt32(sync_merge_data.fence, fd, true);
    });
    return 0;
  } finally {
    fput(f2);
  }
}

/** `sync_fill_fence_info()`: one 80-byte `struct sync_fence_info`; returns the status. */
function sync_fill_fence_info(fence: dma_fence, out: Uint8Array, off: number): number {
  const v = new DataView(out.buffer, out.byteOffset + off, sync_fence_info.size);
  strscpy(out, off + sync_fence_info.obj_name, fence.timeline, 32);
  strscpy(out, off + sync_fence_info.driver_name, fence.driver, 32);
  const status = dma_fence_get_status(fence);
  v.setInt32(sync_fence_info.status, status, true);
  const ts = dma_fence_is_signaled(fence) ? dma_fence_timestamp(fence) : 0;
  v.setBigUint64(sync_fence_info.timestamp_ns, BigInt(ts), true);
  return status;
}

/**
 * `sync_file_ioctl_fence_info()`: with `num_fences` 0, the count and the container's status;
 * otherwise (`num_fences` ≥ the count, else EINVAL) one `sync_fence_info` per fence at the user
 * pointer `sync_fence_info`, and as status the first of theirs that is not 1 (else 1).
 */
function sync_file_ioctl_fence_info(sf: sync_file, arg: number, current: Task): number {
  const info = copy_from_user(current, arg, sync_file_info.size);
  const v = new DataView(info.buffer);
  if (v.getUint32(sync_file_info.flags, true) || v.getUint32(sync_file_info.pad, true)) {
    fail(Errno.EINVAL);
  }
  const fences = dma_fence_unwrap(sf.fence);
  const asked = v.getUint32(sync_file_info.num_fences, true);
  let status: number;
  if (asked === 0) {
    status = dma_fence_get_status(sf.fence);
  } else {
    status = 1;
    if (asked < fences.length) fail(Errno.EINVAL);
    const out = new Uint8Array(fences.length * sync_fence_info.size);
    fences.forEach((f, i) => {
      const s = sync_fill_fence_info(f, out, i * sync_fence_info.size);
      status = status <= 0 ? status : s;
    });
    const ptr = v.getBigUint64(sync_file_info.sync_fence_info, true);
    // u64_to_user_ptr: an address past what user space can have is a fault.
    copy_to_user(current, ptr > BigInt(2 ** 53) ? -1 : Number(ptr), out);
  }
  strscpy(info, sync_file_info.name, sync_file_get_name(sf), 32);
  v.setInt32(sync_file_info.status, status, true);
  v.setUint32(sync_file_info.num_fences, fences.length, true);
  copy_to_user(current, arg, info);
  return 0;
}

/**
 * `sync_file_ioctl_set_deadline()`: hands the deadline to the fence's driver (each member of a
 * container); only sw_sync keeps it (for `SW_SYNC_GET_DEADLINE`), nothing runs sooner for it.
 */
function sync_file_ioctl_set_deadline(sf: sync_file, arg: number, current: Task): number {
  const v = new DataView(copy_from_user(current, arg, sync_set_deadline.size).buffer);
  if (v.getBigUint64(sync_set_deadline.pad, true)) fail(Errno.EINVAL);
  // ns_to_ktime(): the u64 is read as s64.
  dma_fence_set_deadline(sf.fence, v.getBigInt64(sync_set_deadline.deadline_ns, true));
  return 0;
}

/** `sync_file_ioctl()`: exact command match, anything else `-ENOTTY`. */
function sync_file_ioctl(f: file, cmd: number, arg: number, current: Task): number {
  const sf = f.private_data as sync_file;
  switch (cmd) {
    case SYNC_IOC_MERGE:
      return sync_file_ioctl_merge(sf, arg, current);
    case SYNC_IOC_FILE_INFO:
      return sync_file_ioctl_fence_info(sf, arg, current);
    case SYNC_IOC_SET_DEADLINE:
      return sync_file_ioctl_set_deadline(sf, arg, current);
    default:
      fail(Errno.ENOTTY);
  }
}

/** `sync_file_fops`. */
export const sync_file_fops: file_operations = {
  poll: sync_file_poll,
  unlocked_ioctl: sync_file_ioctl,
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
    { fence, wq: new wait_queue_head(), poll_enabled: false, user_name: "" } satisfies sync_file,
  );
}

/** `sync_file_get_fence(fd)`'s check: the fence of a sync_file, or null for any other file. */
export function sync_file_get_fence(f: file | undefined): dma_fence | null {
  return f && f.f_op === sync_file_fops ? (f.private_data as sync_file).fence : null;
}
