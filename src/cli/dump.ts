/**
 * `dmabuf dump`: system-wide dma-buf accounting in the layout of Android's `dmabuf_dump`.
 *
 * @module
 */
import { denoFsReader } from "../accounting/reader.ts";
import { type DmabufDump, dmabufDump } from "../accounting/dump.ts";
import { type Command, type Context, kernelLine, printJson } from "./command.ts";
import { ExitCode, exitCodeOfErrno, UsageError } from "./errors.ts";
import { formatSize } from "./size.ts";
import { renderTable } from "./table.ts";

function perProcess(d: DmabufDump): string {
  const byInode = new Map(d.buffers.map((b) => [b.inode, b]));
  let out = "";
  for (const p of d.processes) {
    out += `\n${p.name}:${p.pid}\n`;
    const rows = p.buffers.map(({ inode }) => {
      const b = byInode.get(inode)!;
      return [
        b.name ?? "<none>",
        formatSize(b.size),
        formatSize(b.pss),
        String(b.pids.length),
        String(b.inode),
        b.exporter,
      ];
    });
    rows.push(["PROCESS TOTAL", formatSize(p.rss), formatSize(p.pss), "", "", ""]);
    out += renderTable(
      [
        { title: "Name" },
        { title: "Rss", right: true },
        { title: "Pss", right: true },
        { title: "nr_procs", right: true },
        { title: "Inode", right: true },
        { title: "Exporter" },
      ],
      rows,
      2,
    );
  }
  return out;
}

function matrix(d: DmabufDump): string {
  const procs = d.processes;
  const rows = d.buffers.map((b) => [
    String(b.inode),
    formatSize(b.size),
    b.exporter,
    b.name ?? "<none>",
    b.count === null ? "-" : String(b.count),
    ...procs.map((p) => {
      const fds = b.fdRefs[p.pid] ?? 0, maps = b.mapRefs[p.pid] ?? 0;
      return fds === 0 && maps === 0 ? "-" : `${fds}(${maps})`;
    }),
  ]);
  return "\nBuffers by process, fd refs (map refs):\n" + renderTable(
    [
      { title: "Inode", right: true },
      { title: "Size", right: true },
      { title: "Exporter" },
      { title: "Name" },
      { title: "Count", right: true },
      ...procs.map((p) => ({ title: `${p.name}:${p.pid}`, right: true })),
    ],
    rows,
    2,
  );
}

function exported(d: DmabufDump): string {
  if (d.exported === null) {
    return `\nAll exported buffers: unknown (needs sysfs buffer stats or debugfs bufinfo: ` +
      `sysfs ${d.sources.sysfs}, debugfs ${d.sources.debugfs})\n`;
  }
  const names = new Map(d.processes.map((p) => [p.pid, `${p.name}:${p.pid}`]));
  let out = "\nAll exported buffers:\n" + renderTable(
    [
      { title: "Inode", right: true },
      { title: "Size", right: true },
      { title: "Exporter" },
      { title: "Name" },
      { title: "Count", right: true },
      { title: "Attached" },
      { title: "Held by" },
    ],
    d.exported.map((b) => [
      String(b.inode),
      formatSize(b.size),
      b.exporter,
      b.name ?? "<none>",
      b.count === null ? "-" : String(b.count),
      b.attachments === null ? "?" : b.attachments.join(",") || "-",
      b.pids.map((p) => names.get(p) ?? String(p)).join(", ") || "kernel only",
    ]),
    2,
  );
  out += "\nPer exporter:\n" + renderTable(
    [{ title: "Exporter" }, { title: "Buffers", right: true }, { title: "Size", right: true }],
    d.exporters!.map((t) => [t.exporter, String(t.buffers), formatSize(t.bytes)]),
    2,
  );
  return out;
}

function text(ctx: Context, d: DmabufDump, all: boolean): string {
  let out = kernelLine(ctx);
  if (d.scope === "self") {
    out += "(this kernel's /proc lists no processes: only this process is accounted)\n";
  }
  if (d.buffers.length === 0) out += "\nNo dma-buf is held by a process that could be read.\n";
  else out += perProcess(d) + matrix(d);
  if (all) out += exported(d);
  const t = d.totals;
  out += `\ndmabuf total: ${t.exportedBytes === null ? "unknown" : formatSize(t.exportedBytes)}` +
    `  kernel_rss: ${t.kernelRss === null ? "unknown" : formatSize(t.kernelRss)}` +
    `  userspace_rss: ${formatSize(t.userspaceRss)}  userspace_pss: ${
      formatSize(t.userspacePss)
    }\n`;
  if (t.exportedBytes === null) {
    out += `(all exported buffers are counted only from sysfs stats or debugfs bufinfo: ` +
      `sysfs ${d.sources.sysfs}, debugfs ${d.sources.debugfs})\n`;
  }
  if (d.unreadable.length) {
    // One line per reason: as a normal user that is every other user's process, all EACCES.
    const groups = new Map<string, number[]>();
    for (const u of d.unreadable) {
      const key = `${u.code}: ${u.reason}`;
      groups.set(key, [...(groups.get(key) ?? []), u.pid]);
    }
    out += "\nCould not read:\n";
    for (const [why, pids] of groups) {
      out += `  ${pids.length === 1 ? "pid" : "pids"} ${pids.join(", ")} (${why})\n`;
    }
  }
  if (d.vanished.length) out += `\nExited during the scan: ${d.vanished.join(", ")}\n`;
  return out;
}

/** The `dump` command. */
export const dumpCommand: Command = {
  name: "dump",
  summary: "Who holds which dma-buf: per-process Rss/Pss and a buffer × process table",
  help: `Usage: dmabuf dump [pid] [-b] [--proc <dir>] [--sys <dir>] [--debugfs <dir>] [--json]

Walks /proc/<pid>/fdinfo and /proc/<pid>/maps of every process (or only [pid]) and prints,
per process, each dma-buf it holds (Name, Rss, Pss, nr_procs, Inode, Exporter), then a
buffer × process table of fd refs (map refs), then totals. Pss charges a buffer's size evenly
to the processes holding it; kernel_rss is what no process holds (needs sysfs buffer stats or
debugfs bufinfo). Processes that cannot be read are listed with the reason; reading other
users' processes requires PTRACE_MODE_READ or root.

  -b, --buffers    also list every exported buffer, including those only the kernel holds,
                   with attached devices, and totals per exporter (like dmabuf_dump -b)
  --proc <dir>     read a procfs tree in <dir> instead of the kernel's /proc
  --sys <dir>      sysfs root for /kernel/dmabuf/buffers (default /sys)
  --debugfs <dir>  debugfs root for /dma_buf/bufinfo (default /sys/kernel/debug)
  With any of these, files are read from the file system (for saved or synthetic trees);
  otherwise through the kernel in use.

Exit codes: 0 done (unreadable processes are listed, not fatal, unless [pid] was given),
2 bad pid, 3 [pid] may not be read, 4 [pid] does not exist.
`,
  options: {
    proc: { type: "string" },
    sys: { type: "string" },
    debugfs: { type: "string" },
    buffers: { type: "boolean", short: "b" },
  },
  run(ctx, values, positionals) {
    if (positionals.length > 1) throw new UsageError("dump takes at most one pid");
    let pid: number | undefined;
    if (positionals.length === 1) {
      if (!/^\d+$/.test(positionals[0]) || Number(positionals[0]) === 0) {
        throw new UsageError(`Invalid pid ${JSON.stringify(positionals[0])}`);
      }
      pid = Number(positionals[0]);
    }
    const str = (v: unknown) => typeof v === "string" ? v : undefined;
    const trees = [values.proc, values.sys, values.debugfs].some((v) => v !== undefined);
    const d = dmabufDump({
      pid,
      procRoot: str(values.proc) ?? "/proc",
      sysfsRoot: str(values.sys) ?? "/sys",
      debugfsRoot: str(values.debugfs) ?? "/sys/kernel/debug",
      reader: trees ? denoFsReader() : ctx.kernel,
    });
    if (ctx.json) printJson(ctx, { ...d });
    else ctx.io.stdout(text(ctx, d, values.buffers === true));
    if (pid !== undefined && d.unreadable.length > 0) {
      const u = d.unreadable[0];
      ctx.io.stderr(`dmabuf: cannot read process ${u.pid} (${u.code}): ${u.reason}\n`);
      return exitCodeOfErrno(u.code);
    }
    return ExitCode.OK;
  },
};
