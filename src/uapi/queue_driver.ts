/**
 * ABI of a queueing stage of a zero-copy driver pipeline, implemented by the test driver's misc
 * devices (`/dev/driverA`, `/dev/driverB`) both in the simulated kernel
 * (`src/sim/drivers/`) and in the project's real kernel module. Each open file of a
 * device is one independent stage with its own queues, so any number of stages can be chained.
 *
 * ```c
 * struct test_qbuf {
 *   __s32 fd;        // @0  QUEUE in: a dma-buf fd (the driver takes a reference)
 *   __u32 op;        // @4  QUEUE in: TEST_OP_*
 *   __u64 cookie;    // @8  QUEUE in, DEQUEUE out: the caller's tag for the buffer
 *   __u64 dma_addr;  // @16 DEQUEUE out: DMA address of the buffer's first sg entry
 *   __u32 checksum;  // @24 DEQUEUE out: sum of the buffer's bytes after the op, mod 2^32
 *   __s32 status;    // @28 DEQUEUE out: 0, or -errno if processing failed
 * };                 // 32 bytes
 * #define TEST_QUEUE   _IOW('T', 0x10, struct test_qbuf)  // 0x40205410
 * #define TEST_DEQUEUE _IOR('T', 0x11, struct test_qbuf)  // 0x80205411
 * ```
 *
 * QUEUE: `dma_buf_get(fd)` (EBADF/EINVAL as the kernel's), EBUSY when the stage already holds
 * `TEST_QUEUE_DEPTH` buffers (queued, in flight or done), EINVAL for an unknown op. The driver then processes the
 * buffer asynchronously (a kernel worker: attach, map the attachment, vmap, apply the op over the
 * whole buffer, vunmap, detach), with a write fence on the buffer's reservation object while it
 * works, and moves it to the done list. DEQUEUE takes the oldest done buffer, drops the driver's
 * reference and fills the struct; EAGAIN when none is done. `poll`: POLLIN while a done buffer
 * waits, POLLOUT while it holds fewer than
 * `TEST_QUEUE_DEPTH`. Releasing the file
 * drops every buffer still held (a buffer not yet processed has its fence signalled with
 * `-ECANCELED`).
 *
 * Order of the QUEUE checks (so both implementations give the same errno for the same input):
 * `copy_from_user` (EFAULT), the op (EINVAL), `dma_buf_get` (EBADF, EINVAL), the depth (EBUSY,
 * the reference dropped again). DEQUEUE: EAGAIN when nothing is done, then `copy_to_user`
 * (EFAULT: the buffer stays on the done list). DEQUEUE writes `fd` as -1 and `op` as queued.
 *
 * @module
 */
import { _IOR, _IOW } from "./ioctl.ts";

/** `struct test_qbuf` layout (32 bytes). */
export const test_qbuf = {
  size: 32,
  fd: 0,
  op: 4,
  cookie: 8,
  dma_addr: 16,
  checksum: 24,
  status: 28,
} as const;
/** Pass the buffer through untouched (checksum still computed). */
export const TEST_OP_NONE = 0;
/** Invert every byte (`b ^= 0xff`). */
export const TEST_OP_INVERT = 1;
/** Add 1 to every byte (mod 256). */
export const TEST_OP_INCREMENT = 2;
/** Buffers one stage holds at most (queued + in flight + done). */
export const TEST_QUEUE_DEPTH = 64;
/** `TEST_QUEUE = _IOW('T', 0x10, struct test_qbuf)` = 0x40205410. */
export const TEST_QUEUE: number = _IOW("T", 0x10, test_qbuf.size);
/** `TEST_DEQUEUE = _IOR('T', 0x11, struct test_qbuf)` = 0x80205411. */
export const TEST_DEQUEUE: number = _IOR("T", 0x11, test_qbuf.size);
