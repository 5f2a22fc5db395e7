/**
 * ioctl request encoding from `include/uapi/asm-generic/ioctl.h` (x86_64 and arm64).
 *
 * `_IOC(dir, type, nr, size) = dir << 30 | size << 16 | type << 8 | nr`. Results are unsigned
 * 32-bit numbers: the kernel takes `unsigned int cmd`, so that is all an ioctl request needs.
 *
 * @module
 */

/** No data transfer. */
export const _IOC_NONE = 0;
/** User space writes, the kernel reads. */
export const _IOC_WRITE = 1;
/** The kernel writes, user space reads. */
export const _IOC_READ = 2;

/** `IOC_IN`: the request copies data from user space. */
export const IOC_IN = 0x40000000;
/** `IOC_OUT`: the request copies data back to user space. */
export const IOC_OUT = 0x80000000;

function code(type: string | number): number {
  return typeof type === "number" ? type : type.charCodeAt(0);
}

/** Encodes an ioctl request number. */
export function _IOC(dir: number, type: string | number, nr: number, size: number): number {
  return ((dir << 30) | ((size & 0x3fff) << 16) | (code(type) << 8) | nr) >>> 0;
}

/** `_IO(type, nr)`: a request without an argument. */
export function _IO(type: string | number, nr: number): number {
  return _IOC(_IOC_NONE, type, nr, 0);
}

/** `_IOW(type, nr, size)`: user space passes `size` bytes in. */
export function _IOW(type: string | number, nr: number, size: number): number {
  return _IOC(_IOC_WRITE, type, nr, size);
}

/** `_IOR(type, nr, size)`: the kernel passes `size` bytes out. */
export function _IOR(type: string | number, nr: number, size: number): number {
  return _IOC(_IOC_READ, type, nr, size);
}

/** `_IOWR(type, nr, size)`: `size` bytes in and back out. */
export function _IOWR(type: string | number, nr: number, size: number): number {
  return _IOC(_IOC_READ | _IOC_WRITE, type, nr, size);
}

/** `_IOC_NR(cmd)`: the command number. */
export function _IOC_NR(cmd: number): number {
  return cmd & 0xff;
}

/** `_IOC_TYPE(cmd)`: the magic type byte. */
export function _IOC_TYPE(cmd: number): number {
  return (cmd >>> 8) & 0xff;
}

/** `_IOC_SIZE(cmd)`: the argument size encoded in the request. */
export function _IOC_SIZE(cmd: number): number {
  return (cmd >>> 16) & 0x3fff;
}

/** `_IOC_DIR(cmd)`: the direction bits. */
export function _IOC_DIR(cmd: number): number {
  return (cmd >>> 30) & 0x3;
}
