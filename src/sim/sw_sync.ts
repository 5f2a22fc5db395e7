/**
 * drivers/dma-buf/sw_sync.c (`CONFIG_SW_SYNC`): debugfs `sync/sw_sync`. Each open is a new
 * timeline named after the opener's `comm`, on a fresh fence context, at value 0.
 * `SW_SYNC_IOC_CREATE_FENCE` makes a sync_file (O_CLOEXEC) whose fence (driver `sw_sync`,
 * timeline the name, seqno `value`) signals once the timeline reaches `value` — at once if it
 * has; an unsignalled fence at the same value is shared, as the C code's rb-tree lookup does.
 * `SW_SYNC_IOC_INC` advances the value (in `INT_MAX` steps) and signals what it reaches;
 * `SW_SYNC_GET_DEADLINE` reads back the earliest deadline `SYNC_IOC_SET_DEADLINE` set;
 * closing the timeline signals its pending fences with `-ENOENT`. The `name` field of the
 * struct is ignored, as in 6.12.
 *
 * @module
 */
import { Errno, fail } from "./errno.ts";
import type { file, file_operations, inode } from "./file_table.ts";
import type { Task } from "./sched.ts";
import type { SimMachine } from "./machine.ts";
import { copy_from_user, copy_to_user, fd_install_copy_to_user } from "./uaccess.ts";
import {
  dma_fence,
  dma_fence_array,
  dma_fence_context_alloc,
  dma_fence_is_signaled,
  dma_fence_seqno_later,
  dma_fence_set_error,
  dma_fence_signal,
} from "./dma_fence.ts";
import { sync_file_create, sync_file_get_fence } from "./sync_file.ts";
import { fput } from "./file_table.ts";
import {
  sw_sync_create_fence_data,
  SW_SYNC_GET_DEADLINE,
  sw_sync_get_deadline,
  SW_SYNC_IOC_CREATE_FENCE,
  SW_SYNC_IOC_INC,
} from "../uapi/sync_file.ts";

/** `INT_MAX`. */
const INT_MAX = 0x7fffffff;

/** `struct sync_timeline`. */
export interface sync_timeline {
  /** `name[32]`: the opener's comm. */
  readonly name: string;
  /** Its fence context. */
  readonly context: number;
  /** `value`: the last signalled point (an `int`). */
  value: number;
  /** `pt_list`: unsignalled points, by seqno. */
  readonly pt_list: dma_fence[];
}

/** `struct sync_pt`: a fence on a timeline, with its deadline once one was set. */
type sync_pt = dma_fence & { deadline?: bigint };

/** `timeline_fence_ops.signaled`: the timeline has reached the fence's seqno. */
function timeline_fence_signaled(f: dma_fence, obj: sync_timeline): boolean {
  return !dma_fence_seqno_later(f.seqno, obj.value);
}

/** `sync_timeline_signal(obj, inc)`. */
function sync_timeline_signal(obj: sync_timeline, inc: number): void {
  obj.value = (obj.value + inc) | 0;
  while (obj.pt_list.length > 0 && timeline_fence_signaled(obj.pt_list[0], obj)) {
    dma_fence_signal(obj.pt_list.shift()!);
  }
}

/** `sync_pt_create(obj, value)`: a new point, or the unsignalled one already at `value`. */
function sync_pt_create(obj: sync_timeline, value: number): dma_fence {
  const pt: sync_pt = new dma_fence("sw_sync", obj.name, obj.context, value, {
    signaled: (f) => timeline_fence_signaled(f, obj),
    // timeline_fence_set_deadline(): the earliest deadline asked for.
    set_deadline: (f, deadline) => {
      const p = f as sync_pt;
      if (p.deadline === undefined || deadline < p.deadline) p.deadline = deadline;
    },
  });
  if (dma_fence_is_signaled(pt)) return pt;
  const same = obj.pt_list.find((o) => o.seqno === value && !o.signalled);
  if (same) return same;
  // list_add_tail before the next point in seqno order.
  const next = obj.pt_list.findIndex((o) => dma_fence_seqno_later(o.seqno, value));
  if (next < 0) obj.pt_list.push(pt);
  else obj.pt_list.splice(next, 0, pt);
  return pt;
}

function sw_sync_ioctl_create_fence(obj: sync_timeline, arg: number, current: Task): number {
  const data = copy_from_user(current, arg, sw_sync_create_fence_data.size);
  const v = new DataView(data.buffer);
  const pt = sync_pt_create(obj, v.getUint32(sw_sync_create_fence_data.value, true));
  const sf = sync_file_create(pt, current.machine.anon_inode_inode);
  fd_install_copy_to_user(current, sf, arg, data, (fd) => {
    v.setInt32(sw_sync_create_fence_data.fence, fd, true);
  });
  return 0;
}

function sw_sync_ioctl_inc(obj: sync_timeline, arg: number, current: Task): number {
  let value = new DataView(copy_from_user(current, arg, 4).buffer).getUint32(0, true);
  while (value > INT_MAX) {
    sync_timeline_signal(obj, INT_MAX);
    value -= INT_MAX;
  }
  sync_timeline_signal(obj, value);
  return 0;
}

/**
 * `sw_sync_ioctl_get_deadline()`: the deadline set on a sw_sync fence (`deadline_ns` and `pad`
 * must be 0 on input; EINVAL for an fd that is not a sync_file holding a sw_sync fence, ENOENT
 * when no deadline was set).
 */
function sw_sync_ioctl_get_deadline(arg: number, current: Task): number {
  const data = copy_from_user(current, arg, sw_sync_get_deadline.size);
  const v = new DataView(data.buffer);
  if (
    v.getBigUint64(sw_sync_get_deadline.deadline_ns, true) ||
    v.getUint32(sw_sync_get_deadline.pad, true)
  ) {
    fail(Errno.EINVAL);
  }
  const f = current.files.fget(v.getInt32(sw_sync_get_deadline.fence_fd, true));
  const fence = sync_file_get_fence(f) as sync_pt | null;
  if (f) fput(f);
  if (!fence || fence.driver !== "sw_sync" || fence instanceof dma_fence_array) fail(Errno.EINVAL);
  if (fence.deadline === undefined) fail(Errno.ENOENT);
  v.setBigInt64(sw_sync_get_deadline.deadline_ns, fence.deadline, true);
  copy_to_user(current, arg, data);
  return 0;
}

/** `sw_sync_debugfs_fops`. */
export const sw_sync_debugfs_fops: file_operations = {
  open(_inode: inode, f: file, current: Task) {
    const obj: sync_timeline = {
      name: new TextDecoder().decode(new TextEncoder().encode(current.comm).subarray(0, 15)),
      context: dma_fence_context_alloc(1),
      value: 0,
      pt_list: [],
    };
    f.private_data = obj;
  },
  release(_inode: inode, f: file) {
    const obj = f.private_data as sync_timeline;
    for (const pt of obj.pt_list.splice(0)) {
      dma_fence_set_error(pt, -Errno.ENOENT);
      dma_fence_signal(pt);
    }
  },
  unlocked_ioctl(f: file, cmd: number, arg: number, current: Task): number {
    const obj = f.private_data as sync_timeline;
    switch (cmd) {
      case SW_SYNC_IOC_CREATE_FENCE:
        return sw_sync_ioctl_create_fence(obj, arg, current);
      case SW_SYNC_IOC_INC:
        return sw_sync_ioctl_inc(obj, arg, current);
      case SW_SYNC_GET_DEADLINE:
        return sw_sync_ioctl_get_deadline(arg, current);
      default:
        fail(Errno.ENOTTY);
    }
  },
};

/** `sync_debugfs_init()` + the sw_sync file: `/sys/kernel/debug/sync/sw_sync` (mode 0644). */
export function sw_sync_debugfs_init(m: SimMachine): void {
  m.debugfs.add("sync/sw_sync", sw_sync_debugfs_fops, null);
}
