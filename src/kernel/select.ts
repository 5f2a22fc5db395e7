/**
 * Which kernel the public API talks to: chosen automatically on first use, overridable in code
 * ({@linkcode setKernel}) or by the environment variable `DMABUF_KERNEL` (`linux`,
 * `simulated` or `auto`), and inspectable ({@linkcode kernelSelection}).
 *
 * Automatic choice, which never simulates on a machine that has dma-buf devices:
 * - not Linux → the simulated kernel;
 * - Linux with a dma-buf device node (`/dev/dma_heap/*` or `/dev/udmabuf`) → the Linux kernel,
 *   whether or not this process may open the nodes (opening one then fails with the real
 *   `EACCES` and its fix);
 * - Linux without any such node → the simulated kernel;
 * - Linux without `--allow-ffi` → no choice: the library cannot look at `/dev` (it reads it
 *   through libc), so the first call throws `Deno.errors.NotCapable` naming the flag to grant
 *   and how to ask for the simulated kernel instead.
 *
 * The reason is recorded.
 *
 * @module
 */
import type { Kernel, KernelKind } from "./types.ts";
import { linuxKernel } from "./linux.ts";
import { ffiUnscoped, libcPermitted } from "../ffi/load.ts";
import { simulatedKernel } from "../sim/mod.ts";
import { DMA_HEAP_DIR } from "../uapi/dma_heap.ts";
import { argumentError, describe } from "../errors.ts";

/** The kernel in use and why it was chosen. */
export interface KernelSelection {
  /** The kernel. */
  readonly kernel: Kernel;
  /** Why: `"DMABUF_KERNEL=simulated"`, `"dma-buf device nodes present: /dev/udmabuf"`, … */
  readonly reason: string;
}

/** The values `DMABUF_KERNEL` takes (`sim` is short for `simulated`; empty means `auto`). */
export const KERNEL_CHOICES: readonly string[] = ["linux", "simulated", "sim", "auto"];

/** What the automatic choice looks at; {@linkcode decideKernel} turns it into a decision. */
export interface KernelFacts {
  /** `Deno.build.os`. */
  os: string;
  /** `DMABUF_KERNEL`, when set and readable. */
  wanted: string | undefined;
  /**
   * Whether `--allow-ffi` is granted; a string when it is granted only for some paths (a
   * sentence saying why that is not enough).
   */
  ffi: boolean | string;
  /**
   * The dma-buf device nodes present (paths), or a sentence saying why they cannot be listed.
   * Called only on Linux with FFI.
   */
  nodes: () => string[] | string;
}

/** The undecided case's message: which flag to grant, or how to ask for the simulation. */
export function noFfiMessage(why: string): string {
  return `Cannot choose the kernel: ${why}, so the library cannot tell whether this Linux ` +
    `machine has dma-buf devices (${DMA_HEAP_DIR}/*, /dev/udmabuf). Grant FFI ` +
    `(deno run --allow-ffi …; the library reads /dev and calls ioctl through libc), or ask ` +
    `for the simulated kernel: DMABUF_KERNEL=simulated (readable with --allow-env) or ` +
    `setKernel("simulated")`;
}

/**
 * Decides which kernel to use from the facts, without touching either kernel.
 *
 * @param facts What the process sees.
 * @returns The kind and the reason.
 * @throws {TypeError} For a `DMABUF_KERNEL` value not in {@linkcode KERNEL_CHOICES}.
 * @throws {Deno.errors.NotCapable} On Linux without `--allow-ffi`, or when libc cannot be
 * loaded: the message names the flag to grant and how to ask for the simulated kernel.
 *
 * @example A machine with only /dev/udmabuf uses the Linux kernel
 * ```ts
 * import { decideKernel } from "./select.ts";
 * import assert from "node:assert/strict";
 *
 * const d = decideKernel({ os: "linux", wanted: undefined, ffi: true, nodes: () => ["/dev/udmabuf"] });
 * assert.deepEqual(d, { kind: "linux", reason: "dma-buf device nodes present: /dev/udmabuf" });
 * ```
 */
export function decideKernel(facts: KernelFacts): { kind: KernelKind; reason: string } {
  const raw = facts.wanted?.trim();
  const wanted = raw?.toLowerCase();
  if (wanted !== undefined && wanted !== "" && !KERNEL_CHOICES.includes(wanted)) {
    throw argumentError(
      "type",
      "DMABUF_KERNEL",
      JSON.stringify(raw),
      `is not a kernel choice; valid values: ${KERNEL_CHOICES.join(", ")}`,
    );
  }
  if (wanted === "linux") return { kind: "linux", reason: `DMABUF_KERNEL=${raw}` };
  if (wanted === "simulated" || wanted === "sim") {
    return { kind: "simulated", reason: `DMABUF_KERNEL=${raw}` };
  }
  if (facts.os !== "linux") return { kind: "simulated", reason: `not Linux (${facts.os})` };
  if (facts.ffi !== true) {
    throw new Deno.errors.NotCapable(
      noFfiMessage(facts.ffi === false ? "--allow-ffi is not granted" : facts.ffi),
    );
  }
  const nodes = facts.nodes();
  if (typeof nodes === "string") throw new Deno.errors.NotCapable(noFfiMessage(nodes));
  if (nodes.length > 0) {
    return { kind: "linux", reason: `dma-buf device nodes present: ${nodes.join(", ")}` };
  }
  return {
    kind: "simulated",
    reason: `no dma-buf device node (${DMA_HEAP_DIR} has no heap, no /dev/udmabuf)`,
  };
}

/** Why `--allow-ffi=<path>` is not enough (measured on Deno 2.9.6). */
const SCOPED_FFI = "--allow-ffi is granted only for some paths, and Deno then refuses every " +
  "pointer operation the library needs (errno, mmap views): give --allow-ffi without a path";

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

/** The dma-buf device nodes of this Linux machine, listed through libc (`/dev` needs no FFI). */
function linuxNodes(): string[] | string {
  let kernel: Kernel;
  try {
    kernel = linuxKernel();
  } catch (e) {
    return `libc could not be loaded (${(e as Error).message})`;
  }
  const found: string[] = [];
  try {
    for (const name of kernel.readDir(DMA_HEAP_DIR).sort()) found.push(`${DMA_HEAP_DIR}/${name}`);
  } catch (e) {
    const code = (e as { code?: string }).code;
    // A directory this process may not list still says the machine has heaps.
    if (code !== "ENOENT" && code !== "ENOTDIR") {
      found.push(`${DMA_HEAP_DIR} (unlistable: ${code})`);
    }
  }
  try {
    if (kernel.readDir("/dev").includes("udmabuf")) found.push("/dev/udmabuf");
  } catch (e) {
    return `/dev could not be listed (${(e as { code?: string }).code ?? e})`;
  }
  return found;
}

function choose(): KernelSelection {
  const d = decideKernel({
    os: Deno.build.os,
    wanted: env("DMABUF_KERNEL"),
    ffi: ffiUnscoped() ? true : libcPermitted() ? SCOPED_FFI : false,
    nodes: linuxNodes,
  });
  return { kernel: d.kind === "linux" ? linuxKernel() : simulatedKernel(), reason: d.reason };
}

/**
 * Returns the kernel in use, choosing it on the first call.
 *
 * @returns The kernel the public API talks to by default.
 * @throws {Deno.errors.NotCapable} On Linux without `--allow-ffi` (and no `DMABUF_KERNEL` or
 * {@linkcode setKernel}): grant the flag, or ask for the simulated kernel. Not remembered: a
 * later call after `setKernel()` succeeds.
 * @throws {TypeError} When `DMABUF_KERNEL` holds an unknown value.
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
 * The kernel an `options.kernel` names, or the kernel in use when it is `undefined` or `null`.
 *
 * @param kernel The option's value.
 * @param where The function, for the message.
 * @returns The kernel.
 * @throws {TypeError} `EINVAL` when `kernel` is not a `Kernel` (an object with `kind`, `open` and
 *   `ioctl`), before anything happens: it used to fail later, deep inside, as
 *   "kernel.open is not a function".
 */
export function kernelOption(kernel: unknown, where: string): Kernel {
  if (kernel === undefined || kernel === null) return getKernel();
  const k = kernel as Partial<Kernel>;
  if (
    typeof kernel !== "object" || typeof k.kind !== "string" || typeof k.open !== "function" ||
    typeof k.ioctl !== "function"
  ) {
    throw argumentError(
      "type",
      where,
      "options.kernel",
      `must be a Kernel (createSimMachine().process(), simulatedKernel(), linuxKernel()), got ${
        describe(kernel)
      }`,
    );
  }
  return kernel as Kernel;
}

/**
 * Returns the kernel in use and the reason it was chosen.
 *
 * @returns The selection.
 * @throws {Deno.errors.NotCapable} As {@linkcode getKernel}.
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

function isKernel(k: unknown): k is Kernel {
  return typeof k === "object" && k !== null &&
    ((k as Kernel).kind === "linux" || (k as Kernel).kind === "simulated") &&
    typeof (k as Kernel).open === "function" && typeof (k as Kernel).ioctl === "function";
}

/**
 * Sets the kernel with a reason of the caller's choosing (the CLI says `"--kernel linux"`).
 *
 * @param kernel As {@linkcode setKernel}.
 * @param reason What `kernelSelection().reason` will say.
 * @throws {TypeError} For anything but a `Kernel`, `"linux"`, `"simulated"` or `null`.
 */
export function selectKernel(
  kernel: Kernel | "linux" | "simulated" | null,
  reason: string,
): void {
  if (kernel === null) current = undefined;
  else if (kernel === "linux") current = { kernel: linuxKernel(), reason };
  else if (kernel === "simulated") current = { kernel: simulatedKernel(), reason };
  else if (isKernel(kernel)) current = { kernel, reason };
  else {
    throw argumentError(
      "type",
      "setKernel",
      "kernel",
      `must be a Kernel, "linux", "simulated" or null, got ${describe(kernel)}`,
    );
  }
}

/**
 * Overrides the kernel: a `Kernel`, `"linux"`, `"simulated"`, or `null` to choose again
 * automatically on next use.
 *
 * @param kernel The kernel to use from now on.
 * @throws {TypeError} `EINVAL` for anything else (checked before anything changes).
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
  const reason = kernel === "linux"
    ? 'setKernel("linux")'
    : kernel === "simulated"
    ? 'setKernel("simulated")'
    : "setKernel(kernel)";
  selectKernel(kernel, reason);
}
