/**
 * Shared helpers for the guest-only tests of the test_driver module's queueing stages
 * (`src/uapi/queue_driver.ts`) and of fences on the real kernel. Raw `Kernel` calls only: these
 * tests pin down what Linux does, independently of the public API.
 *
 * @module
 */
import { linuxKernel } from "../../src/kernel/linux.ts";
import type { Kernel, MappedRegion, UserBuffer } from "../../src/kernel/types.ts";
import {
  dma_heap_allocation_data,
  DMA_HEAP_DIR,
  DMA_HEAP_IOCTL_ALLOC,
} from "../../src/uapi/dma_heap.ts";
import {
  dma_buf_export_sync_file,
  dma_buf_import_sync_file,
  DMA_BUF_IOCTL_EXPORT_SYNC_FILE,
  DMA_BUF_IOCTL_IMPORT_SYNC_FILE,
} from "../../src/uapi/dma_buf.ts";
import { MAP_SHARED, O_CLOEXEC, O_RDWR, PROT_READ, PROT_WRITE } from "../../src/uapi/constants.ts";
import { TEST_DEQUEUE, test_qbuf, TEST_QUEUE } from "../../src/uapi/queue_driver.ts";
import { _IOWR } from "../../src/uapi/ioctl.ts";
import { fdinfo } from "../_helpers.ts";

export function exists(path: string): boolean {
  try {
    Deno.statSync(path);
    return true;
  } catch {
    return false;
  }
}

/** Inside a test guest with the module loaded. */
export const inGuest = exists("/dev/driverA");
/** The module has the queue ABI (its `hold` parameter exists). */
export const HOLD_PARAM = "/sys/module/test_driver/parameters/hold";
export const hasQueue = inGuest && exists(HOLD_PARAM);
/**
 * The CMA heap when there is one, else `system`: `reserved` in the custom guest (the area of
 * `cma=`), `global_cma@68000000` in the arm64 guest (the device tree's reserved-memory node).
 */
export const heapName = cmaHeap() ?? "system";

/** The guest's CMA heap (any heap but `system`), or undefined. */
export function cmaHeap(): string | undefined {
  try {
    return [...Deno.readDirSync(DMA_HEAP_DIR)].map((e) => e.name).sort().find((n) =>
      n !== "system"
    );
  } catch {
    return undefined;
  }
}

export function kernel(): Kernel {
  return linuxKernel();
}

/** Holds every stage's worker back before it processes (module parameter `hold`). */
export function setHold(on: boolean): void {
  Deno.writeTextFileSync(HOLD_PARAM, on ? "1" : "0");
}

export function allocBuffer(k: Kernel, size: number, heap = heapName): number {
  const heapFd = k.open(`${DMA_HEAP_DIR}/${heap}`, O_RDWR | O_CLOEXEC);
  try {
    const data = k.userBuffer(dma_heap_allocation_data.size);
    data.view.setBigUint64(dma_heap_allocation_data.len, BigInt(size), true);
    data.view.setUint32(dma_heap_allocation_data.fd_flags, O_RDWR | O_CLOEXEC, true);
    k.ioctl(heapFd, DMA_HEAP_IOCTL_ALLOC, data, "DMA_HEAP_IOCTL_ALLOC");
    return data.view.getUint32(dma_heap_allocation_data.fd, true);
  } finally {
    k.close(heapFd);
  }
}

export function map(
  k: Kernel,
  fd: number,
  size: number,
): { region: MappedRegion; bytes: Uint8Array } {
  const region = k.mmap(fd, size, PROT_READ | PROT_WRITE, MAP_SHARED, 0);
  return { region, bytes: new Uint8Array(region.buffer, region.byteOffset, size) };
}

export interface Dequeued {
  fd: number;
  op: number;
  cookie: number;
  dmaAddr: bigint;
  checksum: number;
  status: number;
}

/** A stage: one open of /dev/driverA or /dev/driverB. */
export class Stage {
  readonly fd: number;
  readonly #k: Kernel;
  readonly #q: UserBuffer;
  constructor(k: Kernel, dev: "driverA" | "driverB" = "driverA") {
    this.#k = k;
    this.fd = k.open(`/dev/${dev}`, O_RDWR | O_CLOEXEC);
    this.#q = k.userBuffer(test_qbuf.size);
  }
  queue(bufFd: number, op: number, cookie: number): void {
    const { view, bytes } = this.#q;
    bytes.fill(0);
    view.setInt32(test_qbuf.fd, bufFd, true);
    view.setUint32(test_qbuf.op, op, true);
    view.setBigUint64(test_qbuf.cookie, BigInt(cookie), true);
    this.#k.ioctl(this.fd, TEST_QUEUE, this.#q, "TEST_QUEUE");
  }
  dequeue(): Dequeued {
    const { view, bytes } = this.#q;
    bytes.fill(0xaa);
    this.#k.ioctl(this.fd, TEST_DEQUEUE, this.#q, "TEST_DEQUEUE");
    return {
      fd: view.getInt32(test_qbuf.fd, true),
      op: view.getUint32(test_qbuf.op, true),
      cookie: Number(view.getBigUint64(test_qbuf.cookie, true)),
      dmaAddr: view.getBigUint64(test_qbuf.dma_addr, true),
      checksum: view.getUint32(test_qbuf.checksum, true),
      status: view.getInt32(test_qbuf.status, true),
    };
  }
  /** `poll` revents for POLLIN|POLLOUT after at most `timeoutMs`. */
  poll(events: number, timeoutMs = 0): number {
    return this.#k.poll([{ fd: this.fd, events }], timeoutMs)[0];
  }
  close(): void {
    this.#k.close(this.fd);
  }
}

/** `revents` of one fd. */
export function pollFd(k: Kernel, fd: number, events: number, timeoutMs = 0): number {
  return k.poll([{ fd, events }], timeoutMs)[0];
}

/** Polls until `want` is in revents or `timeoutMs` passed; returns the last revents and the ms taken. */
export function pollUntil(
  k: Kernel,
  fd: number,
  events: number,
  want: number,
  timeoutMs = 10_000,
): { revents: number; ms: number } {
  const t0 = performance.now();
  let revents = 0;
  while (performance.now() - t0 < timeoutMs) {
    revents = pollFd(k, fd, events, 50);
    if ((revents & want) === want) break;
  }
  return { revents, ms: performance.now() - t0 };
}

export function exportSyncFile(k: Kernel, bufFd: number, flags: number): number {
  const b = k.userBuffer(dma_buf_export_sync_file.size);
  b.view.setUint32(dma_buf_export_sync_file.flags, flags, true);
  b.view.setInt32(dma_buf_export_sync_file.fd, -1, true);
  k.ioctl(bufFd, DMA_BUF_IOCTL_EXPORT_SYNC_FILE, b, "DMA_BUF_IOCTL_EXPORT_SYNC_FILE");
  return b.view.getInt32(dma_buf_export_sync_file.fd, true);
}

export function importSyncFile(k: Kernel, bufFd: number, syncFd: number, flags: number): void {
  const b = k.userBuffer(dma_buf_import_sync_file.size);
  b.view.setUint32(dma_buf_import_sync_file.flags, flags, true);
  b.view.setInt32(dma_buf_import_sync_file.fd, syncFd, true);
  k.ioctl(bufFd, DMA_BUF_IOCTL_IMPORT_SYNC_FILE, b, "DMA_BUF_IOCTL_IMPORT_SYNC_FILE");
}

/** `struct sync_file_info` (56 bytes); SYNC_IOC_FILE_INFO = _IOWR('>', 4, 56) = 0xC0383E04. */
const SYNC_IOC_FILE_INFO = _IOWR(">", 4, 56);

/** A sync_file's status: 1 signalled, 0 pending, -errno signalled with an error. */
export function syncFileStatus(k: Kernel, syncFd: number): { status: number; numFences: number } {
  const b = k.userBuffer(56);
  k.ioctl(syncFd, SYNC_IOC_FILE_INFO, b, "SYNC_IOC_FILE_INFO");
  return { status: b.view.getInt32(32, true), numFences: b.view.getUint32(40, true) };
}

/** The bufinfo block of the buffer with inode `ino` (its row and fence/attachment lines). */
export function bufinfoEntry(k: Kernel, ino: number): string {
  const text = k.readText("/sys/kernel/debug/dma_buf/bufinfo");
  const lines = text.split("\n");
  const out: string[] = [];
  let inside = false;
  const inoField = String(ino).padStart(8, "0");
  for (const line of lines) {
    if (/^\d{8}\t/.test(line)) inside = line.split("\t")[5] === inoField;
    else if (line.startsWith("Total") && !line.includes("devices attached")) inside = false;
    if (inside) out.push(line);
  }
  return out.join("\n");
}

/** The dma-buf's inode number and `count:` from fdinfo. */
export function inoAndCount(k: Kernel, fd: number): { ino: number; count: number } {
  const f = fdinfo(k, fd);
  return { ino: Number(f.get("ino")), count: Number(f.get("count")) };
}

export function byteSum(bytes: Uint8Array): number {
  let s = 0;
  for (let i = 0; i < bytes.length; i++) s += bytes[i];
  return s >>> 0;
}
