import assert from "node:assert/strict";
import { SimMachine } from "../../src/sim/mod.ts";
import { assertErrno, fdinfo } from "./_helpers.ts";
import {
  F_ADD_SEALS,
  F_GET_SEALS,
  F_GETFD,
  F_GETFL,
  F_SEAL_EXEC,
  F_SEAL_GROW,
  F_SEAL_SEAL,
  F_SEAL_SHRINK,
  F_SEAL_WRITE,
  FD_CLOEXEC,
  MAP_SHARED,
  MFD_ALLOW_SEALING,
  MFD_CLOEXEC,
  MFD_EXEC,
  MFD_NOEXEC_SEAL,
  O_RDWR,
  PROT_READ,
  PROT_WRITE,
  SEEK_CUR,
  SEEK_END,
  SEEK_SET,
} from "../../src/uapi/constants.ts";

Deno.test("memfdCreate() makes a shmem file: link, flags, cloexec, size", () => {
  const k = new SimMachine().process();
  const fd = k.memfdCreate("frames", MFD_CLOEXEC | MFD_ALLOW_SEALING);
  assert.equal(k.readLink(`/proc/self/fd/${fd}`), "/memfd:frames (deleted)");
  assert.equal(k.fcntl(fd, F_GETFD, 0), FD_CLOEXEC);
  assert.equal(k.fcntl(fd, F_GETFL, 0), O_RDWR | 0o100000);
  assert.equal(fdinfo(k, fd).get("flags"), "02100002");
  assert.equal(k.fcntl(fd, F_GET_SEALS, 0), 0);
  k.ftruncate(fd, 10000);
  assert.equal(k.lseek(fd, 0, SEEK_END), 10000);
  assert.equal(k.lseek(fd, -100, SEEK_CUR), 9900);
  assert.equal(fdinfo(k, fd).get("pos"), "9900");
  assertErrno(() => k.lseek(fd, -1, SEEK_SET), "EINVAL");
  // 6.12 (mm/memfd.c) logs nothing for a memfd without MFD_EXEC/MFD_NOEXEC_SEAL.
  assert.doesNotMatch(k.syslog(), /memfd_create/);
});

Deno.test("memfd MFD_NOEXEC_SEAL: sealable, F_SEAL_EXEC only; SHRINK can be added", () => {
  const k = new SimMachine().process();
  const fd = k.memfdCreate("nx", MFD_NOEXEC_SEAL);
  assert.equal(k.fcntl(fd, F_GET_SEALS, 0), F_SEAL_EXEC);
  k.fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK);
  assert.equal(k.fcntl(fd, F_GET_SEALS, 0), F_SEAL_EXEC | F_SEAL_SHRINK);
  const both = k.memfdCreate("nx2", MFD_NOEXEC_SEAL | MFD_ALLOW_SEALING);
  assert.equal(k.fcntl(both, F_GET_SEALS, 0), F_SEAL_EXEC);
  // Without NOEXEC the file stays executable: F_SEAL_EXEC then implies every write seal.
  const x = k.memfdCreate("x", MFD_ALLOW_SEALING);
  k.fcntl(x, F_ADD_SEALS, F_SEAL_EXEC);
  assert.equal(k.fcntl(x, F_GET_SEALS, 0), F_SEAL_EXEC | F_SEAL_SHRINK | F_SEAL_GROW | 8 | 16);
  const plain = k.memfdCreate("p", MFD_EXEC);
  assert.equal(k.fcntl(plain, F_GET_SEALS, 0), F_SEAL_SEAL);
  assertErrno(() => k.fcntl(plain, F_ADD_SEALS, F_SEAL_SHRINK), "EPERM");
  for (const f of [fd, both, x, plain]) k.close(f);
});

Deno.test("memfd seals: SHRINK, GROW, SEAL, WRITE with live writable mappings", () => {
  const k = new SimMachine().process();
  const fd = k.memfdCreate("s", MFD_ALLOW_SEALING);
  k.ftruncate(fd, 8192);
  k.fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW);
  assertErrno(() => k.ftruncate(fd, 4096), "EPERM");
  assertErrno(() => k.ftruncate(fd, 12288), "EPERM");
  k.ftruncate(fd, 8192);
  const r = k.mmap(fd, 8192, PROT_READ | PROT_WRITE, MAP_SHARED, 0);
  assertErrno(() => k.fcntl(fd, F_ADD_SEALS, F_SEAL_WRITE), "EBUSY");
  k.munmap(r);
  k.fcntl(fd, F_ADD_SEALS, F_SEAL_WRITE);
  assertErrno(() => k.mmap(fd, 8192, PROT_READ | PROT_WRITE, MAP_SHARED, 0), "EPERM");
  assert.equal(k.mmap(fd, 8192, PROT_READ, MAP_SHARED, 0).length, 8192);
  k.fcntl(fd, F_ADD_SEALS, F_SEAL_SEAL);
  assertErrno(() => k.fcntl(fd, F_ADD_SEALS, F_SEAL_GROW), "EPERM");
  assert.equal(
    k.fcntl(fd, F_GET_SEALS, 0),
    F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE,
  );
  assertErrno(() => k.fcntl(fd, F_ADD_SEALS, 0x1000), "EINVAL");
  assertErrno(() => k.fcntl(0, F_GET_SEALS, 0), "EINVAL");
});

Deno.test("memfd bytes survive growing; views are re-made from region.buffer", () => {
  const k = new SimMachine().process();
  const fd = k.memfdCreate("g", 0);
  k.ftruncate(fd, 4096);
  const r = k.mmap(fd, 8192, PROT_READ | PROT_WRITE, MAP_SHARED, 0);
  new Uint8Array(r.buffer, r.byteOffset, 4096)[7] = 7;
  k.ftruncate(fd, 8192);
  const v = new Uint8Array(r.buffer, r.byteOffset, 8192);
  assert.equal(v[7], 7);
  assert.equal(v[8000], 0);
  assertErrno(() => k.ftruncate(fd, -1), "EINVAL");
  assertErrno(() => k.memfdCreate("n".repeat(250), 0), "EINVAL");
});
