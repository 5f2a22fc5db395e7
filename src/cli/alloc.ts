/**
 * `dmabuf alloc`: allocates a buffer from a heap, prints its fd, size and inode, and with
 * `--hold` keeps it until Ctrl-C or end of standard input so `dmabuf dump` can see it.
 *
 * @module
 */
import { openHeap } from "../heaps/heap.ts";
import type { HeapRole } from "../heaps/roles.ts";
import type { Kernel } from "../kernel/types.ts";
import { errnoError } from "../errors.ts";
import { Errno } from "../uapi/errno.ts";
import { type Command, kernelLine, printJson } from "./command.ts";
import { ExitCode, UsageError } from "./errors.ts";
import { formatSize, parseSize } from "./size.ts";

const ROLES: readonly string[] = ["contiguous"];

/**
 * The heap argument: a role word (`contiguous`) selects by role, anything else is a name.
 *
 * @param value The `--heap` value.
 * @returns What `openHeap` takes.
 */
export function heapArg(value: string): string | { role: HeapRole } {
  return ROLES.includes(value) ? { role: value as HeapRole } : value;
}

/**
 * This process's pid as the kernel in use sees it: `/proc/self` links to it (on the simulated
 * kernel the process is the simulated one, not Deno's).
 *
 * @param kernel The kernel.
 * @returns The pid.
 */
export function selfPid(kernel: Kernel): number {
  try {
    const pid = Number(kernel.readLink("/proc/self"));
    if (Number.isSafeInteger(pid) && pid > 0) return pid;
  } catch { /* a kernel without /proc/self as a link: fall back to Deno's pid */ }
  return Deno.pid;
}

/**
 * `MemTotal` from `/proc/meminfo` in bytes, or `undefined` when the kernel does not tell.
 *
 * @param kernel The kernel.
 * @returns The machine's memory.
 */
export function memTotal(kernel: Kernel): number | undefined {
  try {
    const m = /^MemTotal:\s+(\d+) kB$/m.exec(kernel.readText("/proc/meminfo"));
    return m ? Number(m[1]) * 1024 : undefined;
  } catch {
    return undefined;
  }
}

/** The `alloc` command. */
export const allocCommand: Command = {
  name: "alloc",
  summary: "Allocate a buffer; print its fd, size and inode (--hold keeps it)",
  help:
    `Usage: dmabuf alloc --size <size> [--heap <name|contiguous>] [--name <name>] [--hold] [--json]

Allocates a zero-filled dma-buf and prints its fd, size (page-rounded) and inode.

  --size <size>   bytes, with an optional binary unit: 4096, 64k, 4MiB, "1.5 MiB"
  --heap <heap>   a heap name (default "system") or "contiguous" for the CMA heap by any name
  --name <name>   a buffer name (at most 31 bytes), shown by dump and in /proc/<pid>/maps
  --force         allocate from the system heap even above what the kernel can free
                  (MemAvailable); it then invokes the OOM killer, which may kill this
                  process or others. Above the machine's memory (MemTotal) is refused
                  either way
  --hold          keep the buffer until Ctrl-C or end of standard input, so that
                  "dmabuf dump" in another shell sees it (real kernel only: a simulated
                  kernel lives inside this process, and the tool says so when holding)

Exit codes: 0 allocated, 1 the heap refused (EINVAL, ENOMEM), 2 bad size,
3 permission denied, 4 no such heap.
`,
  options: {
    size: { type: "string", short: "s" },
    heap: { type: "string" },
    name: { type: "string", short: "n" },
    hold: { type: "boolean" },
    force: { type: "boolean" },
  },
  async run(ctx, values, positionals) {
    if (positionals.length > 0) {
      throw new UsageError(`alloc takes no positional argument, got ${positionals[0]}`);
    }
    if (typeof values.size !== "string") throw new UsageError("alloc needs --size <size>");
    const size = parseSize(values.size);
    if (size === 0) throw new UsageError("--size must be greater than 0");
    const heapName = typeof values.heap === "string" ? values.heap : "system";
    if (heapName === "") throw new UsageError("--heap needs a heap name or a role");
    const name = typeof values.name === "string" ? values.name : undefined;
    const total = memTotal(ctx.kernel);
    if (total !== undefined && size > total) {
      throw errnoError(Errno.ENOMEM, "alloc", {
        detail: `${formatSize(size)} is more than this machine's memory (MemTotal ${
          formatSize(total)
        }); the heap would invoke the OOM killer`,
      });
    }
    using heap = openHeap(heapArg(heapName), { kernel: ctx.kernel });
    using buf = heap.allocate(size, { name, overcommit: values.force === true });
    const info = buf.info();
    const hold = values.hold === true;
    if (ctx.json) {
      printJson(ctx, {
        heap: heap.name,
        pid: selfPid(ctx.kernel),
        fd: buf.fd,
        size: info.size,
        inode: info.inode,
        exporter: info.exporter,
        name: info.name ?? null,
        held: hold,
      });
    } else {
      ctx.io.stdout(
        kernelLine(ctx) +
          `Allocated ${formatSize(info.size)} (${info.size} bytes) from ${heap.name}: ` +
          `fd ${buf.fd}, inode ${info.inode}, exporter ${info.exporter}` +
          (info.name !== undefined ? `, name ${JSON.stringify(info.name)}` : "") + "\n",
      );
    }
    if (hold) {
      // Listen for Ctrl-C before saying so: a signal right after the message must release.
      const released = ctx.io.waitForRelease();
      const where = ctx.kernel.kind === "simulated"
        ? `in the simulated kernel of this process (pid ${Deno.pid}): only this process ` +
          `sees it, no other process or "dmabuf dump" in another shell can (use the Linux ` +
          `kernel for that)`
        : `in pid ${selfPid(ctx.kernel)}`;
      ctx.io.stderr(
        `Holding fd ${buf.fd} (inode ${info.inode}) ${where}; ` +
          `press Ctrl-C or close standard input to release\n`,
      );
      await released;
    }
    return ExitCode.OK;
  },
};
