/**
 * The Linux user-space ABI the library speaks: ioctl encoding, request numbers, struct layouts
 * and constants, for experts who drive the syscall boundary directly.
 *
 * @example Request numbers match the kernel headers
 * ```ts
 * import { DMA_HEAP_IOCTL_ALLOC, DMA_BUF_IOCTL_SYNC } from "@dmabuf/dmabuf/uapi";
 * import assert from "node:assert/strict";
 *
 * assert.equal(DMA_HEAP_IOCTL_ALLOC, 0xC0184800);
 * assert.equal(DMA_BUF_IOCTL_SYNC, 0x40086200);
 * ```
 *
 * @module
 */
export * from "./ioctl.ts";
export * from "./constants.ts";
export * from "./errno.ts";
export * from "./dma_heap.ts";
export * from "./dma_buf.ts";
export * from "./udmabuf.ts";
export * from "./test_driver.ts";
export * from "./queue_driver.ts";
export * from "./socket.ts";
export * from "./drm.ts";
export * from "./sync_file.ts";
export * from "./videodev2.ts";
