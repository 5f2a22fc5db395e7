/**
 * Numeric constants of the Linux user-space ABI shared by x86_64 and arm64 (asm-generic).
 *
 * @module
 */

/** Page size assumed by both kernels (4 KiB pages on x86_64 and the common arm64 configs). */
export const PAGE_SIZE = 4096;

/** `open(2)` flags. */
export const O_RDONLY = 0;
/** Open for writing only. */
export const O_WRONLY = 1;
/** Open for reading and writing. */
export const O_RDWR = 2;
/** Mask of the access mode bits. */
export const O_ACCMODE = 3;
/** Fail if the file exists (with O_CREAT). */
export const O_EXCL = 0o200;
/** Non-blocking I/O. */
export const O_NONBLOCK = 0o4000;
/** Fail unless the path is a directory (x86_64 value). */
export const O_DIRECTORY = 0o200000;
/** Close the descriptor on exec. */
export const O_CLOEXEC = 0o2000000;

/** `mmap(2)` protection: readable. */
export const PROT_READ = 1;
/** `mmap(2)` protection: writable. */
export const PROT_WRITE = 2;
/** `mmap(2)`: changes are shared. */
export const MAP_SHARED = 1;
/** `mmap(2)`: copy-on-write private mapping. */
export const MAP_PRIVATE = 2;
/** `mmap(2)`: place the mapping exactly at `addr`, replacing what was there (asm-generic). */
export const MAP_FIXED = 0x10;
/** `mmap(2)`: memory backed by no file, zero-filled (asm-generic). */
export const MAP_ANONYMOUS = 0x20;

/** `poll(2)` events. */
export const POLLIN = 0x1;
/** Urgent data. */
export const POLLPRI = 0x2;
/** Writing is possible. */
export const POLLOUT = 0x4;
/** Error condition (output only). */
export const POLLERR = 0x8;
/** Hang up (output only). */
export const POLLHUP = 0x10;
/** Invalid fd (output only). */
export const POLLNVAL = 0x20;

/** `fcntl(2)` commands. */
export const F_DUPFD = 0;
/** Get the fd flags (FD_CLOEXEC). */
export const F_GETFD = 1;
/** Set the fd flags. */
export const F_SETFD = 2;
/** Get the file status flags. */
export const F_GETFL = 3;
/** Set the file status flags. */
export const F_SETFL = 4;
/** Duplicate with close-on-exec set. */
export const F_DUPFD_CLOEXEC = 1030;
/** Add seals to a memfd. */
export const F_ADD_SEALS = 1033;
/** Get the seals of a memfd. */
export const F_GET_SEALS = 1034;
/** The fd flag for close-on-exec. */
export const FD_CLOEXEC = 1;

/** Seals (`F_ADD_SEALS`). */
export const F_SEAL_SEAL = 1;
/** Prevent shrinking. */
export const F_SEAL_SHRINK = 2;
/** Prevent growing. */
export const F_SEAL_GROW = 4;
/** Prevent writes. */
export const F_SEAL_WRITE = 8;
/** Prevent future writes. */
export const F_SEAL_FUTURE_WRITE = 16;
/** Prevent changing the exec bits (6.3+). */
export const F_SEAL_EXEC = 0x20;

/** `memfd_create(2)` flags. */
export const MFD_CLOEXEC = 1;
/** Allow sealing the memfd. */
export const MFD_ALLOW_SEALING = 2;
/** Back the memfd with hugetlbfs pages. */
export const MFD_HUGETLB = 4;
/** Not executable, sealed so (`F_SEAL_EXEC`), and sealable (6.3+). */
export const MFD_NOEXEC_SEAL = 8;
/** Executable (6.3+; the default with `vm.memfd_noexec = 0`). */
export const MFD_EXEC = 0x10;

/** `lseek(2)` whence values. */
export const SEEK_SET = 0;
/** Seek relative to the current position. */
export const SEEK_CUR = 1;
/** Seek relative to the end. */
export const SEEK_END = 2;
