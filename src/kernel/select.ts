/**
 * Which kernel the public API talks to: chosen automatically on first use, overridable in code
 * ({@linkcode setKernel}) or by the environment variable `DMABUF_KERNEL` (`linux`,
 * `simulated` or `auto`), and inspectable ({@linkcode kernelSelection}).
 *
 * Automatic choice: the Linux kernel when this is Linux, FFI is permitted (`--allow-ffi`; all
 * file access goes through libc), and a heap under `/dev/dma_heap` opens; otherwise the
 * simulated kernel. The reason is recorded.
 *
 * @module
 */
import type { Kernel } from "./types.ts";
import { linuxKernel } from "./linux.ts";
import { simulatedKernel } from "../sim/mod.ts";
import { O_CLOEXEC, O_RDONLY } from "../uapi/constants.ts";
import { DMA_HEAP_DIR } from "../uapi/dma_heap.ts";

/** The kernel in use and why it was chosen. */
export interface KernelSelection {
  /** The kernel. */
  readonly kernel: Kernel;
  /** Why: `"DMABUF_KERNEL=simulated"`, `"/dev/dma_heap/system opened"`, … */
  readonly reason: string;
}

let current: KernelSelection | undefined;

function env(name: string): string | undefined {
  try {
    if (Deno.permissions.querySync({ name: "env", variable: name }).state !== "granted") {
      return undefined;
    }
    return Deno.env.get(name);
  } catch {
    return undefined;
  }
}

function granted(desc: Deno.PermissionDescriptor): boolean {
  try {
    return Deno.permissions.querySync(desc).state === "granted";
  } catch {
    return false;
  }
}

function probeLinux(): string | Kernel {
  if (Deno.build.os !== "linux") return `not Linux (${Deno.build.os})`;
  if (!granted({ name: "ffi" })) return "no --allow-ffi permission";
  let kernel: Kernel;
  try {
    kernel = linuxKernel();
  } catch (e) {
    return `libc could not be loaded: ${(e as Error).message}`;
  }
  // Deno's own file API refuses /dev and /proc without --allow-all; libc does not.
  let names: string[];
  try {
    names = kernel.readDir(DMA_HEAP_DIR);
  } catch (e) {
    const code = (e as { code?: string }).code;
    return code === "ENOENT"
      ? `this system has no ${DMA_HEAP_DIR}`
      : `${DMA_HEAP_DIR} is not readable (${code ?? e})`;
  }
  if (names.length === 0) return `${DMA_HEAP_DIR} is empty`;
  const errors: string[] = [];
  for (const name of names) {
    try {
      kernel.close(kernel.open(`${DMA_HEAP_DIR}/${name}`, O_RDONLY | O_CLOEXEC));
      return kernel;
    } catch (e) {
      errors.push(`${name}: ${(e as { code?: string }).code ?? (e as Error).message}`);
    }
  }
  return `no heap in ${DMA_HEAP_DIR} opens (${errors.join(", ")})`;
}

function choose(): KernelSelection {
  const wanted = env("DMABUF_KERNEL")?.toLowerCase();
  if (wanted === "linux") return { kernel: linuxKernel(), reason: "DMABUF_KERNEL=linux" };
  if (wanted === "simulated" || wanted === "sim") {
    return { kernel: simulatedKernel(), reason: `DMABUF_KERNEL=${wanted}` };
  }
  const linux = probeLinux();
  if (typeof linux !== "string") {
    return { kernel: linux, reason: `a heap in ${DMA_HEAP_DIR} opened` };
  }
  return { kernel: simulatedKernel(), reason: linux };
}

/**
 * Returns the kernel in use, choosing it on the first call.
 *
 * @returns The kernel the public API talks to by default.
 *
 * @example The kernel in use is Linux or simulated
 * ```ts
 * import { getKernel } from "@dmabuf/dmabuf/kernel";
 * import assert from "node:assert/strict";
 *
 * assert.ok(["linux", "simulated"].includes(getKernel().kind));
 * ```
 */
export function getKernel(): Kernel {
  return (current ??= choose()).kernel;
}

/**
 * Returns the kernel in use and the reason it was chosen.
 *
 * @returns The selection.
 *
 * @example Printing the kernel in use
 * ```ts
 * import { kernelSelection } from "@dmabuf/dmabuf";
 * import assert from "node:assert/strict";
 *
 * const { kernel, reason } = kernelSelection();
 * assert.equal(typeof reason, "string");
 * assert.ok(kernel.description.length > 0);
 * ```
 */
export function kernelSelection(): KernelSelection {
  getKernel();
  return current!;
}

/**
 * Overrides the kernel: a `Kernel`, `"linux"`, `"simulated"`, or `null` to choose again
 * automatically on next use.
 *
 * @param kernel The kernel to use from now on.
 *
 * @example Forcing the simulated kernel
 * ```ts
 * import { getKernel } from "@dmabuf/dmabuf/kernel";
 * import { setKernel } from "@dmabuf/dmabuf";
 * import assert from "node:assert/strict";
 *
 * setKernel("simulated");
 * assert.equal(getKernel().kind, "simulated");
 * setKernel(null);
 * ```
 */
export function setKernel(kernel: Kernel | "linux" | "simulated" | null): void {
  if (kernel === null) current = undefined;
  else if (kernel === "linux") current = { kernel: linuxKernel(), reason: 'setKernel("linux")' };
  else if (kernel === "simulated") {
    current = { kernel: simulatedKernel(), reason: 'setKernel("simulated")' };
  } else current = { kernel, reason: "setKernel(kernel)" };
}
