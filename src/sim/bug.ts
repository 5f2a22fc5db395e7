/**
 * include/asm-generic/bug.h: `WARN_ON`. The model adds lifetime checks the real kernel only
 * partly has (a real use-after-free corrupts memory silently); each one prints the first line of
 * a kernel warning splat to the log and is counted by kind on the machine. In strict mode the
 * machine throws {@linkcode KernelBug} instead.
 *
 * @module
 */

/** Kinds of lifetime violation the model detects. */
export type WarningKind =
  | "use-after-put"
  | "vmap-unbalanced"
  | "vmapped-at-release"
  | "attached-at-release"
  | "map-after-detach"
  | "map-unbalanced"
  | "detach-while-mapped"
  | "end-without-begin"
  | "dma-mask-missing";

/** One recorded warning. */
export interface KernelWarning {
  /** What was violated. */
  readonly kind: WarningKind;
  /** The function that noticed. */
  readonly func: string;
  /** The log line written. */
  readonly line: string;
}

/** Thrown in strict mode where the kernel would warn (or corrupt memory). */
export class KernelBug extends Error {
  /** What was violated. */
  readonly kind: WarningKind;
  /**
   * Makes the error.
   *
   * @param kind What was violated.
   * @param message The warning text.
   */
  constructor(kind: WarningKind, message: string) {
    super(message);
    this.name = "KernelBug";
    this.kind = kind;
  }
}

/** Something that records warnings (the machine). */
export interface WarnSink {
  /** Records (or throws, in strict mode) a warning raised by `func` in `file`. */
  WARN(kind: WarningKind, file: string, func: string, text: string): void;
}
