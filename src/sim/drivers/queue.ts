/**
 * A queueing stage (one step of a zero-copy driver pipeline) on the test driver's misc devices, per
 * `src/uapi/queue_driver.ts`: user space puts dma-bufs on a stage's list with `TEST_QUEUE`, the
 * driver's kernel worker processes them asynchronously, and `TEST_DEQUEUE` takes them off the
 * done list; `poll` tells when. Each open file of `/dev/driverA` or `/dev/driverB` is one
 * independent stage.
 *
 * For each buffer the worker waits for the fences that were on the buffer when it was queued
 * (implicit sync, as a DRM scheduler job's dependencies), then imports it the way the test
 * driver does — attach, map the attachment (the DMA address), vmap, the op over every byte,
 * vunmap, unmap, detach — and signals the write fence it added to the buffer's reservation
 * object at QUEUE time. One buffer per work item, so user space runs between buffers.
 *
 * @module
 */
import { Errno, fail, KernelError } from "../errno.ts";
import type { file } from "../file_table.ts";
import type { Task } from "../sched.ts";
import type { MachineContext } from "../context.ts";
import { copy_from_user, copy_to_user } from "../uaccess.ts";
import type { miscdevice } from "../miscdevice.ts";
import type { CpuCache } from "../cache.ts";
import {
  DMA_BIDIRECTIONAL,
  type dma_buf,
  dma_buf_attach,
  dma_buf_detach,
  dma_buf_get,
  dma_buf_map_attachment,
  dma_buf_put,
  dma_buf_unmap_attachment,
  dma_buf_vmap,
  dma_buf_vunmap,
  type sg_table,
} from "../dma_buf.ts";
import {
  dma_fence,
  dma_fence_add_callback,
  dma_fence_context_alloc,
  dma_fence_is_signaled,
  dma_fence_set_error,
  dma_fence_signal,
} from "../dma_fence.ts";
import { dma_resv_add_fence, dma_resv_get_fences } from "../dma_resv.ts";
import { type poll_table, poll_wait, wait_queue_head } from "../wait.ts";
import { system_wq } from "../workqueue.ts";
import { POLLIN, POLLOUT } from "../../uapi/constants.ts";
import {
  TEST_OP_INCREMENT,
  TEST_OP_INVERT,
  TEST_OP_NONE,
  test_qbuf,
  TEST_QUEUE_DEPTH,
} from "../../uapi/queue_driver.ts";

/** One buffer held by a stage. */
interface test_qitem {
  readonly dmabuf: dma_buf;
  readonly op: number;
  readonly cookie: bigint;
  /** The write fence this stage added at QUEUE time. */
  readonly fence: dma_fence;
  /** Fences that were on the buffer before: processing waits for them. */
  readonly deps: readonly dma_fence[];
  dma_addr: bigint;
  checksum: number;
  status: number;
}

/** A stage: the state of one open file of a test-driver device. */
export interface test_queue {
  /** The device (what attachments are made for). */
  readonly misc: miscdevice;
  /** The machine (its worker). */
  readonly machine: MachineContext;
  /** Waiting for the worker, oldest first. */
  readonly queued: test_qitem[];
  /** Processed, oldest first. */
  readonly done: test_qitem[];
  /** Woken when a buffer is done and when one leaves (POLLIN / POLLOUT). */
  readonly wq: wait_queue_head;
  /** This stage's fence context; one seqno per QUEUE. */
  readonly context: number;
  seqno: number;
  /** Whether a work item is queued on `system_wq`. */
  work_pending: boolean;
  /** Set by release: the worker stops. */
  released: boolean;
}

const queues = new WeakMap<file, test_queue>();

/** Buffers a stage holds (queued + in flight + done). */
function held(q: test_queue): number {
  return q.queued.length + q.done.length;
}

/** `open`: a new, empty stage for the file. */
export function test_queue_open(m: MachineContext, f: file): void {
  queues.set(f, {
    misc: f.private_data as miscdevice,
    machine: m,
    queued: [],
    done: [],
    wq: new wait_queue_head(),
    context: dma_fence_context_alloc(),
    seqno: 0,
    work_pending: false,
    released: false,
  });
}

/** The stage of an open file of the device. */
function stage_of(f: file): test_queue {
  const q = queues.get(f);
  if (!q) fail(Errno.EINVAL);
  return q;
}

/** Applies the op to every byte and returns the sum of the bytes after it, mod 2^32. */
function op_apply(op: number, bytes: Uint8Array): number {
  const words = bytes.byteOffset % 4 === 0 ? bytes.length >>> 2 : 0;
  const w = new Uint32Array(bytes.buffer, bytes.byteOffset, words);
  let sum = 0;
  // Four bytes per word; the byte sum goes through two 16-bit lanes (bytes 0+1 and 2+3 of
  // `(x & 0x00ff00ff) + ((x >>> 8) & 0x00ff00ff)`), folded every 128 words before they overflow.
  for (let i = 0; i < words;) {
    const end = Math.min(words, i + 128);
    let lanes = 0;
    if (op === TEST_OP_INVERT) {
      for (; i < end; i++) {
        const x = ~w[i];
        w[i] = x;
        lanes += (x & 0x00ff00ff) + ((x >>> 8) & 0x00ff00ff);
      }
    } else if (op === TEST_OP_INCREMENT) {
      for (; i < end; i++) {
        const v = w[i];
        // No carry between bytes: the low 7 bits add, the top bit toggles.
        const x = ((v & 0x7f7f7f7f) + 0x01010101) ^ (v & 0x80808080);
        w[i] = x;
        lanes += (x & 0x00ff00ff) + ((x >>> 8) & 0x00ff00ff);
      }
    } else {
      for (; i < end; i++) {
        const x = w[i];
        lanes += (x & 0x00ff00ff) + ((x >>> 8) & 0x00ff00ff);
      }
    }
    sum += (lanes & 0xffff) + (lanes >>> 16);
  }
  for (let i = words * 4; i < bytes.length; i++) {
    if (op === TEST_OP_INVERT) bytes[i] ^= 0xff;
    else if (op === TEST_OP_INCREMENT) bytes[i] = (bytes[i] + 1) & 0xff;
    sum += bytes[i];
  }
  return sum % 2 ** 32;
}

/**
 * The memory behind a mapped sg table when a CPU cache stands in front of it (non-coherent
 * machine), segment by segment; null when the CPU is coherent with it (the op then runs over
 * the vmap, the same bytes).
 */
function dma_segments(
  m: MachineContext,
  sgt: sg_table,
): { bytes: Uint8Array; offset: number; cache: CpuCache }[] | null {
  const segs = [];
  for (const sg of sgt.entries) {
    // An entry may span several memory objects' pages (a udmabuf's pages from two memfds that
    // happen to be physically adjacent): one segment per physical extent.
    for (let addr = sg.dma_address, end = sg.dma_address + sg.length; addr < end;) {
      const e = m.physmap.lookup(addr);
      const cache = e?.store.cpu_cache;
      if (!e || !cache) return null;
      const offset = e.offset + (addr - e.phys);
      const length = Math.min(end, e.phys + e.length) - addr;
      segs.push({ bytes: new Uint8Array(e.store.current, offset, length), offset, cache });
      addr += length;
    }
  }
  return segs.length ? segs : null;
}

/** The device's work on one buffer, imported as the test driver imports it. */
function test_queue_process(q: test_queue, it: test_qitem): void {
  const d = it.dmabuf;
  const attachment = dma_buf_attach(d, q.misc.this_device!);
  try {
    const sgt = dma_buf_map_attachment(attachment, DMA_BIDIRECTIONAL);
    try {
      it.dma_addr = BigInt(sgt.entries[0]?.dma_address ?? 0);
      const dma = dma_segments(q.machine, sgt);
      if (dma) {
        // A non-coherent CPU: the op is the device's DMA, on memory through the sg table (a
        // vmap is a CPU alias, whose writes the unmap's invalidation would discard).
        let sum = 0;
        for (const seg of dma) {
          seg.cache.device_read(seg.offset, seg.offset + seg.bytes.length, `${q.misc.name}'s DMA`);
          seg.cache.device_will_write(seg.offset, seg.offset + seg.bytes.length);
          sum = (sum + op_apply(it.op, seg.bytes)) % 2 ** 32;
          seg.cache.device_write(seg.offset, seg.offset + seg.bytes.length, `${q.misc.name}'s DMA`);
        }
        it.checksum = sum;
      } else {
        const map = dma_buf_vmap(d);
        try {
          it.checksum = op_apply(it.op, map.bytes);
        } finally {
          dma_buf_vunmap(d, map);
        }
      }
    } finally {
      dma_buf_unmap_attachment(attachment, sgt, DMA_BIDIRECTIONAL);
    }
  } finally {
    dma_buf_detach(d, attachment);
  }
}

/** The stage's work item: the oldest queued buffer, once its dependencies have signalled. */
function test_queue_work(q: test_queue): void {
  q.work_pending = false;
  if (q.released || q.queued.length === 0) return;
  const it = q.queued[0];
  const dep = it.deps.find((f) => !dma_fence_is_signaled(f));
  if (dep) {
    // Run again when it signals (the callback queues the work; no polling).
    q.work_pending = true;
    dma_fence_add_callback(dep, () => {
      q.work_pending = false;
      schedule(q);
    });
    return;
  }
  q.queued.shift();
  // Anything else thrown (a strict-mode CoherencyViolation from the DMA map, a bug of the model)
  // fails this job with EIO and goes to the workqueue's log after the job is done: a job left
  // unfinished would never signal its fence, and every waiter would hang.
  let fault: unknown = undefined;
  try {
    test_queue_process(q, it);
  } catch (e) {
    const errno = e instanceof KernelError ? e.errno : Errno.EIO;
    if (!(e instanceof KernelError)) fault = e;
    it.status = -errno;
    dma_fence_set_error(it.fence, -errno);
  }
  q.done.push(it);
  dma_fence_signal(it.fence);
  q.wq.wake_up(POLLIN);
  schedule(q);
  if (fault !== undefined) throw fault;
}

function schedule(q: test_queue): void {
  if (q.work_pending || q.released || q.queued.length === 0) return;
  q.work_pending = true;
  system_wq(q.machine).queue_work(() => test_queue_work(q));
}

function queue(q: test_queue, arg: number, current: Task): number {
  const b = copy_from_user(current, arg, test_qbuf.size);
  const v = new DataView(b.buffer);
  const fd = v.getInt32(test_qbuf.fd, true);
  const op = v.getUint32(test_qbuf.op, true);
  if (op !== TEST_OP_NONE && op !== TEST_OP_INVERT && op !== TEST_OP_INCREMENT) {
    fail(Errno.EINVAL);
  }
  const dmabuf = dma_buf_get(current, fd);
  if (held(q) >= TEST_QUEUE_DEPTH) {
    dma_buf_put(dmabuf);
    fail(Errno.EBUSY);
  }
  // The job's dependencies: every fence a writer must wait for, taken before adding its own.
  const deps = dma_resv_get_fences(dmabuf.resv, "read").filter((f) => !dma_fence_is_signaled(f));
  const fence = new dma_fence(`test_driver`, q.misc.name, q.context, ++q.seqno);
  dma_resv_add_fence(dmabuf.resv, fence, "write");
  q.queued.push({
    dmabuf,
    op,
    cookie: v.getBigUint64(test_qbuf.cookie, true),
    fence,
    deps,
    dma_addr: 0n,
    checksum: 0,
    status: 0,
  });
  schedule(q);
  return 0;
}

function dequeue(q: test_queue, arg: number, current: Task): number {
  const it = q.done[0];
  if (!it) fail(Errno.EAGAIN);
  const b = new Uint8Array(test_qbuf.size);
  const v = new DataView(b.buffer);
  v.setInt32(test_qbuf.fd, -1, true);
  v.setUint32(test_qbuf.op, it.op, true);
  v.setBigUint64(test_qbuf.cookie, it.cookie, true);
  v.setBigUint64(test_qbuf.dma_addr, it.dma_addr, true);
  v.setUint32(test_qbuf.checksum, it.checksum, true);
  v.setInt32(test_qbuf.status, it.status, true);
  copy_to_user(current, arg, b); // EFAULT: the buffer stays on the done list
  q.done.shift();
  dma_buf_put(it.dmabuf);
  q.wq.wake_up(POLLOUT);
  return 0;
}

/** The stage's ioctls: `TEST_QUEUE` and `TEST_DEQUEUE`. */
export function test_queue_ioctl(
  f: file,
  cmd: "queue" | "dequeue",
  arg: number,
  current: Task,
): number {
  const q = stage_of(f);
  return cmd === "queue" ? queue(q, arg, current) : dequeue(q, arg, current);
}

/** `poll`: POLLIN while a done buffer waits, POLLOUT while the stage has room. */
export function test_queue_poll(f: file, _events: number, pt?: poll_table): number {
  const q = queues.get(f);
  if (!q) return 0;
  poll_wait(q.wq, pt);
  return (q.done.length > 0 ? POLLIN : 0) | (held(q) < TEST_QUEUE_DEPTH ? POLLOUT : 0);
}

/**
 * `release`: drops every buffer the stage still holds. Buffers not yet processed have their
 * fence signalled with `-ECANCELED`, so nobody waits for them forever.
 */
export function test_queue_release(f: file): void {
  const q = queues.get(f);
  if (!q) return;
  q.released = true;
  for (const it of q.queued.splice(0)) {
    dma_fence_set_error(it.fence, -Errno.ECANCELED);
    dma_fence_signal(it.fence);
    dma_buf_put(it.dmabuf);
  }
  for (const it of q.done.splice(0)) dma_buf_put(it.dmabuf);
  q.wq.wake_up(0);
  queues.delete(f);
}
