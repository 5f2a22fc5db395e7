/**
 * The `dmabuf` command-line tool: list heaps, allocate and hold buffers, inspect an fd, account
 * every dma-buf of the system (`dmabuf_dump`), and benchmark allocation.
 *
 * ```sh
 * deno task cli heaps
 * deno task cli alloc --size 4MiB --name frame --hold
 * deno task cli dump --json
 * ```
 *
 * @example Running the tool in-process
 * ```ts
 * import { main } from "@dmabuf/dmabuf/cli";
 * import assert from "node:assert/strict";
 *
 * let out = "";
 * const code = await main(["--help"], { stdout: (t) => void (out += t), stderr() {} });
 * assert.equal(code, 0);
 * assert.match(out, /Usage: dmabuf <command>/);
 * ```
 *
 * @module
 */
import { main } from "./src/cli/main.ts";

export { main };
export type { CliIo } from "./src/cli/io.ts";
export { formatSize, parseSize } from "./src/cli/size.ts";

if (import.meta.main) Deno.exit(await main(Deno.args));
