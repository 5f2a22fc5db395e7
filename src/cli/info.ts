/**
 * `dmabuf info`: what the kernel reports about one dma-buf fd, of this process or another.
 *
 * @module
 */
import { parseFdinfo } from "../dmabuf/fdinfo.ts";
import { errnoError } from "../errors.ts";
import { Errno } from "../uapi/errno.ts";
import { O_ACCMODE, O_CLOEXEC } from "../uapi/constants.ts";
import { isGone, isPermissionError } from "../accounting/reader.ts";
import { procError } from "../accounting/fdrefs.ts";
import { type Command, kernelLine, printJson } from "./command.ts";
import { selfPid } from "./alloc.ts";
import { ExitCode, UsageError } from "./errors.ts";
import { formatSize } from "./size.ts";
import { renderTable } from "./table.ts";

/** A target of `info`: a pid (or "self") and an fd. */
export interface FdTarget {
  /** The process. */
  pid: number | "self";
  /** The fd in that process. */
  fd: number;
}

/**
 * Parses `<fd>` or `/proc/<pid>/fd/<n>` (also `/proc/self/fd/<n>`).
 *
 * @param text The argument.
 * @returns The target.
 * @throws {UsageError} For anything else.
 *
 * @example Both forms
 * ```ts
 * import { parseFdTarget } from "./info.ts";
 * import assert from "node:assert/strict";
 *
 * assert.deepEqual(parseFdTarget("5"), { pid: "self", fd: 5 });
 * assert.deepEqual(parseFdTarget("/proc/42/fd/7"), { pid: 42, fd: 7 });
 * ```
 */
export function parseFdTarget(text: string): FdTarget {
  if (/^\d+$/.test(text)) return { pid: "self", fd: Number(text) };
  const m = /^\/proc\/(\d+|self)\/fd\/(\d+)$/.exec(text);
  if (m && m[1] !== "0") {
    return { pid: m[1] === "self" ? "self" : Number(m[1]), fd: Number(m[2]) };
  }
  throw new UsageError(`Expected an fd number or /proc/<pid>/fd/<n>, got ${JSON.stringify(text)}`);
}

const ACCMODE = ["O_RDONLY", "O_WRONLY", "O_RDWR", "O_ACCMODE"];

/** The `info` command. */
export const infoCommand: Command = {
  name: "info",
  summary: "Show one dma-buf fd: inode, size, exporter, name, references",
  help: `Usage: dmabuf info <fd | /proc/<pid>/fd/<n>> [--json]

Shows what the kernel reports about a dma-buf fd (its fdinfo and /proc link): inode, size,
exporter, name, reference count, access mode. <fd> is an fd of this process (inherited, e.g.
"dmabuf info 3 3<&5" in a shell that has it); /proc/<pid>/fd/<n> reads another process's fd
(requires PTRACE_MODE_READ or root).

Exit codes: 0 shown, 1 not a dma-buf, 2 bad argument, 3 permission denied, 4 no such fd.
`,
  options: {},
  run(ctx, _values, positionals) {
    if (positionals.length !== 1) {
      throw new UsageError("info takes exactly one argument: <fd> or /proc/<pid>/fd/<n>");
    }
    const { pid, fd } = parseFdTarget(positionals[0]);
    const fdinfo = `/proc/${pid}/fdinfo/${fd}`;
    const link = `/proc/${pid}/fd/${fd}`;
    let text: string;
    try {
      text = ctx.kernel.readText(fdinfo);
    } catch (e) {
      if (isGone(e)) {
        throw errnoError(Errno.ENOENT, "info", {
          path: link,
          detail: pid === "self" ? `fd ${fd} is not open` : `no fd ${fd} in process ${pid}`,
          cause: e,
        });
      }
      if (isPermissionError(e)) throw procError(e, "open", fdinfo);
      throw e;
    }
    let target: string | null = null;
    try {
      target = ctx.kernel.readLink(link);
    } catch { /* the fd may close in between; fdinfo already tells what we need */ }
    const info = parseFdinfo(text);
    if (info === undefined) {
      throw errnoError(Errno.EINVAL, "info", {
        path: link,
        detail: `not a dma-buf (its fdinfo has no exp_name${target ? `; it is ${target}` : ""})`,
      });
    }
    const access = ACCMODE[info.flags & O_ACCMODE];
    const cloexec = (info.flags & O_CLOEXEC) !== 0;
    if (ctx.json) {
      printJson(ctx, {
        pid: pid === "self" ? selfPid(ctx.kernel) : pid,
        fd,
        link: target,
        inode: info.inode,
        size: info.size,
        exporter: info.exporter,
        name: info.name ?? null,
        count: info.count,
        flags: info.flags,
        access,
        cloexec,
      });
      return ExitCode.OK;
    }
    const rows = [
      ["Path", link],
      ["Link", target ?? "-"],
      ["Inode", String(info.inode)],
      ["Size", `${formatSize(info.size)} (${info.size} bytes)`],
      ["Exporter", info.exporter],
      ["Name", info.name ?? "<none>"],
      ["References", String(info.count)],
      ["Flags", `0${info.flags.toString(8)} (${access}${cloexec ? " | O_CLOEXEC" : ""})`],
    ];
    ctx.io.stdout(
      kernelLine(ctx) + "\n" + renderTable([{ title: "Field" }, { title: "Value" }], rows),
    );
    return ExitCode.OK;
  },
};
