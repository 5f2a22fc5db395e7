/**
 * What every command of the tool is: a name, a help text, its options and a `run`.
 *
 * @module
 */
import type { Kernel } from "../kernel/types.ts";
import type { KernelSelection } from "../kernel/select.ts";
import type { CliIo } from "./io.ts";

/** An option as `node:util` `parseArgs` takes it. */
export interface OptionSpec {
  /** `"string"` takes a value, `"boolean"` is a flag. */
  type: "string" | "boolean";
  /** A one-letter alias. */
  short?: string;
}

/** Parsed option values. */
export type Values = Record<string, string | boolean | undefined>;

/** What a command runs with. */
export interface Context {
  /** Output and waiting. */
  io: CliIo;
  /** `--json`: one JSON document on stdout instead of text. */
  json: boolean;
  /** The kernel in use. */
  kernel: Kernel;
  /** The kernel in use and why it was chosen. */
  selection: KernelSelection;
}

/** A command of the tool. */
export interface Command {
  /** The command word. */
  name: string;
  /** One line for the command list. */
  summary: string;
  /** The full `--help` text. */
  help: string;
  /** Options beyond the common `--json`, `--help` and `--kernel`. */
  options: Record<string, OptionSpec>;
  /** Runs the command; returns the exit code. */
  run(ctx: Context, values: Values, positionals: string[]): number | Promise<number>;
}

/** The kernel as JSON output shows it. */
export function kernelJson(ctx: Context): { kind: string; description: string; reason: string } {
  return {
    kind: ctx.kernel.kind,
    description: ctx.kernel.description,
    reason: ctx.selection.reason,
  };
}

/** The first line of text output: which kernel the tool runs on. */
export function kernelLine(ctx: Context): string {
  return `Kernel: ${ctx.kernel.description} [${ctx.kernel.kind}; ${ctx.selection.reason}]\n`;
}

/** Writes a JSON document (with the kernel) to stdout. */
export function printJson(ctx: Context, body: Record<string, unknown>): void {
  ctx.io.stdout(JSON.stringify({ kernel: kernelJson(ctx), ...body }, null, 2) + "\n");
}
