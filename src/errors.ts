/**
 * The library's one error path: every failed system call, on either kernel, becomes an error
 * carrying `errno`, its name (`code`), the `syscall` and the path or heap involved.
 *
 * Errors whose errno has a matching `Deno.errors` class extend it (`ENOENT` → `NotFound`,
 * `EACCES`/`EPERM` → `PermissionDenied`, `EBUSY` → `Busy`, `EINTR` → `Interrupted`,
 * `EBADF` → `BadResource`, `ETIMEDOUT` → `TimedOut`); all of them are `instanceof ErrnoError`.
 *
 * @module
 */
import { Errno, errnoName, strerror } from "./uapi/errno.ts";

const kErrno = Symbol.for("dmabuf.errno");

/** The fields every errno error carries. */
export interface ErrnoDetails {
  /** The errno value, e.g. 22. */
  readonly errno: number;
  /** The errno name, e.g. `"EINVAL"`. */
  readonly code: string;
  /**
   * The system call (and ioctl) that failed, e.g. `"ioctl(DMA_HEAP_IOCTL_ALLOC)"`; `""` when
   * none was made (a method called on a closed object).
   */
  readonly syscall: string;
  /** The file, heap or buffer involved, when there is one. */
  readonly path?: string;
}

/** Options for {@linkcode errnoError}. */
export interface ErrnoErrorOptions {
  /** The file, heap or buffer involved. */
  path?: string;
  /** What happened, in words; defaults to `strerror(errno)`. */
  detail?: string;
  /** What the user can do about it. */
  hint?: string;
  /** The error that caused this one. */
  cause?: unknown;
}

function message(errno: number, syscall: string, o: ErrnoErrorOptions): string {
  // No system call was made (a method of a closed object): the detail is the whole message.
  if (syscall === "" && o.detail) return o.detail;
  let m = `${syscall} failed with ${errnoName(errno)}`;
  if (o.path) m += ` on ${printablePath(o.path)}`;
  m += `: ${o.detail ?? strerror(errno)}`;
  if (o.hint) m += `. ${o.hint}`;
  return m;
}

/**
 * A path for a message: an abstract socket name (`"\0name"`) as `@name`, as `ss` and
 * `/proc/net/unix` show it, and any other control character escaped (`\n`, `\x01`).
 */
function printablePath(path: string): string {
  const p = path.startsWith("\0") ? "@" + path.slice(1) : path;
  return p.replace(
    // deno-lint-ignore no-control-regex
    /[\0-\x1f\x7f]/g,
    (c) => c === "\n" ? "\\n" : `\\x${c.charCodeAt(0).toString(16).padStart(2, "0")}`,
  );
}

function brand(e: Error, errno: number, syscall: string, o: ErrnoErrorOptions): void {
  Object.defineProperties(e, {
    errno: { value: errno, enumerable: true },
    code: { value: errnoName(errno), enumerable: true },
    syscall: { value: syscall, enumerable: true },
    path: { value: o.path, enumerable: o.path !== undefined },
    [kErrno]: { value: true },
  });
}

/**
 * An error from a system call. Use `instanceof ErrnoError` to recognise any error of this
 * library that carries an errno, including the `Deno.errors` subclasses below.
 *
 * @example Recognising an errno error
 * ```ts
 * import { ErrnoError } from "@dmabuf/dmabuf";
 * import { errnoError } from "./errors.ts";
 * import assert from "node:assert/strict";
 *
 * const err = errnoError(22, "ioctl(DMA_BUF_IOCTL_SYNC)");
 * assert.ok(err instanceof ErrnoError);
 * assert.equal(err.code, "EINVAL");
 * ```
 */
export class ErrnoError extends Error implements ErrnoDetails {
  declare readonly errno: number;
  declare readonly code: string;
  declare readonly syscall: string;
  declare readonly path?: string;

  /**
   * Creates an errno error; prefer {@linkcode errnoError}, which picks the right subclass.
   *
   * @param errno The errno value.
   * @param syscall The failed call.
   * @param options Path, detail and hint.
   */
  constructor(errno: number, syscall: string, options: ErrnoErrorOptions = {}) {
    super(message(errno, syscall, options), { cause: options.cause });
    this.name = "ErrnoError";
    brand(this, errno, syscall, options);
  }

  /** True for every error made by {@linkcode errnoError}, whatever its class. */
  static override [Symbol.hasInstance](value: unknown): boolean {
    return typeof value === "object" && value !== null && (value as any)[kErrno] === true;
  }
}

/** The constructor of an errno error class. */
export type ErrnoErrorClass<E extends Error> = new (
  errno: number,
  syscall: string,
  options?: ErrnoErrorOptions,
) => E & ErrnoDetails;

function subclass<E extends Error>(
  Base: new (message?: string, options?: ErrorOptions) => E,
  name: string,
): ErrnoErrorClass<E> {
  // deno-lint-ignore no-explicit-any
  const Sub = class extends (Base as any) implements ErrnoDetails {
    declare readonly errno: number;
    declare readonly code: string;
    declare readonly syscall: string;
    declare readonly path?: string;
    constructor(errno: number, syscall: string, options: ErrnoErrorOptions = {}) {
      super(message(errno, syscall, options), { cause: options.cause });
      this.name = name;
      brand(this as unknown as Error, errno, syscall, options);
    }
  };
  // The exported name (`BadResourceError`), not the local binding's (`Sub`), for
  // `e.constructor.name` and class listings.
  Object.defineProperty(Sub, "name", { value: `${name}Error` });
  return Sub as unknown as ErrnoErrorClass<E>;
}

/** `ENOENT`: a heap, device or file that does not exist. Extends `Deno.errors.NotFound`. */
export const NotFoundError: ErrnoErrorClass<Deno.errors.NotFound> = subclass(
  Deno.errors.NotFound,
  "NotFound",
);
/** `EACCES`/`EPERM`. Extends `Deno.errors.PermissionDenied`. */
export const PermissionDeniedError: ErrnoErrorClass<Deno.errors.PermissionDenied> = subclass(
  Deno.errors.PermissionDenied,
  "PermissionDenied",
);
/** `EBUSY`. Extends `Deno.errors.Busy`. */
export const BusyError: ErrnoErrorClass<Deno.errors.Busy> = subclass(Deno.errors.Busy, "Busy");
/** `EINTR`. Extends `Deno.errors.Interrupted`. */
export const InterruptedError: ErrnoErrorClass<Deno.errors.Interrupted> = subclass(
  Deno.errors.Interrupted,
  "Interrupted",
);
/** `EBADF`, including use of a closed object. Extends `Deno.errors.BadResource`. */
export const BadResourceError: ErrnoErrorClass<Deno.errors.BadResource> = subclass(
  Deno.errors.BadResource,
  "BadResource",
);
/** `ETIMEDOUT`. Extends `Deno.errors.TimedOut`. */
export const TimedOutError: ErrnoErrorClass<Deno.errors.TimedOut> = subclass(
  Deno.errors.TimedOut,
  "TimedOut",
);

/**
 * Makes the typed error for a failed system call.
 *
 * @param errno The errno value the kernel returned.
 * @param syscall The call, e.g. `"open"` or `"ioctl(DMA_BUF_IOCTL_SYNC)"`.
 * @param options Path, detail, hint and cause.
 * @returns An `ErrnoError` or one of its `Deno.errors` subclasses.
 *
 * @example A missing heap is a NotFound error
 * ```ts
 * import { errnoError } from "./errors.ts";
 * import assert from "node:assert/strict";
 *
 * const err = errnoError(2, "open", { path: "/dev/dma_heap/nope" });
 * assert.ok(err instanceof Deno.errors.NotFound);
 * assert.equal(err.message, "open failed with ENOENT on /dev/dma_heap/nope: No such file or directory");
 * ```
 */
export function errnoError(
  errno: number,
  syscall: string,
  options: ErrnoErrorOptions = {},
): ErrnoError {
  return withoutFrames(() => makeErrno(errno, syscall, options));
}

function makeErrno(errno: number, syscall: string, options: ErrnoErrorOptions): ErrnoError {
  switch (errno) {
    case Errno.ENOENT:
      return new NotFoundError(errno, syscall, options) as ErrnoError;
    case Errno.EACCES:
    case Errno.EPERM:
      return new PermissionDeniedError(errno, syscall, options) as ErrnoError;
    case Errno.EBUSY:
      return new BusyError(errno, syscall, options) as ErrnoError;
    case Errno.EINTR:
      return new InterruptedError(errno, syscall, options) as ErrnoError;
    case Errno.EBADF:
      return new BadResourceError(errno, syscall, options) as ErrnoError;
    case Errno.ETIMEDOUT:
      return new TimedOutError(errno, syscall, options) as ErrnoError;
    default:
      return new ErrnoError(errno, syscall, options);
  }
}

/**
 * The error for a method called on a closed object: `EBADF`, `Deno.errors.BadResource`, no
 * `syscall` (none was made), and the message "Cannot <action> a closed <what>".
 *
 * @param action What was attempted, e.g. `"sync"`.
 * @param what The object, e.g. `"DmaBuf"`.
 * @returns The error to throw.
 */
export function closedError(action: string, what: string): ErrnoError {
  return errnoError(Errno.EBADF, "", { detail: `Cannot ${action} a closed ${what}` });
}

/**
 * The error for a bad argument to a public call, thrown before any system call is made: a
 * `TypeError` (wrong type, `null` options) or a `RangeError` (right type, value out of range),
 * carrying `code: "EINVAL"`, `errno: 22` and the argument's name in `argument`. It is not an
 * {@linkcode ErrnoError}: no system call failed, so it has no `syscall`.
 */
export interface ArgumentError extends Error {
  /** Always `"EINVAL"`. */
  readonly code: "EINVAL";
  /** Always 22 (`EINVAL`). */
  readonly errno: number;
  /** The argument, e.g. `"size"` or `"options.access"`. */
  readonly argument: string;
}

/**
 * Makes the error for a bad argument (see {@linkcode ArgumentError}).
 *
 * @param kind `"type"` for a `TypeError`, `"range"` for a `RangeError`.
 * @param where The public call, e.g. `"DmaHeap.allocate"`.
 * @param argument The argument's name, e.g. `"size"`.
 * @param detail What was expected and what came, e.g. `"must be a safe integer > 0, got NaN"`.
 * @returns The error to throw.
 *
 * @example A bad size
 * ```ts
 * import { argumentError, ErrnoError } from "./errors.ts";
 * import assert from "node:assert/strict";
 *
 * const err = argumentError("range", "DmaHeap.allocate", "size", "must be > 0, got 0");
 * assert.ok(err instanceof RangeError);
 * assert.ok(!(err instanceof ErrnoError));
 * assert.equal(err.code, "EINVAL");
 * assert.equal(err.message, "DmaHeap.allocate: size must be > 0, got 0");
 * ```
 */
export function argumentError(
  kind: "type" | "range",
  where: string,
  argument: string,
  detail: string,
): ArgumentError {
  const Ctor = kind === "type" ? TypeError : RangeError;
  const e = withoutFrames(() => new Ctor(`${where}: ${argument} ${detail}`));
  Object.defineProperties(e, {
    code: { value: "EINVAL", enumerable: true },
    errno: { value: Errno.EINVAL, enumerable: true },
    argument: { value: argument, enumerable: true },
  });
  return e as ArgumentError;
}

/**
 * Makes an error whose stack is only a string. A V8 error keeps the structured call sites of
 * its stack — each frame's receiver and function — for as long as the error lives, even after
 * `stack` was read (measured on Deno 2.9.6 / V8 15.0), so a kept error would keep alive the
 * object whose method threw it (a DmaBuf and its fd). So the error is built with no frames
 * captured, and gets the text of a stack captured by a throwaway error instead.
 */
function withoutFrames<E extends Error>(make: () => E): E {
  const limit = Error.stackTraceLimit;
  let e: E;
  Error.stackTraceLimit = 0;
  try {
    e = make();
  } finally {
    Error.stackTraceLimit = limit;
  }
  const trace = new Error().stack ?? "";
  // Drop the first line (the throwaway's name) and the frame of this function.
  const frames = trace.split("\n").slice(2).join("\n");
  Object.defineProperty(e, "stack", {
    value: `${e.name}: ${e.message}${frames ? "\n" + frames : ""}`,
    writable: true,
    configurable: true,
  });
  return e;
}

/** Describes a value for an error message without calling user code. */
export function describe(value: unknown): string {
  if (value === null) return "null";
  switch (typeof value) {
    case "string":
      return JSON.stringify(value.length > 40 ? value.slice(0, 40) + "…" : value).replace(
        /[\u007f-\u009f]/g,
        (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`,
      );
    case "number":
    case "boolean":
    case "undefined":
      return String(value);
    case "bigint":
      return `${value}n`;
    case "symbol":
      return "a symbol";
    case "function":
      return "a function";
    default:
      return Array.isArray(value) ? "an array" : "an object";
  }
}

/**
 * Checks an options argument: `undefined` or an object (not `null`, not a primitive).
 *
 * @param where The public call.
 * @param value The options.
 * @param argument Its name; default `"options"`.
 * @returns The options, `{}` for `undefined`.
 * @throws {TypeError} {@linkcode ArgumentError} otherwise.
 */
export function optionsArg<T extends object>(
  where: string,
  value: T | undefined,
  argument = "options",
): Partial<T> {
  if (value === undefined) return {};
  if (typeof value !== "object" || value === null) {
    throw argumentError("type", where, argument, `must be an object, got ${describe(value)}`);
  }
  return value;
}

/**
 * Checks an integer argument.
 *
 * @param where The public call.
 * @param argument Its name.
 * @param value The value.
 * @param min The least value allowed.
 * @param max The greatest value allowed; default `Number.MAX_SAFE_INTEGER`.
 * @returns The value.
 * @throws {TypeError} {@linkcode ArgumentError} if not a number.
 * @throws {RangeError} {@linkcode ArgumentError} if not an integer in `[min, max]`.
 */
export function intArg(
  where: string,
  argument: string,
  value: unknown,
  min: number,
  max: number = Number.MAX_SAFE_INTEGER,
): number {
  if (typeof value !== "number") {
    throw argumentError("type", where, argument, `must be a number, got ${describe(value)}`);
  }
  if (!Number.isSafeInteger(value) || value < min || value > max || Object.is(value, -0)) {
    const range = max === Number.MAX_SAFE_INTEGER ? `≥ ${min}` : `in [${min}, ${max}]`;
    throw argumentError(
      "range",
      where,
      argument,
      `must be an integer ${range}, got ${describe(value)}`,
    );
  }
  return value;
}

/**
 * Checks that an argument is a string or a boolean (`typeof`).
 *
 * @param where The public call.
 * @param argument Its name.
 * @param value The value.
 * @param type `"string"` or `"boolean"`.
 * @returns The value.
 * @throws {TypeError} {@linkcode ArgumentError} otherwise.
 */
export function typeArg<K extends "string" | "boolean">(
  where: string,
  argument: string,
  value: unknown,
  type: K,
): K extends "string" ? string : boolean {
  // deno-lint-ignore valid-typeof
  if (typeof value !== type) {
    throw argumentError("type", where, argument, `must be a ${type}, got ${describe(value)}`);
  }
  return value as K extends "string" ? string : boolean;
}

/**
 * Checks that an argument is an instance of `type` (a `DmaBuf`, a `SyncFile`, an `AbortSignal`…).
 *
 * @param where The public call.
 * @param argument Its name.
 * @param value The value.
 * @param type The class it must be an instance of.
 * @throws {TypeError} {@linkcode ArgumentError} otherwise: "must be a <Class>, got …".
 */
export function instanceArg<T>(
  where: string,
  argument: string,
  value: unknown,
  type: { readonly prototype: T; readonly name: string },
): asserts value is T {
  if (!(value instanceof (type as unknown as abstract new () => unknown))) {
    const n = type.name;
    throw argumentError(
      "type",
      where,
      argument,
      `must be ${/^[AEIOU]/.test(n) ? "an" : "a"} ${n}, got ${describe(value)}`,
    );
  }
}

/**
 * Checks a string argument against a set of allowed values.
 *
 * @param where The public call.
 * @param argument Its name.
 * @param value The value.
 * @param allowed The values allowed.
 * @returns The value.
 * @throws {TypeError} {@linkcode ArgumentError} if not one of `allowed`.
 */
export function oneOf<T extends string>(
  where: string,
  argument: string,
  value: unknown,
  allowed: readonly T[],
): T {
  if (typeof value !== "string" || !(allowed as readonly string[]).includes(value)) {
    throw argumentError(
      "type",
      where,
      argument,
      `must be one of ${allowed.map((a) => JSON.stringify(a)).join(", ")}, got ${describe(value)}`,
    );
  }
  return value as T;
}

/**
 * Refuses an fd-carrying object (a `DmaBuf`, a `SyncFile`) of another kernel than the one a call
 * goes to, before the call: its fd number means nothing in that kernel's fd table, or names
 * another file there (two simulated processes, or a simulated process and Linux).
 *
 * @param kernel The kernel the call goes to.
 * @param other The object whose fd the call would pass.
 * @param what What it is, for the message (`"buffer"`, `"sync file"`).
 * @param syscall The call, e.g. `"ioctl(TEST_QUEUE)"`.
 * @param path The device, if any.
 * @throws {ErrnoError} `EXDEV` when `other.kernel !== kernel`.
 */
export function sameKernel(
  kernel: object,
  other: { readonly kernel: object },
  what: string,
  syscall: string,
  path?: string,
): void {
  if (other.kernel === kernel) return;
  throw errnoError(Errno.EXDEV, syscall, {
    path,
    detail: `The ${what}'s fd belongs to another kernel than this call's ` +
      `(another simulated process or machine); pass every object of one kernel ({ kernel })`,
  });
}
