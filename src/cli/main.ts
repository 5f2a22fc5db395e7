/**
 * The command-line tool's entry: picks the command, parses its options, selects the kernel, runs
 * it, and turns any failure into one line on stderr and an exit code.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { kernelSelection, selectKernel } from "../kernel/select.ts";
import { ErrnoError } from "../errors.ts";
import denoJson from "../../deno.json" with { type: "json" };
import { UDEV_HINT } from "../heaps/heap.ts";
import type { Command, OptionSpec, Values } from "./command.ts";
import { errorLine, ExitCode, exitCodeOf, UsageError } from "./errors.ts";
import { type CliIo, processIo } from "./io.ts";
import { heapsCommand } from "./heaps.ts";
import { allocCommand } from "./alloc.ts";
import { infoCommand } from "./info.ts";
import { dumpCommand } from "./dump.ts";
import { benchCommand } from "./bench.ts";

/** The commands, in help order. */
export const COMMANDS: readonly Command[] = [
  heapsCommand,
  allocCommand,
  infoCommand,
  dumpCommand,
  benchCommand,
];

const COMMON: Record<string, OptionSpec> = {
  json: { type: "boolean" },
  help: { type: "boolean", short: "h" },
  kernel: { type: "string" },
  version: { type: "boolean" },
};

/** The tool's version line: the package version and the Deno running it. */
export function versionLine(): string {
  return `dmabuf ${denoJson.version} (${denoJson.name}; Deno ${Deno.version.deno}, V8 ${Deno.version.v8})\n`;
}

/** The top-level help. */
export function globalHelp(): string {
  const width = Math.max(...COMMANDS.map((c) => c.name.length));
  return `Usage: dmabuf <command> [options]

dma-buf for Deno: allocate, inspect and account DMA buffers from Linux dma-heaps, on the real
kernel or the simulated one.

Commands:
${COMMANDS.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`).join("\n")}

Options for every command:
  --json             one JSON document on stdout (stable keys) instead of text
  --kernel <kind>    linux, simulated or auto (default: DMABUF_KERNEL, else auto: Linux
                     whenever /dev/dma_heap/* or /dev/udmabuf exists, simulated otherwise)
  -h, --help         help for the command
  --version          the tool's version

Errors go to stderr as one line; with --json, stdout also gets
{ "error": { "code", "errno", "message" } }.

Sizes take binary units: 4096, 64k, 4MiB, "1.5 MiB". Exit codes: 0 ok, 1 operation failed,
2 usage error, 3 permission denied, 4 not found. "dmabuf <command> --help" says more.
`;
}

/** Splits off the command word, skipping the value of `--kernel`. */
function splitCommand(args: string[]): [string | undefined, string[]] {
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    if (a === "--") break;
    if (a === "--kernel") {
      i++;
      continue;
    }
    if (!a.startsWith("-")) return [a, [...args.slice(0, i), ...args.slice(i + 1)]];
  }
  return [undefined, args];
}

function parse(cmd: Command, args: string[]): { values: Values; positionals: string[] } {
  try {
    const { values, positionals } = parseArgs({
      args,
      options: { ...COMMON, ...cmd.options },
      allowPositionals: true,
      strict: true,
    });
    return { values: values as Values, positionals };
  } catch (e) {
    const m = /^Option '(--[\w-]+)' argument is ambiguous/.exec((e as Error).message);
    // parseArgs's first line alone ("argument is ambiguous") does not say what to do.
    const first = m
      ? `Option '${m[1]}' needs a value; a value starting with '-' goes as ${m[1]}=${
        args[args.indexOf(m[1]) + 1] ?? "-…"
      }`
      : (e as Error).message.split("\n")[0];
    throw new UsageError(`${first} (see dmabuf ${cmd.name} --help)`);
  }
}

function chooseKernel(kind: unknown): void {
  if (kind === undefined) return;
  if (kind !== "linux" && kind !== "simulated" && kind !== "auto") {
    throw new UsageError(
      `--kernel must be linux, simulated or auto, got ${JSON.stringify(kind)}`,
    );
  }
  selectKernel(kind === "auto" ? null : kind, `--kernel ${kind}`);
}

/** The error as `--json` prints it: `{ "error": { "code", "errno", "message" } }`. */
export function errorJson(
  e: unknown,
): { error: { code: string; errno: number | null; message: string } } {
  const message = e instanceof Error ? e.message : String(e);
  if (e instanceof ErrnoError) return { error: { code: e.code, errno: e.errno, message } };
  const code = e instanceof UsageError
    ? "USAGE"
    : e instanceof Deno.errors.NotCapable
    ? "NOT_CAPABLE"
    : e instanceof Error
    ? e.name
    : "ERROR";
  return { error: { code, errno: null, message } };
}

/**
 * Runs the tool with `args` (without the program name) and returns the exit code. Never throws
 * and never prints a stack: failures become one line on stderr.
 *
 * @param args The command line, e.g. `["dump", "--json"]`.
 * @param io Where to write; default the process's streams.
 * @returns 0 ok, 1 operation failed, 2 usage error, 3 permission denied, 4 not found.
 *
 * @example An unknown command is a usage error
 * ```ts
 * import { main } from "@dmabuf/dmabuf/cli";
 * import assert from "node:assert/strict";
 *
 * let err = "";
 * const code = await main(["frobnicate"], { stdout() {}, stderr: (t) => void (err += t) });
 * assert.equal(code, 2);
 * assert.match(err, /Unknown command: frobnicate/);
 * ```
 */
export async function main(args: string[], io: Partial<CliIo> = {}): Promise<number> {
  const base = io.stdout && io.stderr ? undefined : processIo();
  const full: CliIo = {
    stdout: io.stdout ?? base!.stdout,
    stderr: io.stderr ?? base!.stderr,
    stderrIsTerminal: io.stderrIsTerminal ?? base?.stderrIsTerminal ?? false,
    waitForRelease: io.waitForRelease ?? base?.waitForRelease ?? (() => Promise.resolve()),
  };
  const json = args.includes("--json");
  try {
    const [name, rest] = splitCommand(args);
    if (name === undefined && rest.includes("--version")) {
      full.stdout(json ? JSON.stringify({ version: denoJson.version }) + "\n" : versionLine());
      return ExitCode.OK;
    }
    if (name === undefined || name === "help") {
      const topic = name === "help" ? COMMANDS.find((c) => c.name === rest[0]) : undefined;
      if (topic) full.stdout(topic.help);
      else if (name === "help" && rest.length > 0) {
        throw new UsageError(`Unknown command: ${rest[0]}`);
      } else if (name === undefined && !rest.some((a) => a === "--help" || a === "-h")) {
        full.stderr(globalHelp());
        return ExitCode.USAGE;
      } else full.stdout(globalHelp());
      return ExitCode.OK;
    }
    const cmd = COMMANDS.find((c) => c.name === name);
    if (!cmd) throw new UsageError(`Unknown command: ${name} (see dmabuf --help)`);
    const { values, positionals } = parse(cmd, rest);
    if (values.help) {
      full.stdout(cmd.help);
      return ExitCode.OK;
    }
    if (values.version) {
      full.stdout(versionLine());
      return ExitCode.OK;
    }
    chooseKernel(values.kernel);
    // The kernel is chosen on first use, so usage errors are reported before any kernel work.
    const ctx = {
      io: full,
      json: values.json === true,
      get selection() {
        return kernelSelection();
      },
      get kernel() {
        return kernelSelection().kernel;
      },
    };
    return await cmd.run(ctx, values, positionals);
  } catch (e) {
    const code = exitCodeOf(e);
    let line = errorLine(e);
    const path = (e as { path?: string }).path ?? "";
    if (code === ExitCode.PERMISSION && path.startsWith("/dev/") && !line.includes(UDEV_HINT)) {
      line += `. ${UDEV_HINT}`;
    }
    if (json) full.stdout(JSON.stringify(errorJson(e), null, 2) + "\n");
    full.stderr(line + "\n");
    return code;
  }
}
