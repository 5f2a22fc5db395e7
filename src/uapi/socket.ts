/**
 * AF_UNIX sockets, SCM_RIGHTS and pidfds: the constants and the LP64 struct layouts of
 * `struct msghdr`, `struct cmsghdr`, `struct iovec` and `struct sockaddr_un` (glibc and musl,
 * x86_64 and aarch64; see `kernel-abi.md` §9).
 *
 * @module
 */

/** `AF_UNIX` (= `AF_LOCAL`, `PF_UNIX`). */
export const AF_UNIX = 1;
/** `AF_INET`. */
export const AF_INET = 2;
/** `SOCK_STREAM`. */
export const SOCK_STREAM = 1;
/** `SOCK_DGRAM`. */
export const SOCK_DGRAM = 2;
/** `SOCK_SEQPACKET`. */
export const SOCK_SEQPACKET = 5;
/** `SOCK_NONBLOCK` (= `O_NONBLOCK` on x86_64 and aarch64), or'ed into the type. */
export const SOCK_NONBLOCK = 0o4000;
/** `SOCK_CLOEXEC` (= `O_CLOEXEC`), or'ed into the type. */
export const SOCK_CLOEXEC = 0o2000000;
/** `SOL_SOCKET`. */
export const SOL_SOCKET = 1;
/** `SCM_RIGHTS`: the control message carrying fds. */
export const SCM_RIGHTS = 1;
/** `SCM_MAX_FD`: at most this many fds in one SCM_RIGHTS message (more → EINVAL). */
export const SCM_MAX_FD = 253;

/** `recvmsg` flag: the received fds get close-on-exec. */
export const MSG_CMSG_CLOEXEC = 0x40000000;
/** `msg_flags`: the control buffer was too small; fds that did not fit were closed. */
export const MSG_CTRUNC = 0x8;
/** `msg_flags`: a datagram/seqpacket message was longer than the buffer; the rest is lost. */
export const MSG_TRUNC = 0x20;
/** Do not block. */
export const MSG_DONTWAIT = 0x40;
/** `send` flag: no `SIGPIPE` when the peer is gone (EPIPE only). */
export const MSG_NOSIGNAL = 0x4000;

/** `pidfd_open` flag (= `O_NONBLOCK`). */
export const PIDFD_NONBLOCK = 0o4000;
/** `pidfd_open` flag (= `O_EXCL`, Linux ≥ 6.9): a thread's pidfd. */
export const PIDFD_THREAD = 0o200;

/** `SYS_pidfd_open` (the same on every architecture since 5.3: asm-generic numbering). */
export const SYS_pidfd_open = 434;
/** `SYS_pidfd_getfd` (5.6). */
export const SYS_pidfd_getfd = 438;

/** `sizeof(struct msghdr)` and its offsets. */
export const MSGHDR = {
  size: 56,
  msg_name: 0,
  msg_namelen: 8,
  msg_iov: 16,
  msg_iovlen: 24,
  msg_control: 32,
  msg_controllen: 40,
  msg_flags: 48,
} as const;

/** `sizeof(struct cmsghdr)` and its offsets; data (`CMSG_DATA`) starts at 16. */
export const CMSGHDR = { size: 16, cmsg_len: 0, cmsg_level: 8, cmsg_type: 12, data: 16 } as const;

/** `sizeof(struct iovec)` and its offsets. */
export const IOVEC = { size: 16, iov_base: 0, iov_len: 8 } as const;

/** `struct sockaddr_un`: `sa_family_t sun_family` @0, `char sun_path[108]` @2. */
export const SOCKADDR_UN = { size: 110, sun_family: 0, sun_path: 2, pathMax: 108 } as const;

/** `CMSG_ALIGN(len)`: rounds up to 8 on LP64. */
export function CMSG_ALIGN(len: number): number {
  return (len + 7) & ~7;
}

/** `CMSG_LEN(n)`: `cmsg_len` of a message with `n` bytes of data (one fd: 20). */
export function CMSG_LEN(n: number): number {
  return CMSGHDR.size + n;
}

/** `CMSG_SPACE(n)`: bytes a message with `n` bytes of data takes (one fd: 24). */
export function CMSG_SPACE(n: number): number {
  return CMSGHDR.size + CMSG_ALIGN(n);
}

/**
 * How many fds the kernel installs into a control buffer sized `CMSG_SPACE(4 * maxFds)`:
 * `(controllen - 16) / 4` (`scm_detach_fds`), so an odd `maxFds` leaves room for one more.
 * 0 for no control buffer.
 */
export function scmCapacity(maxFds: number): number {
  return maxFds <= 0 ? 0 : (CMSG_SPACE(4 * maxFds) - CMSGHDR.size) >> 2;
}
