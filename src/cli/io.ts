/**
 * Where the tool writes and what it waits on, injectable so `main()` runs in-process in tests
 * with captured output.
 *
 * @module
 */

/** The tool's connection to the outside world. */
export interface CliIo {
  /** Writes to standard output. */
  stdout(text: string): void;
  /** Writes to standard error. */
  stderr(text: string): void;
  /** Whether standard error is a terminal (progress bars are drawn only then). */
  stderrIsTerminal: boolean;
  /**
   * Resolves when a held resource should be released: on Ctrl-C (SIGINT) or end of standard
   * input. Used by `alloc --hold`. Listening starts when it is called, not when awaited.
   */
  waitForRelease(): Promise<void>;
}

async function releaseSignal(): Promise<void> {
  const { promise, resolve } = Promise.withResolvers<void>();
  const onSignal = () => resolve();
  Deno.addSignalListener("SIGINT", onSignal);
  Deno.addSignalListener("SIGTERM", onSignal);
  // End of standard input also releases: `dmabuf alloc --hold < /dev/null` returns at once,
  // a pipe releases when the writer closes it.
  const eof = (async () => {
    try {
      for await (const _ of Deno.stdin.readable) { /* drain until EOF */ }
    } catch { /* stdin closed or unreadable: treat as EOF */ }
  })();
  try {
    await Promise.race([promise, eof]);
  } finally {
    Deno.removeSignalListener("SIGINT", onSignal);
    Deno.removeSignalListener("SIGTERM", onSignal);
  }
}

/**
 * The real standard streams, SIGINT/SIGTERM and standard input's end.
 *
 * @returns The process's I/O.
 *
 * @example The process's streams
 * ```ts
 * import { processIo } from "./io.ts";
 * import assert from "node:assert/strict";
 *
 * const io = processIo();
 * assert.equal(typeof io.stderrIsTerminal, "boolean");
 * ```
 */
export function processIo(): CliIo {
  const enc = new TextEncoder();
  const write = (stream: typeof Deno.stdout, text: string) => {
    const bytes = enc.encode(text);
    for (let done = 0; done < bytes.length;) done += stream.writeSync(bytes.subarray(done));
  };
  return {
    stdout: (t) => write(Deno.stdout, t),
    stderr: (t) => write(Deno.stderr, t),
    stderrIsTerminal: Deno.stderr.isTerminal(),
    waitForRelease: releaseSignal,
  };
}
