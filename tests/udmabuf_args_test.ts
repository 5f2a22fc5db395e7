/**
 * Found by the fuzzer (`tests/fuzz/`): `Udmabuf.create`/`createList` with a `null` range, a
 * range missing fields, or a list that is not an array threw `TypeError`s from inside the library
 * (`Cannot convert undefined or null to object`, `ranges.forEach is not a function`) or passed a
 * missing field to the kernel as 0. Each is now `EINVAL` before any system call, on either kernel.
 */
import assert from "node:assert/strict";
import { ErrnoError, openUdmabuf } from "../mod.ts";

const bad: [string, (u: ReturnType<typeof openUdmabuf>) => unknown][] = [
  ["create(null)", (u) => u.create(null as never)],
  ["create(5)", (u) => u.create(5 as never)],
  ["create({ memfd })", (u) => u.create({ memfd: 3 } as never)],
  ["createList(null)", (u) => u.createList(null as never)],
  ['createList("x")', (u) => u.createList("x" as never)],
  ["createList([null])", (u) => u.createList([null] as never)],
];

for (const [name, call] of bad) {
  Deno.test(`Udmabuf.${name} is EINVAL, not an error from inside the library`, () => {
    using u = openUdmabuf();
    assert.throws(() => call(u), (e: unknown) => e instanceof ErrnoError && e.code === "EINVAL");
  });
}
