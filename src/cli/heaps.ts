/**
 * `dmabuf heaps`: the heaps in `/dev/dma_heap`, their role and whether this user can open them.
 *
 * @module
 */
import { listHeaps, UDEV_HINT } from "../heaps/heap.ts";
import { UDMABUF_PATH } from "../heaps/udmabuf.ts";
import type { Kernel } from "../kernel/types.ts";
import type { ErrnoError } from "../errors.ts";
import { O_CLOEXEC, O_RDWR } from "../uapi/constants.ts";
import { DMA_HEAP_DIR } from "../uapi/dma_heap.ts";
import { type Command, kernelLine, printJson } from "./command.ts";
import { ExitCode, UsageError } from "./errors.ts";
import { renderTable } from "./table.ts";

const denied = (code: string | undefined) => code === "EACCES" || code === "EPERM";

/** Whether `/dev/udmabuf` opens read-write here: `null` when it does, else the errno name. */
function udmabufError(kernel: Kernel): string | null {
  try {
    kernel.close(kernel.open(UDMABUF_PATH, O_RDWR | O_CLOEXEC));
    return null;
  } catch (e) {
    return (e as ErrnoError).code ?? (e as Error).name;
  }
}

/** The `heaps` command. */
export const heapsCommand: Command = {
  name: "heaps",
  summary: "List the dma-heaps: name, path, role, access",
  help: `Usage: dmabuf heaps [--json]

Lists the heaps in ${DMA_HEAP_DIR} with their role (system, contiguous) and whether this user
can open them. Rows refused with EACCES come with the udev rule that fixes it. The last line
says whether ${UDMABUF_PATH} (openAllocator()'s stand-in for the system heap) opens.

Exit codes: 0 every heap opens, 3 a heap is refused (EACCES/EPERM), 4 no heaps at all.
`,
  options: {},
  run(ctx, _values, positionals) {
    if (positionals.length > 0) {
      throw new UsageError(`heaps takes no argument, got ${positionals[0]}`);
    }
    const heaps = listHeaps({ kernel: ctx.kernel });
    const udmabuf = udmabufError(ctx.kernel);
    const refused = heaps.some((h) => denied(h.error));
    const code = heaps.length === 0
      ? ExitCode.NOT_FOUND
      : refused
      ? ExitCode.PERMISSION
      : ExitCode.OK;
    if (ctx.json) {
      printJson(ctx, {
        heaps: heaps.map((h) => ({
          name: h.name,
          path: h.path,
          role: h.role ?? null,
          accessible: h.accessible,
          error: h.error ?? null,
        })),
        hint: refused ? UDEV_HINT : null,
        udmabuf: { path: UDMABUF_PATH, accessible: udmabuf === null, error: udmabuf },
      });
      return code;
    }
    let out = kernelLine(ctx) + "\n";
    if (heaps.length === 0) {
      out += `No dma-heaps: ${DMA_HEAP_DIR} is empty or missing on this kernel\n`;
    } else {
      out += renderTable(
        [{ title: "Name" }, { title: "Path" }, { title: "Role" }, { title: "Access" }],
        heaps.map((h) => [
          h.name,
          h.path,
          h.role ?? "-",
          h.accessible ? "yes" : `no (${h.error})`,
        ]),
      );
      if (refused) out += `\nHint: ${UDEV_HINT}\n`;
    }
    out += `\nudmabuf: ${UDMABUF_PATH} ${
      udmabuf === null ? "opens" : `does not open (${udmabuf})`
    }\n`;
    ctx.io.stdout(out);
    return code;
  },
};
