/**
 * The libc symbols the Linux kernel implementation calls, declared once.
 *
 * Each parameter carries its C prototype. Types are chosen for Deno's fast call path:
 * `i32`/`u32`/`pointer` parameters stay fast; `u64`/`usize`/`i64` parameters (and results) are
 * BigInt and slow, so they appear only on cold calls (`mmap`, `lseek`, `ftruncate`, `poll`'s
 * count). `ioctl`'s request is `u32` although C declares `unsigned long`: the kernel takes
 * `unsigned int cmd` and drops the upper half. Variadic `open`, `ioctl` and `fcntl` are declared
 * with their fixed integer/pointer arguments, which the x86_64 and aarch64 Linux calling
 * conventions pass exactly as for a non-variadic function.
 *
 * Nothing here opens a library: see `load.ts`.
 *
 * @module
 */

/** The symbol table given to `Deno.dlopen`. */
export const symbols = {
  open: {
    parameters: [
      "pointer", // const char *pathname
      "i32", // int flags
      "u32", // mode_t mode (variadic)
    ],
    result: "i32", // int: the fd, or -1 and errno
  },
  close: {
    parameters: [
      "i32", // int fd
    ],
    result: "i32",
  },
  unlink: {
    parameters: [
      "pointer", // const char *pathname
    ],
    result: "i32",
  },
  ioctl: {
    parameters: [
      "i32", // int fd
      "u32", // unsigned long request (the kernel keeps the low 32 bits)
      "pointer", // void *arg (variadic)
    ],
    result: "i32",
  },
  mmap: {
    parameters: [
      "pointer", // void *addr
      "usize", // size_t length
      "i32", // int prot
      "i32", // int flags
      "i32", // int fd
      "i64", // off_t offset
    ],
    result: "pointer", // void *: the mapping, or MAP_FAILED ((void *)-1) and errno
  },
  munmap: {
    parameters: [
      "pointer", // void *addr
      "usize", // size_t length
    ],
    result: "i32",
  },
  fcntl: {
    parameters: [
      "i32", // int fd
      "i32", // int cmd
      "i32", // int arg (variadic)
    ],
    result: "i32",
  },
  poll: {
    parameters: [
      "pointer", // struct pollfd *fds
      "u64", // nfds_t nfds
      "i32", // int timeout (ms, -1 forever)
    ],
    result: "i32",
  },
  poll_nonblocking: {
    name: "poll",
    parameters: [
      "pointer", // struct pollfd *fds
      "u64", // nfds_t nfds
      "i32", // int timeout
    ],
    result: "i32",
    // Runs on another thread and returns a Promise: errno is that thread's and is lost.
    nonblocking: true,
  },
  dup: {
    parameters: [
      "i32", // int oldfd
    ],
    result: "i32",
  },
  lseek: {
    parameters: [
      "i32", // int fd
      "i64", // off_t offset
      "i32", // int whence
    ],
    result: "i64", // off_t: the new offset, or -1 and errno
  },
  ftruncate: {
    parameters: [
      "i32", // int fd
      "i64", // off_t length
    ],
    result: "i32",
  },
  memfd_create: {
    parameters: [
      "pointer", // const char *name
      "u32", // unsigned int flags
    ],
    result: "i32",
  },
  read: {
    parameters: [
      "i32", // int fd
      "pointer", // void *buf
      "usize", // size_t count
    ],
    result: "isize", // ssize_t: bytes read (0 at end of file), or -1 and errno
  },
  opendir: {
    parameters: [
      "pointer", // const char *name
    ],
    result: "pointer", // DIR *, or NULL and errno
  },
  readdir: {
    parameters: [
      "pointer", // DIR *dirp
    ],
    result: "pointer", // struct dirent *, or NULL (end: errno unchanged; error: errno set)
  },
  closedir: {
    parameters: [
      "pointer", // DIR *dirp
    ],
    result: "i32",
  },
  readlink: {
    parameters: [
      "pointer", // const char *pathname
      "pointer", // char *buf
      "usize", // size_t bufsiz
    ],
    result: "isize", // ssize_t: bytes placed in buf (no NUL), or -1 and errno
  },
  klogctl: {
    parameters: [
      "i32", // int type (SYSLOG_ACTION_*)
      "pointer", // char *bufp
      "i32", // int len
    ],
    result: "i32",
  },
  sysconf: {
    parameters: [
      "i32", // int name (_SC_*)
    ],
    result: "i64", // long
  },
  getpid: {
    parameters: [],
    result: "i32", // pid_t
  },
  socketpair: {
    parameters: [
      "i32", // int domain
      "i32", // int type
      "i32", // int protocol
      "pointer", // int sv[2]
    ],
    result: "i32",
  },
  socket: {
    parameters: [
      "i32", // int domain
      "i32", // int type
      "i32", // int protocol
    ],
    result: "i32",
  },
  bind: {
    parameters: [
      "i32", // int sockfd
      "pointer", // const struct sockaddr *addr
      "u32", // socklen_t addrlen
    ],
    result: "i32",
  },
  listen: {
    parameters: [
      "i32", // int sockfd
      "i32", // int backlog
    ],
    result: "i32",
  },
  accept4: {
    parameters: [
      "i32", // int sockfd
      "pointer", // struct sockaddr *addr (NULL)
      "pointer", // socklen_t *addrlen (NULL)
      "i32", // int flags
    ],
    result: "i32",
  },
  connect: {
    parameters: [
      "i32", // int sockfd
      "pointer", // const struct sockaddr *addr
      "u32", // socklen_t addrlen
    ],
    result: "i32",
  },
  sendmsg: {
    parameters: [
      "i32", // int sockfd
      "pointer", // const struct msghdr *msg
      "i32", // int flags
    ],
    result: "isize", // ssize_t: bytes sent, or -1 and errno
  },
  recvmsg: {
    parameters: [
      "i32", // int sockfd
      "pointer", // struct msghdr *msg
      "i32", // int flags
    ],
    result: "isize", // ssize_t: bytes received, or -1 and errno
  },
  syscall3: {
    name: "syscall",
    // long syscall(long number, ...): used for pidfd_open (434) and pidfd_getfd (438), which
    // glibc < 2.36 and musl do not wrap. The kernel truncates each argument to its C type.
    parameters: [
      "i64", // long number
      "i32", // int pidfd / pid_t pid
      "i32", // int targetfd / unsigned int flags
      "u32", // unsigned int flags
    ],
    result: "i64", // long
  },
  __errno_location: {
    parameters: [],
    result: "pointer", // int *: the calling thread's errno
  },
} as const satisfies Deno.ForeignLibraryInterface;

/**
 * `offsetof(struct dirent, d_name)`: glibc and musl on x86_64 and aarch64 share
 * `{ ino_t d_ino; off_t d_off; unsigned short d_reclen; unsigned char d_type; char d_name[]; }`.
 */
export const DIRENT_D_NAME = 19;

/** The loaded symbols. */
export type Libc = Deno.DynamicLibrary<typeof symbols>["symbols"];

/** `sysconf(_SC_PAGESIZE)` name on Linux (glibc and musl). */
export const _SC_PAGESIZE = 30;
/** `klogctl`: read the whole ring buffer without clearing it. */
export const SYSLOG_ACTION_READ_ALL = 3;
/** `klogctl`: the size of the kernel log buffer. */
export const SYSLOG_ACTION_SIZE_BUFFER = 10;
/** `ioctl` on a regular file: bytes between the position and the end, written as an `int`. */
export const FIONREAD = 0x541b;
