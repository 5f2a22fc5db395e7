/**
 * Pins every ioctl number and struct layout of `src/uapi/` to the values the kernel headers give,
 * first as literals from `docs/kernel-abi.md`, then (when gcc and the headers exist) against a C
 * program compiled on this machine.
 */
import assert from "node:assert/strict";
import {
  _IO,
  _IOC,
  _IOC_DIR,
  _IOC_NONE,
  _IOC_NR,
  _IOC_READ,
  _IOC_SIZE,
  _IOC_TYPE,
  _IOC_WRITE,
  _IOR,
  _IOW,
  _IOWR,
  IOC_IN,
  IOC_OUT,
} from "../src/uapi/ioctl.ts";
import { gccProbe, gccSkipReason, runProbe } from "./_helpers.ts";
import * as heap from "../src/uapi/dma_heap.ts";
import * as buf from "../src/uapi/dma_buf.ts";
import * as udma from "../src/uapi/udmabuf.ts";
import * as drv from "../src/uapi/test_driver.ts";
import * as sync from "../src/uapi/sync_file.ts";
import * as k from "../src/uapi/constants.ts";
import { Errno } from "../src/uapi/errno.ts";

/** Every request the library encodes, with the hex the kernel headers produce. */
const REQUESTS: [string, number, number][] = [
  ["DMA_HEAP_IOCTL_ALLOC", heap.DMA_HEAP_IOCTL_ALLOC, 0xC0184800],
  ["DMA_HEAP_IOCTL_ALLOC (16-byte compat)", _IOWR("H", 0, 16), 0xC0104800],
  ["DMA_HEAP_IOCTL_ALLOC (48-byte compat)", _IOWR("H", 0, 48), 0xC0304800],
  ["DMA_BUF_IOCTL_SYNC", buf.DMA_BUF_IOCTL_SYNC, 0x40086200],
  ["DMA_BUF_SET_NAME_A", buf.DMA_BUF_SET_NAME_A, 0x40046201],
  ["DMA_BUF_SET_NAME_B", buf.DMA_BUF_SET_NAME_B, 0x40086201],
  ["DMA_BUF_IOCTL_EXPORT_SYNC_FILE", buf.DMA_BUF_IOCTL_EXPORT_SYNC_FILE, 0xC0086202],
  ["DMA_BUF_IOCTL_IMPORT_SYNC_FILE", buf.DMA_BUF_IOCTL_IMPORT_SYNC_FILE, 0x40086203],
  ["UDMABUF_CREATE", udma.UDMABUF_CREATE, 0x40187542],
  ["UDMABUF_CREATE_LIST", udma.UDMABUF_CREATE_LIST, 0x40087543],
  ["TEST_DRIVERA", drv.TEST_DRIVERA, 0x4018540A],
  ["TEST_DRIVERB", drv.TEST_DRIVERB, 0x4018540B],
  ["SYNC_IOC_MERGE", sync.SYNC_IOC_MERGE, 0xC0303E03],
  ["SYNC_IOC_FILE_INFO", sync.SYNC_IOC_FILE_INFO, 0xC0383E04],
  ["SYNC_IOC_SET_DEADLINE", sync.SYNC_IOC_SET_DEADLINE, 0x40103E05],
  ["SW_SYNC_IOC_CREATE_FENCE", sync.SW_SYNC_IOC_CREATE_FENCE, 0xC0285700],
  ["SW_SYNC_IOC_INC", sync.SW_SYNC_IOC_INC, 0x40045701],
  ["SW_SYNC_GET_DEADLINE", sync.SW_SYNC_GET_DEADLINE, 0xC0105702],
];

for (const [name, actual, expected] of REQUESTS) {
  Deno.test(`${name} is 0x${expected.toString(16).toUpperCase()}`, () => {
    assert.equal(actual, expected);
  });
}

Deno.test("_IOC() encodes dir, size, type and nr at bits 30, 16, 8 and 0", () => {
  assert.equal(_IOC(_IOC_NONE, 0, 0, 0), 0);
  assert.equal(_IOC(_IOC_WRITE, 0, 0, 0), IOC_IN);
  assert.equal(_IOC(_IOC_READ, 0, 0, 0), IOC_OUT);
  assert.equal(_IOC(_IOC_READ | _IOC_WRITE, "b", 2, 8), 0xC0086202);
  assert.equal(_IO("T", 1), 0x5401);
  assert.equal(_IOR("u", 0x42, 24), 0x80187542);
  assert.equal(_IOW(0x62, 0, 8), _IOW("b", 0, 8));
  // Results are unsigned 32-bit numbers, never negative.
  for (const [, request] of REQUESTS) assert.ok(request >= 0 && request <= 0xffffffff);
});

Deno.test("_IOC_NR/_IOC_TYPE/_IOC_SIZE/_IOC_DIR invert _IOC", () => {
  const dirs = [_IOC_NONE, _IOC_WRITE, _IOC_READ, _IOC_READ | _IOC_WRITE];
  for (const dir of dirs) {
    for (const type of [0, 0x48, 0x62, 0x75, 0xff]) {
      for (const nr of [0, 1, 0x42, 0xff]) {
        for (const size of [0, 8, 24, 48, 0x3fff]) {
          const cmd = _IOC(dir, type, nr, size);
          assert.deepEqual(
            [_IOC_DIR(cmd), _IOC_TYPE(cmd), _IOC_NR(cmd), _IOC_SIZE(cmd)],
            [dir, type, nr, size],
          );
        }
      }
    }
  }
  for (const [, request, hex] of REQUESTS) {
    assert.equal(_IOC(_IOC_DIR(hex), _IOC_TYPE(hex), _IOC_NR(hex), _IOC_SIZE(hex)), request);
  }
});

Deno.test("ioctl requests carry their struct sizes", () => {
  assert.equal(_IOC_SIZE(heap.DMA_HEAP_IOCTL_ALLOC), heap.dma_heap_allocation_data.size);
  assert.equal(_IOC_SIZE(buf.DMA_BUF_IOCTL_SYNC), buf.dma_buf_sync.size);
  assert.equal(
    _IOC_SIZE(buf.DMA_BUF_IOCTL_EXPORT_SYNC_FILE),
    buf.dma_buf_export_sync_file.size,
  );
  assert.equal(
    _IOC_SIZE(buf.DMA_BUF_IOCTL_IMPORT_SYNC_FILE),
    buf.dma_buf_import_sync_file.size,
  );
  assert.equal(_IOC_SIZE(udma.UDMABUF_CREATE), udma.udmabuf_create.size);
  assert.equal(_IOC_SIZE(udma.UDMABUF_CREATE_LIST), udma.udmabuf_create_list.size);
  assert.equal(_IOC_SIZE(drv.TEST_DRIVERA), drv.buf_info.size);
  assert.equal(_IOC_TYPE(heap.DMA_HEAP_IOCTL_ALLOC), "H".charCodeAt(0));
  assert.equal(_IOC_TYPE(buf.DMA_BUF_IOCTL_SYNC), "b".charCodeAt(0));
  assert.equal(_IOC_TYPE(udma.UDMABUF_CREATE), "u".charCodeAt(0));
  assert.equal(_IOC_TYPE(drv.TEST_DRIVERB), "T".charCodeAt(0));
});

/** Every struct layout: `[name, TS layout, expected {size, field offsets}]`. */
const LAYOUTS: [string, Record<string, number>, Record<string, number>][] = [
  ["dma_heap_allocation_data", heap.dma_heap_allocation_data, {
    size: 24,
    len: 0,
    fd: 8,
    fd_flags: 12,
    heap_flags: 16,
  }],
  ["dma_buf_sync", buf.dma_buf_sync, { size: 8, flags: 0 }],
  ["dma_buf_export_sync_file", buf.dma_buf_export_sync_file, { size: 8, flags: 0, fd: 4 }],
  ["dma_buf_import_sync_file", buf.dma_buf_import_sync_file, { size: 8, flags: 0, fd: 4 }],
  ["udmabuf_create", udma.udmabuf_create, {
    size: 24,
    memfd: 0,
    flags: 4,
    offset: 8,
    size_: 16,
  }],
  ["udmabuf_create_item", udma.udmabuf_create_item, {
    size: 24,
    memfd: 0,
    offset: 8,
    size_: 16,
  }],
  ["udmabuf_create_list", udma.udmabuf_create_list, { size: 8, flags: 0, count: 4, list: 8 }],
  ["buf_info", drv.buf_info, { size: 24, fd: 0, buf: 8, size_: 16 }],
  ["sync_merge_data", sync.sync_merge_data, {
    size: 48,
    name: 0,
    fd2: 32,
    fence: 36,
    flags: 40,
    pad: 44,
  }],
  ["sync_fence_info", sync.sync_fence_info, {
    size: 80,
    obj_name: 0,
    driver_name: 32,
    status: 64,
    flags: 68,
    timestamp_ns: 72,
  }],
  ["sync_file_info", sync.sync_file_info, {
    size: 56,
    name: 0,
    status: 32,
    flags: 36,
    num_fences: 40,
    pad: 44,
    sync_fence_info: 48,
  }],
  ["sw_sync_create_fence_data", sync.sw_sync_create_fence_data, {
    size: 40,
    value: 0,
    name: 4,
    fence: 36,
  }],
  ["sw_sync_get_deadline", sync.sw_sync_get_deadline, {
    size: 16,
    deadline_ns: 0,
    pad: 8,
    fence_fd: 12,
  }],
];

// Not in linux-libc-dev before 6.6, so only pinned as literals (from 6.12's sync_file.h).
Deno.test("struct sync_set_deadline has size 16 and the kernel's offsets", () => {
  assert.deepEqual({ ...sync.sync_set_deadline }, { size: 16, deadline_ns: 0, pad: 8 });
});

for (const [name, layout, expected] of LAYOUTS) {
  Deno.test(`struct ${name} has size ${expected.size} and the kernel's offsets`, () => {
    assert.deepEqual({ ...layout }, expected);
  });
}

Deno.test("dma-heap and dma-buf flag constants match the headers", () => {
  assert.equal(heap.DMA_HEAP_VALID_FD_FLAGS, 0x80003);
  assert.equal(heap.DMA_HEAP_VALID_HEAP_FLAGS, 0);
  assert.deepEqual(
    [
      buf.DMA_BUF_SYNC_READ,
      buf.DMA_BUF_SYNC_WRITE,
      buf.DMA_BUF_SYNC_RW,
      buf.DMA_BUF_SYNC_START,
      buf.DMA_BUF_SYNC_END,
      buf.DMA_BUF_SYNC_VALID_FLAGS_MASK,
      buf.DMA_BUF_NAME_LEN,
    ],
    [1, 2, 3, 0, 4, 7, 32],
  );
  assert.equal(udma.UDMABUF_FLAGS_CLOEXEC, 1);
  // include/uapi/linux/memfd.h and fcntl.h of 6.12 (newer than this machine's headers).
  assert.deepEqual([k.MFD_HUGETLB, k.MFD_NOEXEC_SEAL, k.MFD_EXEC, k.F_SEAL_EXEC], [4, 8, 16, 32]);
});

// ---------------------------------------------------------------------------------------------
// The same numbers from the C compiler and this machine's headers.

const PROBE_SOURCE = new URL("./fixtures/uapi_probe.c", import.meta.url);

/**
 * A probe binary built elsewhere for this machine (`DMABUF_UAPI_PROBE`: the arm64 guest has no
 * gcc, so tools/kernel/test.sh cross-compiles `fixtures/uapi_probe.c` and ships it), or undefined.
 */
function prebuiltProbe(): string | undefined {
  if (
    Deno.permissions.querySync({ name: "env", variable: "DMABUF_UAPI_PROBE" }).state !== "granted"
  ) {
    return undefined;
  }
  return Deno.env.get("DMABUF_UAPI_PROBE") || undefined;
}

/** Why the C comparison cannot run here, or `undefined` when it can. */
function cSkipReason(): string | undefined {
  const probe = prebuiltProbe();
  if (probe === undefined) {
    return gccSkipReason(
      ["dma-heap.h", "dma-buf.h", "udmabuf.h", "sync_file.h"].map((h) => `/usr/include/linux/${h}`),
    );
  }
  if (Deno.build.os !== "linux") return "not Linux";
  if (Deno.permissions.querySync({ name: "run" }).state !== "granted") {
    return "needs --allow-run (the probe program)";
  }
  try {
    Deno.statSync(probe);
    return undefined;
  } catch {
    return `DMABUF_UAPI_PROBE=${probe} does not exist`;
  }
}

const reason = cSkipReason();
if (reason) console.log(`uapi_test: skipping the C header comparison: ${reason}`);

/** Runs the probe (prebuilt, or compiled here with gcc) and returns what it printed. */
function probe(): Record<string, number> {
  const prebuilt = prebuiltProbe();
  return prebuilt ? runProbe(prebuilt) : gccProbe(PROBE_SOURCE);
}

Deno.test({
  name: `uapi numbers, sizes and offsets equal the system headers compiled with gcc${
    prebuiltProbe() ? ` (probe prebuilt for ${Deno.build.arch}: DMABUF_UAPI_PROBE)` : ""
  }`,
  ignore: reason !== undefined,
  fn() {
    {
      const c = probe();
      const ts: Record<string, number> = {
        DMA_HEAP_IOCTL_ALLOC: heap.DMA_HEAP_IOCTL_ALLOC,
        DMA_BUF_IOCTL_SYNC: buf.DMA_BUF_IOCTL_SYNC,
        DMA_BUF_SET_NAME_A: buf.DMA_BUF_SET_NAME_A,
        DMA_BUF_SET_NAME_B: buf.DMA_BUF_SET_NAME_B,
        DMA_BUF_IOCTL_EXPORT_SYNC_FILE: buf.DMA_BUF_IOCTL_EXPORT_SYNC_FILE,
        DMA_BUF_IOCTL_IMPORT_SYNC_FILE: buf.DMA_BUF_IOCTL_IMPORT_SYNC_FILE,
        UDMABUF_CREATE: udma.UDMABUF_CREATE,
        UDMABUF_CREATE_LIST: udma.UDMABUF_CREATE_LIST,
        TEST_DRIVERA: drv.TEST_DRIVERA,
        TEST_DRIVERB: drv.TEST_DRIVERB,
        SYNC_IOC_MERGE: sync.SYNC_IOC_MERGE,
        SYNC_IOC_FILE_INFO: sync.SYNC_IOC_FILE_INFO,
        SW_SYNC_IOC_CREATE_FENCE: sync.SW_SYNC_IOC_CREATE_FENCE,
        SW_SYNC_IOC_INC: sync.SW_SYNC_IOC_INC,
        SW_SYNC_GET_DEADLINE: sync.SW_SYNC_GET_DEADLINE,
        DMA_HEAP_VALID_FD_FLAGS: heap.DMA_HEAP_VALID_FD_FLAGS,
        DMA_HEAP_VALID_HEAP_FLAGS: heap.DMA_HEAP_VALID_HEAP_FLAGS,
        DMA_BUF_SYNC_READ: buf.DMA_BUF_SYNC_READ,
        DMA_BUF_SYNC_WRITE: buf.DMA_BUF_SYNC_WRITE,
        DMA_BUF_SYNC_RW: buf.DMA_BUF_SYNC_RW,
        DMA_BUF_SYNC_START: buf.DMA_BUF_SYNC_START,
        DMA_BUF_SYNC_END: buf.DMA_BUF_SYNC_END,
        DMA_BUF_SYNC_VALID_FLAGS_MASK: buf.DMA_BUF_SYNC_VALID_FLAGS_MASK,
        DMA_BUF_NAME_LEN: buf.DMA_BUF_NAME_LEN,
        UDMABUF_FLAGS_CLOEXEC: udma.UDMABUF_FLAGS_CLOEXEC,
        "sysconf(_SC_PAGESIZE)": k.PAGE_SIZE,
      };
      for (const [name, layout] of LAYOUTS) {
        for (const [field, value] of Object.entries(layout)) {
          // `size_` is the TS spelling of a C field named `size` (clashing with the struct size).
          ts[field === "size" ? `sizeof ${name}` : `${name}.${field.replace(/_$/, "")}`] = value;
        }
      }
      const constants = [
        "O_RDONLY",
        "O_WRONLY",
        "O_RDWR",
        "O_ACCMODE",
        "O_EXCL",
        "O_NONBLOCK",
        "O_CLOEXEC",
        "PROT_READ",
        "PROT_WRITE",
        "MAP_SHARED",
        "MAP_PRIVATE",
        "POLLIN",
        "POLLPRI",
        "POLLOUT",
        "POLLERR",
        "POLLHUP",
        "POLLNVAL",
        "F_DUPFD",
        "F_GETFD",
        "F_SETFD",
        "F_GETFL",
        "F_SETFL",
        "F_DUPFD_CLOEXEC",
        "F_ADD_SEALS",
        "F_GET_SEALS",
        "FD_CLOEXEC",
        "F_SEAL_SEAL",
        "F_SEAL_SHRINK",
        "F_SEAL_GROW",
        "F_SEAL_WRITE",
        "F_SEAL_FUTURE_WRITE",
        "MFD_CLOEXEC",
        "MFD_ALLOW_SEALING",
        "SEEK_SET",
        "SEEK_CUR",
        "SEEK_END",
      ] as const; // deno-fmt-ignore
      for (const name of constants) ts[name] = k[name];
      // O_DIRECTORY differs on arm64; the constant documents the x86_64 value.
      if (Deno.build.arch === "x86_64") ts.O_DIRECTORY = k.O_DIRECTORY;
      for (const name of Object.keys(c)) {
        if (name in Errno) ts[name] = Errno[name as keyof typeof Errno];
      }
      const compared = Object.keys(ts).filter((name) => name in c);
      assert.equal(compared.length, Object.keys(ts).length, "every TS value has a C twin");
      assert.deepEqual(
        Object.fromEntries(compared.map((n) => [n, ts[n]])),
        Object.fromEntries(compared.map((n) => [n, c[n]])),
      );
    }
  },
});
