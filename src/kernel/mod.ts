/**
 * The syscall seam, for people writing or wrapping a kernel: the {@linkcode Kernel} interface
 * the public API calls (a few syscalls, numbers in and out, errors as `ErrnoError`), the Linux
 * implementation over libc FFI ({@linkcode linuxKernel}), and the kernel in use
 * ({@linkcode getKernel}). The simulated kernel is `@dmabuf/dmabuf/sim`.
 *
 * A script that only allocates and maps buffers does not need this entry: every public
 * function takes a `kernel` option and otherwise uses {@linkcode getKernel}.
 *
 * @example Wrapping the kernel in use to count ioctls
 * ```ts
 * import { getKernel, type Kernel } from "@dmabuf/dmabuf/kernel";
 * import { openHeap } from "@dmabuf/dmabuf";
 * import assert from "node:assert/strict";
 *
 * const inner = getKernel();
 * let ioctls = 0;
 * const counting: Kernel = new Proxy(inner, {
 *   get(target, key) {
 *     const v = Reflect.get(target, key, target);
 *     if (key === "ioctl") return (...a: Parameters<Kernel["ioctl"]>) => (ioctls++, inner.ioctl(...a));
 *     return typeof v === "function" ? v.bind(target) : v;
 *   },
 * });
 * using heap = openHeap("system", { kernel: counting });
 * using _buf = heap.allocate(4096);
 * assert.ok(ioctls >= 1);
 * ```
 *
 * @module
 */
export type {
  Kernel,
  KernelKind,
  MappedRegion,
  PollRequest,
  ReceivedMessage,
  UserBuffer,
} from "./types.ts";
export { getKernel, type KernelSelection, kernelSelection, setKernel } from "./select.ts";
export { LinuxKernel, linuxKernel, quarantinedBytes, quarantinedRegions } from "./linux.ts";
