/**
 * drivers/dma-buf/dma-buf.c: `struct dma_buf`, its file (`dma_buf_fops`), the importer API
 * (`dma_buf_get/put`, `dma_buf_attach/detach`, `dma_buf_map_attachment/unmap`,
 * `dma_buf_begin/end_cpu_access`, `dma_buf_vmap/vunmap`) and the global `db_list` that debugfs
 * `bufinfo` prints.
 *
 * @module
 */
import { Errno, fail } from "./errno.ts";
import {
  file,
  type file_operations,
  FMODE_LSEEK,
  FMODE_OPENED,
  fput,
  type inode,
  OPEN_FMODE,
} from "./file_table.ts";
import type { Task } from "./sched.ts";
import type { WarnSink } from "./bug.ts";
import type { vm_area_struct } from "./mmap.ts";
import { PAGE_SHIFT } from "./mm.ts";
import { O_ACCMODE, O_CLOEXEC, O_NONBLOCK, POLLIN, POLLOUT } from "../uapi/constants.ts";
import { dma_buf_ioctl } from "./dma_buf_ioctl.ts";
import { dma_fence_is_signaled } from "./dma_fence.ts";
import {
  type dma_resv,
  dma_resv_add_cb_first,
  dma_resv_get_fences,
  dma_resv_test_signaled,
  dma_resv_usage_rw,
} from "./dma_resv.ts";
import { poll_requested_events, type poll_table, poll_wait, wait_queue_head } from "./wait.ts";
import { system_wq } from "./workqueue.ts";
import { uaccess_count_payload } from "./uaccess.ts";
import type { CpuAccess, CpuCache } from "./cache.ts";

const SRC = "drivers/dma-buf/dma-buf.c";

/** `enum dma_data_direction`. */
export const DMA_BIDIRECTIONAL = 0;
/** Device reads memory. */
export const DMA_TO_DEVICE = 1;
/** Device writes memory. */
export const DMA_FROM_DEVICE = 2;
/** No transfer. */
export const DMA_NONE = 3;

/** A device as importers see it (`struct device`): a name for bufinfo and a DMA mask. */
export interface device {
  /** `dev_name(dev)`. */
  readonly name: string;
  /** `*dev->dma_mask`, or null when the device has none (a misc device until its driver sets one). */
  dma_mask: bigint | null;
}

/** One entry of a mapped scatterlist. */
export interface scatterlist {
  /** `sg_dma_address(sg)`: the bus address the device uses (physical: no IOMMU). */
  readonly dma_address: number;
  /** `sg_dma_len(sg)`. */
  readonly length: number;
}

/** `struct sg_table` after `dma_map_sgtable`. */
export interface sg_table {
  /** The mapped entries (`for_each_sgtable_dma_sg`). */
  readonly entries: readonly scatterlist[];
  /** `nents`. */
  readonly nents: number;
}

/** `struct iosys_map` returned by `dma_buf_vmap`. */
export interface iosys_map {
  /** The kernel virtual address (vmalloc range), for printing. */
  readonly vaddr: bigint;
  /** Always false here: system memory. */
  readonly is_iomem: boolean;
  /** The bytes at `vaddr`: a fresh view on every read, never cache it. */
  readonly bytes: Uint8Array;
  /**
   * The model's bookkeeping, not the kernel's: on a non-coherent machine, the CPU cache in
   * front of the memory (a vmap is a CPU alias) — a heap buffer's cache, or a udmabuf's access
   * over its memfds' caches (offsets in the buffer either way). A driver that writes through the
   * vmap calls its `kernel_cpu_write()` so that the sanitizer names the driver, not user space.
   */
  readonly cache?: CpuCache | CpuAccess | null;
}

/** `struct dma_buf_attachment`. */
export interface dma_buf_attachment {
  /** The buffer. */
  readonly dmabuf: dma_buf;
  /** The importing device. */
  readonly dev: device;
  /** The exporter's per-attachment data. */
  priv: unknown;
  /** Live mappings made through this attachment (the model's check). */
  mapped: number;
  /** Set once detached (the model's check). */
  detached: boolean;
}

/** `struct dma_buf_ops` (the callbacks the model uses). */
export interface dma_buf_ops {
  /** Optional: per-attachment setup. */
  attach?(dmabuf: dma_buf, attachment: dma_buf_attachment): void;
  /** Optional: undo {@linkcode attach}. */
  detach?(dmabuf: dma_buf, attachment: dma_buf_attachment): void;
  /** Required: map for the device. */
  map_dma_buf(attachment: dma_buf_attachment, dir: number): sg_table;
  /** Required: unmap. */
  unmap_dma_buf(attachment: dma_buf_attachment, sgt: sg_table, dir: number): void;
  /** Required: free the buffer. */
  release(dmabuf: dma_buf): void;
  /** Optional: cache maintenance before CPU access. */
  begin_cpu_access?(dmabuf: dma_buf, dir: number): void;
  /** Optional: cache maintenance after CPU access. */
  end_cpu_access?(dmabuf: dma_buf, dir: number): void;
  /** Optional: user mapping (sets the VMA's memory). */
  mmap?(dmabuf: dma_buf, vma: vm_area_struct): void;
  /** Optional: kernel mapping. */
  vmap?(dmabuf: dma_buf): iosys_map;
  /** Optional: undo {@linkcode vmap}. */
  vunmap?(dmabuf: dma_buf, map: iosys_map): void;
}

/** `struct dma_buf_export_info`. */
export interface dma_buf_export_info {
  /** Exporter name (`exp_name`), e.g. the heap name. */
  exp_name: string;
  /** The callbacks. */
  ops: dma_buf_ops;
  /** Size in bytes. */
  size: number;
  /** File flags (access mode, O_CLOEXEC is the fd's business). */
  flags: number;
  /** The exporter's buffer. */
  priv: unknown;
  /**
   * The reservation object to share (a GEM object's `obj->resv`), or none: the buffer gets its
   * own (`dma_resv_init(dmabuf->resv)`).
   */
  resv?: dma_resv;
}

/**
 * The dma-buf core's global state on one machine: `db_list`, the inode counter and the
 * internal `dmabuf` mount.
 */
export class DmaBufSubsys {
  /**
   * `db_list.head`: every live dma_buf on an intrusive list, newest first (`list_add` at the
   * head, `list_del` in O(1)), in the order debugfs prints them.
   */
  readonly db_list: list_head = new list_head();
  /** Number of buffers on `db_list`. */
  nr_buffers = 0;
  /**
   * `/sys/kernel/dmabuf/buffers` (CONFIG_DMABUF_SYSFS_STATS): buffers by inode number, or null
   * when the kernel is built without it (Debian's 6.12 is).
   */
  sysfs_stats: Map<number, dma_buf> | null = null;
  /** `dmabuf_inode`: the last inode number given out (atomic64, starts at 1). */
  dmabuf_inode = 0;
  /** Mount id of the internal dmabuf file system (`dma_buf_mnt`). */
  readonly mnt_id: number;
  /** Where warnings go. */
  readonly sink: WarnSink;

  /**
   * Sets up the core state.
   *
   * @param sink Where warnings go.
   * @param mnt_id Mount id of the dmabuf pseudo file system.
   */
  constructor(sink: WarnSink, mnt_id: number) {
    this.sink = sink;
    this.mnt_id = mnt_id;
  }
}

/** `struct list_head`: a node of an intrusive doubly linked list (the head is a sentinel). */
export class list_head {
  /** Next node (the head when last). */
  next: list_head = this;
  /** Previous node. */
  prev: list_head = this;
  /** The dma_buf this node is embedded in (`container_of`), null for the head. */
  readonly owner: dma_buf | null;
  /**
   * `INIT_LIST_HEAD()`: a node linked to itself.
   *
   * @param owner The embedding dma_buf, or null for a list head.
   */
  constructor(owner: dma_buf | null = null) {
    this.owner = owner;
  }
}

/** `list_add(new, head)`. */
function list_add(n: list_head, head: list_head): void {
  n.next = head.next;
  n.prev = head;
  head.next.prev = n;
  head.next = n;
}

/** `list_del(entry)`. */
function list_del(n: list_head): void {
  n.prev.next = n.next;
  n.next.prev = n.prev;
  n.next = n.prev = n;
}

/** `struct dma_buf`. */
export class dma_buf {
  /** Size in bytes. */
  readonly size: number;
  /** The file every fd and VMA of the buffer refers to. */
  readonly file: file;
  /** The exporter's callbacks. */
  readonly ops: dma_buf_ops;
  /** The exporter's buffer. */
  readonly priv: unknown;
  /** The exporter's name. */
  readonly exp_name: string;
  /** The name set by `DMA_BUF_SET_NAME`, or null if never set. */
  name: string | null = null;
  /** Attached devices, in attach order. */
  readonly attachments: dma_buf_attachment[] = [];
  /** `vmapping_counter`. */
  vmapping_counter = 0;
  /** `vmap_ptr`: the cached kernel mapping while vmapped. */
  vmap_ptr: iosys_map | null = null;
  /** The reservation object's fences (`dma-resv.ts`): the exporter's when it gave one. */
  readonly resv: dma_resv;
  /** `poll`: the wait queue `dma_buf_poll` sleeps on, woken by fence callbacks. */
  readonly poll: wait_queue_head = new wait_queue_head();
  /** `cb_in`: the POLLIN fence callback; `active` is the bit while armed. */
  readonly cb_in: { active: number } = { active: 0 };
  /** `cb_out`: the POLLOUT fence callback. */
  readonly cb_out: { active: number } = { active: 0 };
  /** The core state. */
  readonly subsys: DmaBufSubsys;
  /** Set once `release` ran (the model's use-after-put check). */
  released = false;
  /** `list_node` on `db_list`. */
  readonly list_node: list_head = new list_head(this);

  /** @internal Use {@linkcode dma_buf_export}. */
  constructor(subsys: DmaBufSubsys, info: dma_buf_export_info) {
    this.subsys = subsys;
    this.size = info.size;
    this.ops = info.ops;
    this.priv = info.priv;
    this.exp_name = info.exp_name;
    this.resv = info.resv ?? [];
    // dma_buf_getfile(): anon inode on the dmabuf mount with its own inode counter.
    const ino: inode = {
      i_ino: ++subsys.dmabuf_inode,
      kind: "anon",
      i_size: info.size,
      mnt_id: subsys.mnt_id,
    };
    const flags = info.flags & (O_ACCMODE | O_NONBLOCK);
    this.file = new file(
      dma_buf_fops,
      ino,
      flags,
      OPEN_FMODE(flags) | FMODE_LSEEK | FMODE_OPENED,
      () => dmabuffs_dname(this),
      this,
    );
  }
}

/** `is_dma_buf_file(file)`. */
export function is_dma_buf_file(f: file): boolean {
  return f.f_op === dma_buf_fops;
}

// Copies from or to a dma-buf mapping count as payload (see `uaccess_payload_bytes`).
uaccess_count_payload(is_dma_buf_file);

/** `dmabuffs_dname`: `/dmabuf:<name>`. */
function dmabuffs_dname(d: dma_buf): string {
  return `/dmabuf:${d.name ?? ""}`;
}

function check_live(d: dma_buf, func: string): void {
  if (d.released) {
    d.subsys.sink.WARN(
      "use-after-put",
      SRC,
      func,
      `use of dma_buf (ino ${d.file.f_inode.i_ino}) after its last reference was put`,
    );
  }
}

/**
 * `dma_buf_export(exp_info)`: wraps an exporter's buffer in a dma_buf with a file (one
 * reference, owned by the caller) and adds it to `db_list`.
 *
 * @throws {KernelError} EINVAL when a required op or `priv` is missing.
 */
export function dma_buf_export(subsys: DmaBufSubsys, info: dma_buf_export_info): dma_buf {
  const ops = info.ops;
  if (!info.priv || !ops || !ops.map_dma_buf || !ops.unmap_dma_buf || !ops.release) {
    fail(Errno.EINVAL, "dma_buf_export: incomplete export info");
  }
  const d = new dma_buf(subsys, info);
  list_add(d.list_node, subsys.db_list);
  subsys.nr_buffers++;
  subsys.sysfs_stats?.set(d.file.f_inode.i_ino, d); // dma_buf_stats_setup()
  return d;
}

/**
 * `dma_buf_fd(dmabuf, flags)`: installs the buffer's file (moving the caller's reference) at
 * the lowest free fd of `current`.
 *
 * @throws {KernelError} EMFILE when the fd table is full.
 */
export function dma_buf_fd(current: Task, d: dma_buf, flags: number): number {
  return current.files.fd_install(d.file, (flags & O_CLOEXEC) !== 0);
}

/**
 * `dma_buf_get(fd)`: the dma_buf behind `fd` of `current`, with a new file reference.
 *
 * @throws {KernelError} EBADF for a closed fd, EINVAL when it is not a dma-buf.
 */
export function dma_buf_get(current: Task, fd: number): dma_buf {
  const f = current.files.fget(fd);
  if (!f) fail(Errno.EBADF);
  if (!is_dma_buf_file(f)) {
    fput(f);
    fail(Errno.EINVAL);
  }
  return f.private_data as dma_buf;
}

/** `dma_buf_put(dmabuf)`: drops a file reference; the last one releases the buffer. */
export function dma_buf_put(d: dma_buf): void {
  check_live(d, "dma_buf_put");
  if (d.released) return;
  fput(d.file);
}

/** `get_dma_buf(dmabuf)`: takes a file reference. */
export function get_dma_buf(d: dma_buf): void {
  check_live(d, "get_dma_buf");
  d.file.f_count++;
}

/**
 * `dma_buf_attach(dmabuf, dev)`.
 *
 * @throws {KernelError} Whatever the exporter's `attach` throws (ENOMEM).
 */
export function dma_buf_attach(d: dma_buf, dev: device): dma_buf_attachment {
  check_live(d, "dma_buf_attach");
  const a: dma_buf_attachment = { dmabuf: d, dev, priv: null, mapped: 0, detached: false };
  d.ops.attach?.(d, a);
  d.attachments.push(a);
  return a;
}

/** `dma_buf_detach(dmabuf, attach)`. */
export function dma_buf_detach(d: dma_buf, a: dma_buf_attachment): void {
  check_live(d, "dma_buf_detach");
  if (a.dmabuf !== d || a.detached) {
    d.subsys.sink.WARN(
      "map-after-detach",
      SRC,
      "dma_buf_detach",
      "detach of a detached attachment",
    );
    return;
  }
  if (a.mapped > 0) {
    d.subsys.sink.WARN(
      "detach-while-mapped",
      SRC,
      "dma_buf_detach",
      `detach of ${a.dev.name} with ${a.mapped} live mapping(s)`,
    );
  }
  d.attachments.splice(d.attachments.indexOf(a), 1);
  try {
    d.ops.detach?.(d, a); // may throw in strict sanitizer mode (udmabuf's cached mapping)
  } finally {
    a.detached = true;
  }
}

/**
 * `dma_buf_map_attachment(attach, direction)`: the exporter's sg table for the device.
 *
 * @throws {KernelError} What the exporter throws (ENOMEM).
 */
export function dma_buf_map_attachment(a: dma_buf_attachment, dir: number): sg_table {
  check_live(a.dmabuf, "dma_buf_map_attachment");
  if (a.detached) {
    a.dmabuf.subsys.sink.WARN(
      "map-after-detach",
      SRC,
      "dma_buf_map_attachment",
      `map of a detached attachment (${a.dev.name})`,
    );
    // Linux would hand freed memory to the exporter; the model refuses.
    fail(Errno.EINVAL);
  }
  const sgt = a.dmabuf.ops.map_dma_buf(a, dir);
  a.mapped++;
  return sgt;
}

/** `dma_buf_unmap_attachment(attach, sg_table, direction)`. */
export function dma_buf_unmap_attachment(a: dma_buf_attachment, sgt: sg_table, dir: number): void {
  check_live(a.dmabuf, "dma_buf_unmap_attachment");
  if (a.detached) {
    a.dmabuf.subsys.sink.WARN(
      "map-after-detach",
      SRC,
      "dma_buf_unmap_attachment",
      `unmap of a detached attachment (${a.dev.name})`,
    );
    return;
  }
  if (a.mapped <= 0) {
    a.dmabuf.subsys.sink.WARN(
      "map-unbalanced",
      SRC,
      "dma_buf_unmap_attachment",
      `unmap without a mapping (${a.dev.name})`,
    );
    return;
  }
  a.dmabuf.ops.unmap_dma_buf(a, sgt, dir);
  a.mapped--;
}

/**
 * `dma_buf_begin_cpu_access(dmabuf, dir)`: exporter op, then `__dma_buf_begin_cpu_access`'s
 * interruptible wait for the implicit fences (a write waits for every fence, a read for the
 * writers). With `current`, the wait runs the machine's pending kernel work until they signal
 * (see `workqueue.ts`); when no pending work is left, fences with their own expiry (vgem) are
 * slept for until they fire, and any other fence still unsignalled is EINTR, where Linux would
 * sleep until a signal arrives.
 *
 * @throws {KernelError} What the exporter throws; EINTR as above.
 */
export function dma_buf_begin_cpu_access(d: dma_buf, dir: number, current?: Task): void {
  check_live(d, "dma_buf_begin_cpu_access");
  d.ops.begin_cpu_access?.(d, dir);
  if (!current) return;
  const write = dir === DMA_BIDIRECTIONAL || dir === DMA_TO_DEVICE;
  const usage = dma_resv_usage_rw(write);
  const fences = dma_resv_get_fences(d.resv, usage);
  const done = () => fences.every(dma_fence_is_signaled);
  if (system_wq(current.machine).run_until(done)) return;
  // Nothing queued can signal them. Fences that expire by themselves (vgem's timer) end the
  // wait when they do: the caller sleeps until the last of them fires, as on Linux.
  const pending = fences.filter((f) => !dma_fence_is_signaled(f));
  if (pending.every((f) => f.timeout)) {
    const until = Math.max(...pending.map((f) => f.timeout!.expires));
    const ms = until - performance.now();
    if (ms > 0) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
    for (const f of pending) f.timeout?.fire();
  }
  if (!done()) fail(Errno.EINTR);
}

/**
 * `dma_buf_end_cpu_access(dmabuf, dir)`.
 *
 * @throws {KernelError} What the exporter throws (udmabuf: EINVAL without a begin).
 */
export function dma_buf_end_cpu_access(d: dma_buf, dir: number): void {
  check_live(d, "dma_buf_end_cpu_access");
  d.ops.end_cpu_access?.(d, dir);
}

/**
 * `dma_buf_vmap(dmabuf, map)`: a kernel mapping; the exporter is called for the first only.
 *
 * @throws {KernelError} EINVAL when the exporter cannot vmap.
 */
export function dma_buf_vmap(d: dma_buf): iosys_map {
  check_live(d, "dma_buf_vmap");
  if (!d.ops.vmap) fail(Errno.EINVAL);
  if (d.vmapping_counter > 0 && d.vmap_ptr) {
    d.vmapping_counter++;
    return d.vmap_ptr;
  }
  const map = d.ops.vmap(d);
  d.vmap_ptr = map;
  d.vmapping_counter = 1;
  return map;
}

/** `dma_buf_vunmap(dmabuf, map)`. */
export function dma_buf_vunmap(d: dma_buf, map: iosys_map): void {
  check_live(d, "dma_buf_vunmap");
  if (d.vmapping_counter === 0 || !d.vmap_ptr || d.vmap_ptr.vaddr !== map.vaddr) {
    d.subsys.sink.WARN(
      "vmap-unbalanced",
      SRC,
      "dma_buf_vunmap",
      `vunmap of 0x${map.vaddr.toString(16)} with vmapping_counter ${d.vmapping_counter}`,
    );
    return;
  }
  if (--d.vmapping_counter === 0) {
    d.ops.vunmap?.(d, map);
    d.vmap_ptr = null;
  }
}

/** `dma_buf_release()` (the file's last reference is gone). */
function dma_buf_release(d: dma_buf): void {
  if (d.vmapping_counter > 0) {
    d.subsys.sink.WARN(
      "vmapped-at-release",
      SRC,
      "dma_buf_release",
      `BUG_ON(dmabuf->vmapping_counter): released while vmapped ${d.vmapping_counter} time(s)`,
    );
  }
  if (d.attachments.length > 0) {
    d.subsys.sink.WARN(
      "attached-at-release",
      SRC,
      "dma_buf_release",
      `released with ${d.attachments.length} attachment(s)`,
    );
  }
  d.released = true;
  d.ops.release(d);
  list_del(d.list_node);
  d.subsys.nr_buffers--;
  d.subsys.sysfs_stats?.delete(d.file.f_inode.i_ino); // dma_buf_stats_teardown()
}

function dma_buf_llseek(f: file, offset: number, whence: number): number {
  const d = f.private_data as dma_buf;
  let base: number;
  if (whence === 2) base = d.size; // SEEK_END
  else if (whence === 0) base = 0; // SEEK_SET
  else fail(Errno.EINVAL);
  if (offset !== 0) fail(Errno.EINVAL);
  return base;
}

function dma_buf_mmap_internal(f: file, vma: vm_area_struct): void {
  const d = f.private_data as dma_buf;
  check_live(d, "dma_buf_mmap_internal");
  if (!d.ops.mmap) fail(Errno.EINVAL);
  const pages = (vma.vm_end - vma.vm_start) / 2 ** PAGE_SHIFT;
  if (vma.vm_pgoff + pages > d.size / 2 ** PAGE_SHIFT) fail(Errno.EINVAL);
  d.ops.mmap(d, vma);
}

/** `dma_buf_poll_cb`: a fence signalled; wake the pollers and drop the armed reference. */
function dma_buf_poll_cb(d: dma_buf, dcb: { active: number }): void {
  const key = dcb.active;
  dcb.active = 0;
  d.poll.wake_up(key);
  fput(d.file); // paired with get_file in dma_buf_poll
}

/**
 * `dma_buf_poll(file, poll)`: POLLOUT when every fence has signalled, POLLIN when every write
 * fence has. A bit not ready arms a callback on the first unsignalled fence, which holds a file
 * reference until it fires; while armed, that bit is withheld.
 */
function dma_buf_poll(f: file, requested: number, pt?: poll_table): number {
  const d = f.private_data as dma_buf;
  poll_wait(d.poll, pt);
  let events = (pt ? poll_requested_events(pt) : requested) & (POLLIN | POLLOUT);
  if (!events) return 0;
  for (const [bit, dcb, write] of [[POLLOUT, d.cb_out, true], [POLLIN, d.cb_in, false]] as const) {
    if (!(events & bit)) continue;
    if (dcb.active) {
      events &= ~bit;
      continue;
    }
    dcb.active = bit;
    get_dma_buf(d);
    const armed = dma_resv_add_cb_first(d.resv, dma_resv_usage_rw(write), () => {
      dma_buf_poll_cb(d, dcb);
    });
    if (armed) events &= ~bit;
    else dma_buf_poll_cb(d, dcb); // no callback queued: wake up any other waiters
  }
  return events;
}

/** Whether every fence a `write` (or read) access waits for has signalled. */
export function dma_buf_fences_signalled(d: dma_buf, write: boolean): boolean {
  return dma_resv_test_signaled(d.resv, dma_resv_usage_rw(write));
}

function dma_buf_show_fdinfo(f: file): string {
  const d = f.private_data as dma_buf;
  let s = `size:\t${d.size}\ncount:\t${f.f_count - 1}\nexp_name:\t${d.exp_name}\n`;
  if (d.name !== null) s += `name:\t${d.name}\n`;
  return s;
}

/** `dma_buf_fops`. */
export const dma_buf_fops: file_operations = {
  release: (_inode, f) => dma_buf_release(f.private_data as dma_buf),
  mmap: dma_buf_mmap_internal,
  llseek: dma_buf_llseek,
  poll: dma_buf_poll,
  unlocked_ioctl: dma_buf_ioctl,
  show_fdinfo: dma_buf_show_fdinfo,
};

function pad8(n: number, radix = 10): string {
  return n.toString(radix).padStart(8, "0");
}

/** `dma_buf_debug_show()`: the text of `/sys/kernel/debug/dma_buf/bufinfo`. */
export function dma_buf_debug_show(subsys: DmaBufSubsys): string {
  let s = "\nDma-buf Objects:\n";
  s += `${"size".padEnd(8)}\t${"flags".padEnd(8)}\t${"mode".padEnd(8)}\t${
    "count".padEnd(8)
  }\texp_name\t${"ino".padEnd(8)}\tname\n`;
  let count = 0, size = 0;
  for (let n = subsys.db_list.next; n !== subsys.db_list; n = n.next) {
    const d = n.owner!;
    const f = d.file;
    s += `${pad8(d.size)}\t${pad8(f.f_flags, 16)}\t${pad8(f.f_mode, 16)}\t${
      pad8(f.f_count)
    }\t${d.exp_name}\t${pad8(f.f_inode.i_ino)}\t${d.name ?? "<none>"}\n`;
    for (const r of d.resv) {
      s += `\t${r.usage} fence:${r.fence.driver} ${r.fence.timeline} seq ${r.fence.seqno} ${
        dma_fence_is_signaled(r.fence) ? "" : "un"
      }signalled\n`;
    }
    s += "\tAttached Devices:\n";
    for (const a of d.attachments) s += `\t${a.dev.name}\n`;
    s += `Total ${d.attachments.length} devices attached\n\n`;
    count++;
    size += d.size;
  }
  s += `\nTotal ${count} objects, ${size} bytes\n`;
  return s;
}
