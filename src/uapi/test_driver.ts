/**
 * ABI of the test importer driver (misc devices `/dev/driverA` and `/dev/driverB`), shared
 * by the simulated driver (`src/sim/drivers/`) and the real kernel module (`tools/kernel/module/`).
 *
 * ```c
 * struct buf_info { int fd; char *buf; unsigned int size; };   // LP64: 24 bytes
 * #define TEST_DRIVERA _IOW('T', 0xA, struct buf_info)
 * #define TEST_DRIVERB _IOW('T', 0xB, struct buf_info)
 * ```
 *
 * @module
 */
import { _IOW } from "./ioctl.ts";

/** `struct buf_info` on LP64: `int fd @0; (pad 4); char *buf @8; unsigned int size @16; (pad 4)`. */
export const buf_info = { size: 24, fd: 0, buf: 8, size_: 16 } as const;
/** Magic byte of the test driver's ioctls. */
export const TEST_IOC_MAGIC = "T";
/** `TEST_DRIVERA = _IOW('T', 0xA, struct buf_info)` = 0x4018540A. */
export const TEST_DRIVERA: number = _IOW(TEST_IOC_MAGIC, 0xa, buf_info.size);
/** `TEST_DRIVERB = _IOW('T', 0xB, struct buf_info)` = 0x4018540B. */
export const TEST_DRIVERB: number = _IOW(TEST_IOC_MAGIC, 0xb, buf_info.size);
/** The strings the drivers write through their vmap. */
export const DRIVER_A_STRING = "driverA kernel space!";
/** Driver B's string. */
export const DRIVER_B_STRING = "driverB kernel space!";
