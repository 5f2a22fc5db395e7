/**
 * `include/uapi/linux/udmabuf.h`: turn memfd pages into a dma-buf.
 *
 * @module
 */
import { _IOW } from "./ioctl.ts";

/** Set `O_CLOEXEC` on the returned fd. */
export const UDMABUF_FLAGS_CLOEXEC = 0x01;
/** `struct udmabuf_create { __u32 memfd; __u32 flags; __u64 offset; __u64 size; }` (24 bytes). */
export const udmabuf_create = { size: 24, memfd: 0, flags: 4, offset: 8, size_: 16 } as const;
/** `struct udmabuf_create_item { __u32 memfd; __u32 __pad; __u64 offset; __u64 size; }`. */
export const udmabuf_create_item = { size: 24, memfd: 0, offset: 8, size_: 16 } as const;
/** `struct udmabuf_create_list { __u32 flags; __u32 count; struct udmabuf_create_item list[]; }`. */
export const udmabuf_create_list = { size: 8, flags: 0, count: 4, list: 8 } as const;
/** `UDMABUF_CREATE = _IOW('u', 0x42, struct udmabuf_create)` = 0x40187542. */
export const UDMABUF_CREATE: number = _IOW("u", 0x42, udmabuf_create.size);
/** `UDMABUF_CREATE_LIST = _IOW('u', 0x43, struct udmabuf_create_list)` = 0x40087543. */
export const UDMABUF_CREATE_LIST: number = _IOW("u", 0x43, udmabuf_create_list.size);
/** Module parameter `list_limit`: most items in one CREATE_LIST. */
export const UDMABUF_LIST_LIMIT = 1024;
/** Module parameter `size_limit_mb`: largest udmabuf, in MiB. */
export const UDMABUF_SIZE_LIMIT_MB = 64;
