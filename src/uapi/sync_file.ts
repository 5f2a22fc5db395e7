/**
 * `include/uapi/linux/sync_file.h` (6.12) and the sw_sync debugfs ioctls of
 * `drivers/dma-buf/sw_sync.c` (not in any uapi header: the driver defines them).
 *
 * @module
 */
import { _IOW, _IOWR } from "./ioctl.ts";

/** `struct sync_merge_data { char name[32]; __s32 fd2; __s32 fence; __u32 flags; __u32 pad; }`. */
export const sync_merge_data = {
  size: 48,
  name: 0,
  fd2: 32,
  fence: 36,
  flags: 40,
  pad: 44,
} as const;
/**
 * `struct sync_fence_info { char obj_name[32]; char driver_name[32]; __s32 status; __u32 flags;
 * __u64 timestamp_ns; }` (80 bytes).
 */
export const sync_fence_info = {
  size: 80,
  obj_name: 0,
  driver_name: 32,
  status: 64,
  flags: 68,
  timestamp_ns: 72,
} as const;
/**
 * `struct sync_file_info { char name[32]; __s32 status; __u32 flags; __u32 num_fences;
 * __u32 pad; __u64 sync_fence_info; }` (56 bytes).
 */
export const sync_file_info = {
  size: 56,
  name: 0,
  status: 32,
  flags: 36,
  num_fences: 40,
  pad: 44,
  sync_fence_info: 48,
} as const;
/** `struct sync_set_deadline { __u64 deadline_ns; __u64 pad; }` (16 bytes). */
export const sync_set_deadline = { size: 16, deadline_ns: 0, pad: 8 } as const;
/** `SYNC_IOC_MAGIC` = `'>'`. */
export const SYNC_IOC_MAGIC = ">";
/** `SYNC_IOC_MERGE = _IOWR('>', 3, struct sync_merge_data)` = 0xC0303E03. */
export const SYNC_IOC_MERGE: number = _IOWR(SYNC_IOC_MAGIC, 3, sync_merge_data.size);
/** `SYNC_IOC_FILE_INFO = _IOWR('>', 4, struct sync_file_info)` = 0xC0383E04. */
export const SYNC_IOC_FILE_INFO: number = _IOWR(SYNC_IOC_MAGIC, 4, sync_file_info.size);
/** `SYNC_IOC_SET_DEADLINE = _IOW('>', 5, struct sync_set_deadline)` = 0x40103E05 (6.6+). */
export const SYNC_IOC_SET_DEADLINE: number = _IOW(SYNC_IOC_MAGIC, 5, sync_set_deadline.size);

/**
 * `struct sw_sync_create_fence_data { __u32 value; char name[32]; __s32 fence; }` (40 bytes).
 * 6.12 ignores `name`: the sync_file is named after its fence.
 */
export const sw_sync_create_fence_data = { size: 40, value: 0, name: 4, fence: 36 } as const;
/** `SW_SYNC_IOC_CREATE_FENCE = _IOWR('W', 0, struct sw_sync_create_fence_data)` = 0xC0285700. */
export const SW_SYNC_IOC_CREATE_FENCE: number = _IOWR("W", 0, sw_sync_create_fence_data.size);
/** `SW_SYNC_IOC_INC = _IOW('W', 1, __u32)` = 0x40045701. */
export const SW_SYNC_IOC_INC: number = _IOW("W", 1, 4);
/** `struct sw_sync_get_deadline { __u64 deadline_ns; __u32 pad; __s32 fence_fd; }` (16 bytes). */
export const sw_sync_get_deadline = { size: 16, deadline_ns: 0, pad: 8, fence_fd: 12 } as const;
/** `SW_SYNC_GET_DEADLINE = _IOWR('W', 2, struct sw_sync_get_deadline)` = 0xC0105702 (6.6+). */
export const SW_SYNC_GET_DEADLINE: number = _IOWR("W", 2, sw_sync_get_deadline.size);
/** Where debugfs puts the sw_sync timeline file (`CONFIG_SW_SYNC`). */
export const SW_SYNC_PATH = "/sys/kernel/debug/sync/sw_sync";
