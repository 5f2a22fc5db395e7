/**
 * drivers/dma-buf/dma-buf.c, `dma_buf_ioctl()`: SYNC, SET_NAME (`_A`/`_B`), EXPORT/IMPORT
 * sync_file. Exact command match; anything else is `-ENOTTY`.
 *
 * @module
 */
import { Errno, fail } from "./errno.ts";
import type { file } from "./file_table.ts";
import { fput } from "./file_table.ts";
import type { Task } from "./sched.ts";
import { copy_from_user, fd_install_copy_to_user, strndup_user } from "./uaccess.ts";
import {
  DMA_BUF_IOCTL_EXPORT_SYNC_FILE,
  DMA_BUF_IOCTL_IMPORT_SYNC_FILE,
  DMA_BUF_IOCTL_SYNC,
  DMA_BUF_NAME_LEN,
  DMA_BUF_SET_NAME_A,
  DMA_BUF_SET_NAME_B,
  DMA_BUF_SYNC_END,
  DMA_BUF_SYNC_RW,
  DMA_BUF_SYNC_VALID_FLAGS_MASK,
  DMA_BUF_SYNC_WRITE,
} from "../uapi/dma_buf.ts";
import {
  DMA_BIDIRECTIONAL,
  type dma_buf,
  dma_buf_begin_cpu_access,
  dma_buf_end_cpu_access,
  DMA_FROM_DEVICE,
  DMA_TO_DEVICE,
} from "./dma_buf.ts";
import { dma_fence_unwrap } from "./dma_fence.ts";
import { sync_file_create, sync_file_get_fence } from "./sync_file.ts";
import { dma_resv_add_fence, dma_resv_get_singleton, dma_resv_usage_rw } from "./dma_resv.ts";

function u64_low_checked(b: Uint8Array, off: number, valid: number): number {
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const lo = v.getUint32(off, true), hi = v.getUint32(off + 4, true);
  if (hi !== 0 || (lo & ~valid) !== 0) fail(Errno.EINVAL);
  return lo;
}

function sync(d: dma_buf, arg: number, current: Task): number {
  const b = copy_from_user(current, arg, 8);
  const flags = u64_low_checked(b, 0, DMA_BUF_SYNC_VALID_FLAGS_MASK);
  let direction: number;
  switch (flags & DMA_BUF_SYNC_RW) {
    case 1:
      direction = DMA_FROM_DEVICE;
      break;
    case 2:
      direction = DMA_TO_DEVICE;
      break;
    case 3:
      direction = DMA_BIDIRECTIONAL;
      break;
    default:
      fail(Errno.EINVAL);
  }
  if (flags & DMA_BUF_SYNC_END) dma_buf_end_cpu_access(d, direction);
  else dma_buf_begin_cpu_access(d, direction, current);
  return 0;
}

function export_sync_file(d: dma_buf, arg: number, current: Task): number {
  const b = copy_from_user(current, arg, 8);
  const v = new DataView(b.buffer);
  const flags = v.getUint32(0, true);
  if (flags & ~DMA_BUF_SYNC_RW) fail(Errno.EINVAL);
  if ((flags & DMA_BUF_SYNC_RW) === 0) fail(Errno.EINVAL);
  // dma_resv_get_singleton(resv, dma_resv_usage_rw(flags & WRITE)): none → the signalled stub.
  const fence = dma_resv_get_singleton(
    d.resv,
    dma_resv_usage_rw((flags & DMA_BUF_SYNC_WRITE) !== 0),
  );
  const sf = sync_file_create(fence, current.machine.anon_inode_inode);
  fd_install_copy_to_user(current, sf, arg, b, (fd) => v.setInt32(4, fd, true));
  return 0;
}

function import_sync_file(d: dma_buf, arg: number, current: Task): number {
  const b = copy_from_user(current, arg, 8);
  const v = new DataView(b.buffer);
  const flags = v.getUint32(0, true), fd = v.getInt32(4, true);
  if (flags & ~DMA_BUF_SYNC_RW) fail(Errno.EINVAL);
  if ((flags & DMA_BUF_SYNC_RW) === 0) fail(Errno.EINVAL);
  const f = current.files.fget(fd);
  const fence = sync_file_get_fence(f);
  if (f) fput(f);
  if (!fence) fail(Errno.EINVAL);
  const usage = flags & DMA_BUF_SYNC_WRITE ? "write" : "read";
  // 6.12: each fence inside a container is added on its own.
  for (const f of dma_fence_unwrap(fence)) dma_resv_add_fence(d.resv, f, usage);
  return 0;
}

/** `dma_buf_ioctl(file, cmd, arg)`. */
export function dma_buf_ioctl(f: file, cmd: number, arg: number, current: Task): number {
  const d = f.private_data as dma_buf;
  switch (cmd) {
    case DMA_BUF_IOCTL_SYNC:
      return sync(d, arg, current);
    case DMA_BUF_SET_NAME_A:
    case DMA_BUF_SET_NAME_B:
      // dma_buf_set_name(): strndup_user(buf, DMA_BUF_NAME_LEN); replaces the old name.
      d.name = strndup_user(current, arg, DMA_BUF_NAME_LEN);
      return 0;
    case DMA_BUF_IOCTL_EXPORT_SYNC_FILE:
      return export_sync_file(d, arg, current);
    case DMA_BUF_IOCTL_IMPORT_SYNC_FILE:
      return import_sync_file(d, arg, current);
    default:
      fail(Errno.ENOTTY);
  }
}
