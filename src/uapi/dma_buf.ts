/**
 * `include/uapi/linux/dma-buf.h` (identical in 6.1 and 6.12).
 *
 * @module
 */
import { _IOW, _IOWR } from "./ioctl.ts";

/** `struct dma_buf_sync { __u64 flags; }` (8 bytes). */
export const dma_buf_sync = { size: 8, flags: 0 } as const;
/** `struct dma_buf_export_sync_file { __u32 flags; __s32 fd; }` (8 bytes). */
export const dma_buf_export_sync_file = { size: 8, flags: 0, fd: 4 } as const;
/** `struct dma_buf_import_sync_file { __u32 flags; __s32 fd; }` (8 bytes). */
export const dma_buf_import_sync_file = { size: 8, flags: 0, fd: 4 } as const;

/** CPU access for reading. */
export const DMA_BUF_SYNC_READ = 1 << 0;
/** CPU access for writing. */
export const DMA_BUF_SYNC_WRITE = 2 << 0;
/** CPU access for reading and writing. */
export const DMA_BUF_SYNC_RW = DMA_BUF_SYNC_READ | DMA_BUF_SYNC_WRITE;
/** Begin CPU access. */
export const DMA_BUF_SYNC_START = 0 << 2;
/** End CPU access. */
export const DMA_BUF_SYNC_END = 1 << 2;
/** Every flag the kernel accepts (7). */
export const DMA_BUF_SYNC_VALID_FLAGS_MASK = DMA_BUF_SYNC_RW | DMA_BUF_SYNC_END;
/** Names hold at most 31 bytes plus the terminating NUL. */
export const DMA_BUF_NAME_LEN = 32;

/** `DMA_BUF_BASE`. */
export const DMA_BUF_BASE = "b";
/** `DMA_BUF_IOCTL_SYNC = _IOW('b', 0, struct dma_buf_sync)` = 0x40086200. */
export const DMA_BUF_IOCTL_SYNC: number = _IOW(DMA_BUF_BASE, 0, dma_buf_sync.size);
/** `DMA_BUF_SET_NAME_A = _IOW('b', 1, __u32)` = 0x40046201 (32-bit user space). */
export const DMA_BUF_SET_NAME_A: number = _IOW(DMA_BUF_BASE, 1, 4);
/** `DMA_BUF_SET_NAME_B = _IOW('b', 1, __u64)` = 0x40086201 (64-bit user space). */
export const DMA_BUF_SET_NAME_B: number = _IOW(DMA_BUF_BASE, 1, 8);
/** `DMA_BUF_IOCTL_EXPORT_SYNC_FILE` = 0xC0086202. */
export const DMA_BUF_IOCTL_EXPORT_SYNC_FILE: number = _IOWR(
  DMA_BUF_BASE,
  2,
  dma_buf_export_sync_file.size,
);
/** `DMA_BUF_IOCTL_IMPORT_SYNC_FILE` = 0x40086203. */
export const DMA_BUF_IOCTL_IMPORT_SYNC_FILE: number = _IOW(
  DMA_BUF_BASE,
  3,
  dma_buf_import_sync_file.size,
);

/** `DMA_BUF_MAGIC` of the dmabuf pseudo file system. */
export const DMA_BUF_MAGIC = 0x444d4142;
