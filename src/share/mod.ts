/**
 * Sharing dma-bufs: between processes over AF_UNIX sockets (SCM_RIGHTS) or with
 * `pidfd_getfd`, and with Workers of the same process by handing over the fd.
 *
 * @module
 */
export {
  type Received,
  type ReceiveOptions,
  type SocketOptions,
  type SocketType,
  UnixListener,
  UnixSocket,
} from "./socket.ts";
export {
  receiveDmaBuf,
  sendDmaBuf,
  SHARE_HEADER_SIZE,
  takeDmaBuf,
  type TakeOptions,
} from "./dmabuf.ts";
export {
  type DmaBufHandle,
  type FromHandleOptions,
  fromWorkerHandle,
  toWorkerHandle,
} from "./worker.ts";
