/**
 * How the fuzzer sorts a thrown value. The rule:
 *
 * - **typed**: an `ErrnoError` (any errno error of the library, including its `Deno.errors`
 *   subclasses), any other `Deno.errors.*`, a `TypeError`/`RangeError` that a `new` expression
 *   in the library's own source (`src/`, `mod.ts`) constructed, the reason of an AbortSignal the
 *   fuzzer itself aborted, or the fuzzer's own {@linkcode CallbackError} passed through.
 * - **untyped**: everything else — in particular errors the JS engine or Deno's runtime made
 *   while running library code (`Cannot read properties of null`, `Cannot perform Construct on a
 *   detached ArrayBuffer`, `kernel.open is not a function`, `Invalid typed array length`), plain
 *   `Error`s, and non-Error values.
 *
 * Telling a library `new TypeError(...)` from an engine TypeError: {@linkcode installErrorTags}
 * replaces the global `TypeError` and `RangeError` with proxies whose construct trap tags the new
 * error when the frame that ran `new` is in the library's source. The engine and Deno's runtime
 * make their errors from the intrinsic constructors, which the proxies never see. It must run
 * before the library's modules are evaluated (the child imports the library dynamically).
 *
 * @module
 */

const tagged = new WeakSet<object>();
const aborted = new WeakSet<object>();

/** Thrown by the fuzzer's callbacks (a `write` callback that fails on purpose). */
export class CallbackError extends Error {
  override name = "CallbackError";
}

/** The project root as a file URL prefix (this file is `tests/fuzz/classify.ts`). */
const ROOT = new URL("../../", import.meta.url).href;
const LIBRARY = [`${ROOT}src/`, `${ROOT}mod.ts`];

/** Tags library-constructed TypeErrors and RangeErrors; call before importing the library. */
export function installErrorTags(): void {
  for (const name of ["TypeError", "RangeError"] as const) {
    const Original = globalThis[name];
    if ((Original as any).__fuzzTagged) continue;
    const proxy: any = new Proxy(Original, {
      construct(target, args, newTarget) {
        const e = Reflect.construct(target, args, newTarget === proxy ? target : newTarget);
        // Frame 0 is this trap; frame 1 ran `new` (or `super()` of a subclass). The library may
        // build errors with `Error.stackTraceLimit = 0` (so they keep no frames): look anyway.
        const limit = Error.stackTraceLimit;
        Error.stackTraceLimit = 10;
        let stack: string;
        try {
          stack = new Error().stack ?? "";
        } finally {
          Error.stackTraceLimit = limit;
        }
        const frames = stack.split("\n").slice(2, 5);
        if (frames.some((f) => LIBRARY.some((p) => f.includes(p)))) tagged.add(e);
        return e;
      },
      get(target, key, receiver) {
        if (key === "__fuzzTagged") return true;
        return Reflect.get(target, key, receiver);
      },
    });
    (globalThis as any)[name] = proxy;
  }
}

/** Records `signal.reason` of a signal the fuzzer aborted, so rejecting with it counts as typed. */
export function abortedBy(controller: AbortController): void {
  controller.abort();
  const reason = controller.signal.reason;
  if (typeof reason === "object" && reason !== null) aborted.add(reason);
}

/** Outcome classes of one public call. */
export type Outcome = "ok" | "typed" | "untyped" | "hang";

/**
 * Sorts a thrown value (see the module doc).
 *
 * @param e What was thrown.
 * @param ErrnoError The library's `ErrnoError` class (imported after the tags are installed).
 * @returns `"typed"` or `"untyped"`.
 */
export function classify(e: unknown, ErrnoError: abstract new (...a: any[]) => Error): Outcome {
  if (typeof e !== "object" || e === null) return "untyped";
  if (e instanceof ErrnoError) return "typed";
  if (e instanceof CallbackError) return "typed";
  if (aborted.has(e)) return "typed";
  for (const C of Object.values(Deno.errors)) {
    if (typeof C === "function" && e instanceof C) return "typed";
  }
  if (tagged.has(e) && (e as Error).message.length > 0) return "typed";
  return "untyped";
}

/** One line about an error: class, message, and the first two stack frames. */
export function describe(e: unknown): string {
  if (!(e instanceof Error)) return `non-Error thrown: ${String(e)}`;
  const frames = (e.stack ?? "").split("\n").filter((l) => l.trim().startsWith("at ")).slice(0, 2)
    .map((l) => l.trim().replace(ROOT, ""));
  return `${e.name}: ${e.message.slice(0, 300)} ${frames.length ? `[${frames.join(" ← ")}]` : ""}`;
}
