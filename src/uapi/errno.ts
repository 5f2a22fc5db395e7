/**
 * errno numbers of asm-generic (x86_64 and arm64 agree) and their names.
 *
 * @module
 */

/** errno values by name. */
export const Errno = {
  EPERM: 1,
  ENOENT: 2,
  ESRCH: 3,
  EINTR: 4,
  EIO: 5,
  ENXIO: 6,
  E2BIG: 7,
  ENOEXEC: 8,
  EBADF: 9,
  ECHILD: 10,
  EAGAIN: 11,
  ENOMEM: 12,
  EACCES: 13,
  EFAULT: 14,
  EBUSY: 16,
  EEXIST: 17,
  EXDEV: 18,
  ENODEV: 19,
  ENOTDIR: 20,
  EISDIR: 21,
  EINVAL: 22,
  ENFILE: 23,
  EMFILE: 24,
  ENOTTY: 25,
  EFBIG: 27,
  ENOSPC: 28,
  ESPIPE: 29,
  EROFS: 30,
  EPIPE: 32,
  ERANGE: 34,
  EDEADLK: 35,
  ENAMETOOLONG: 36,
  ENOSYS: 38,
  ENOTEMPTY: 39,
  ELOOP: 40,
  ENODATA: 61,
  ETIME: 62,
  EBADMSG: 74,
  EOVERFLOW: 75,
  EBADFD: 77,
  ENOTSOCK: 88,
  EMSGSIZE: 90,
  EPROTOTYPE: 91,
  EPROTONOSUPPORT: 93,
  ESOCKTNOSUPPORT: 94,
  EOPNOTSUPP: 95,
  EAFNOSUPPORT: 97,
  EADDRINUSE: 98,
  ECONNRESET: 104,
  EISCONN: 106,
  ENOTCONN: 107,
  ECONNREFUSED: 111,
  ETIMEDOUT: 110,
  ECANCELED: 125,
} as const;

/** An errno name such as `"EINVAL"`. */
export type ErrnoCode = keyof typeof Errno;

const names = new Map<number, ErrnoCode>(
  Object.entries(Errno).map(([k, v]) => [v, k as ErrnoCode]),
);

/** Returns the symbolic name of an errno value, or `"E<n>"` when unknown. */
export function errnoName(errno: number): string {
  return names.get(errno) ?? `E${errno}`;
}

const descriptions: Partial<Record<ErrnoCode, string>> = {
  EPERM: "Operation not permitted",
  ENOENT: "No such file or directory",
  ESRCH: "No such process",
  EINTR: "Interrupted system call",
  EBADF: "Bad file descriptor",
  EAGAIN: "Resource temporarily unavailable",
  ENOMEM: "Cannot allocate memory",
  EACCES: "Permission denied",
  EFAULT: "Bad address",
  EBUSY: "Device or resource busy",
  ENODEV: "No such device",
  ENOTDIR: "Not a directory",
  EINVAL: "Invalid argument",
  EMFILE: "Too many open files",
  ENOTTY: "Inappropriate ioctl for device",
  ESPIPE: "Illegal seek",
  EOVERFLOW: "Value too large for defined data type",
  EBADFD: "File descriptor in bad state",
  EOPNOTSUPP: "Operation not supported",
  ETIMEDOUT: "Connection timed out",
  EIO: "Input/output error",
  ENXIO: "No such device or address",
  EEXIST: "File exists",
  EISDIR: "Is a directory",
  ENFILE: "Too many open files in system",
  ENOSPC: "No space left on device",
  EPIPE: "Broken pipe",
  ERANGE: "Numerical result out of range",
  ENAMETOOLONG: "File name too long",
  ENOSYS: "Function not implemented",
  ELOOP: "Too many levels of symbolic links",
  ENODATA: "No data available",
  ETIME: "Timer expired",
  ENOTSOCK: "Socket operation on non-socket",
  ECANCELED: "Operation canceled",
  EMSGSIZE: "Message too long",
  EBADMSG: "Bad message",
  EPROTOTYPE: "Protocol wrong type for socket",
  EPROTONOSUPPORT: "Protocol not supported",
  ESOCKTNOSUPPORT: "Socket type not supported",
  EAFNOSUPPORT: "Address family not supported by protocol",
  EADDRINUSE: "Address already in use",
  ECONNRESET: "Connection reset by peer",
  EISCONN: "Transport endpoint is already connected",
  ENOTCONN: "Transport endpoint is not connected",
  ECONNREFUSED: "Connection refused",
};

/** Returns the `strerror(3)` text of an errno value. */
export function strerror(errno: number): string {
  const name = names.get(errno);
  return (name && descriptions[name]) ?? `Unknown error ${errno}`;
}
