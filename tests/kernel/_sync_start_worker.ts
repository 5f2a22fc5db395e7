/**
 * Worker for fence_test.ts: one blocking DMA_BUF_IOCTL_SYNC on its own thread, answering with
 * the result ("0" or the error code) and the time it returned.
 *
 * @module
 */
import { linuxKernel } from "../../src/kernel/linux.ts";

interface WorkerScope {
  onmessage: ((e: MessageEvent<{ fd: number; flags: number; request: number }>) => void) | null;
  postMessage(message: unknown): void;
}
const scope = self as unknown as WorkerScope;

scope.onmessage = (e) => {
  const k = linuxKernel();
  const arg = k.userBuffer(8);
  arg.view.setBigUint64(0, BigInt(e.data.flags), true);
  let rc = "0";
  try {
    k.ioctl(e.data.fd, e.data.request, arg, "DMA_BUF_IOCTL_SYNC");
  } catch (err) {
    rc = (err as { code?: string }).code ?? String(err);
  }
  scope.postMessage({ rc, t: performance.now() });
};
