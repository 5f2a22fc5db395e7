/**
 * `include/uapi/linux/dma-heap.h`: the one allocation ioctl of a dma-heap.
 *
 * @module
 */
import { _IOWR } from "./ioctl.ts";
import { O_ACCMODE, O_CLOEXEC } from "./constants.ts";

/**
 * `struct dma_heap_allocation_data` (24 bytes, no padding, same on ILP32):
 * `__u64 len @0; __u32 fd @8; __u32 fd_flags @12; __u64 heap_flags @16`.
 */
export const dma_heap_allocation_data = {
  size: 24,
  len: 0,
  fd: 8,
  fd_flags: 12,
  heap_flags: 16,
} as const;

/** `DMA_HEAP_IOC_MAGIC`. */
export const DMA_HEAP_IOC_MAGIC = "H";
/** `DMA_HEAP_IOCTL_ALLOC = _IOWR('H', 0, struct dma_heap_allocation_data)` = 0xC0184800. */
export const DMA_HEAP_IOCTL_ALLOC: number = _IOWR(
  DMA_HEAP_IOC_MAGIC,
  0,
  dma_heap_allocation_data.size,
);
/** fd flags a heap accepts: `O_CLOEXEC | O_ACCMODE` (0x80003). */
export const DMA_HEAP_VALID_FD_FLAGS = O_CLOEXEC | O_ACCMODE;
/** heap flags a heap accepts: none. */
export const DMA_HEAP_VALID_HEAP_FLAGS = 0;
/** `NUM_HEAP_MINORS`: at most 128 heaps exist at once. */
export const NUM_HEAP_MINORS = 128;
/** Where heaps appear. */
export const DMA_HEAP_DIR = "/dev/dma_heap";
