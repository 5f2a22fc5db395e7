// C reference for the dma-buf benchmarks: the same loops as bench/_ops.ts, timed the same way
// (batches until a time budget is spent, after a warm-up), printing one machine-readable line
// per measurement:
//
//   c<TAB>op<TAB>size<TAB>ns_per_op<TAB>iterations
//
// Usage:
//   dmabuf_bench ioctl [BUDGET_MS]                 FIONREAD on a memfd (runs anywhere)
//   dmabuf_bench heap HEAP_PATH [BUDGET_MS] [OPS] [SIZES]
//     OPS   comma list of alloc,map,sync,fill,setname,info (default: all)
//     SIZES comma list of byte counts (default: 4096,65536,1048576,16777216)
//
// Build (static, so it runs in the guest without gcc or headers):
//   gcc -O2 -static -o bench/c/dmabuf_bench bench/c/dmabuf_bench.c
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/dma-buf.h>
#include <linux/dma-heap.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

static uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void die(const char *what) {
  fprintf(stderr, "dmabuf_bench: %s: %s\n", what, strerror(errno));
  exit(1);
}

// State shared by the ops of one measurement.
struct ctx {
  int heap_fd;
  int buf_fd;      // a buffer of `size` bytes for map/sync/fill/setname/info
  size_t size;
  unsigned char *map; // a long-lived mapping of buf_fd for fill
  int ioctl_fd; // a memfd for the FIONREAD floor
  char fdinfo_path[64];
  char text[4096];
  uint64_t sink;
};

typedef void (*op_fn)(struct ctx *);

static void op_ioctl(struct ctx *c) {
  int n;
  if (ioctl(c->ioctl_fd, FIONREAD, &n) < 0) die("ioctl(FIONREAD)");
  c->sink += (uint64_t)n;
}

static void op_alloc(struct ctx *c) {
  struct dma_heap_allocation_data d = {
    .len = c->size, .fd = 0, .fd_flags = O_RDWR | O_CLOEXEC, .heap_flags = 0};
  if (ioctl(c->heap_fd, DMA_HEAP_IOCTL_ALLOC, &d) < 0) die("ioctl(DMA_HEAP_IOCTL_ALLOC)");
  if (close((int)d.fd) < 0) die("close");
}

static void op_map(struct ctx *c) {
  void *p = mmap(NULL, c->size, PROT_READ | PROT_WRITE, MAP_SHARED, c->buf_fd, 0);
  if (p == MAP_FAILED) die("mmap");
  if (munmap(p, c->size) < 0) die("munmap");
}

static void buf_sync(struct ctx *c, uint64_t flags) {
  struct dma_buf_sync s = {.flags = flags};
  if (ioctl(c->buf_fd, DMA_BUF_IOCTL_SYNC, &s) < 0) die("ioctl(DMA_BUF_IOCTL_SYNC)");
}

static void op_sync(struct ctx *c) {
  buf_sync(c, DMA_BUF_SYNC_START | DMA_BUF_SYNC_RW);
  buf_sync(c, DMA_BUF_SYNC_END | DMA_BUF_SYNC_RW);
}

static void op_fill(struct ctx *c) {
  buf_sync(c, DMA_BUF_SYNC_START | DMA_BUF_SYNC_WRITE);
  memset(c->map, (int)(++c->sink & 0xff), c->size);
  buf_sync(c, DMA_BUF_SYNC_END | DMA_BUF_SYNC_WRITE);
}

static void op_setname(struct ctx *c) {
  static const char name[] = "bench";
  if (ioctl(c->buf_fd, DMA_BUF_SET_NAME_B, name) < 0) die("ioctl(DMA_BUF_SET_NAME_B)");
}

// What DmaBuf.info() does: read /proc/self/fdinfo/<fd> whole and parse it (here: the size).
static void op_info(struct ctx *c) {
  int fd = open(c->fdinfo_path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) die("open(fdinfo)");
  ssize_t total = 0, n;
  while ((n = read(fd, c->text + total, sizeof c->text - 1 - (size_t)total)) > 0) total += n;
  if (n < 0) die("read(fdinfo)");
  close(fd);
  c->text[total] = 0;
  const char *s = strstr(c->text, "size:");
  if (!s) die("fdinfo without size");
  c->sink += strtoull(s + 5, NULL, 10);
}

// Runs `op` in doubling batches until `budget_ns` is spent; returns ns per op.
static double measure(op_fn op, struct ctx *c, uint64_t budget_ns, uint64_t *iters_out) {
  // Warm-up: a quarter of the budget (at least one call).
  uint64_t t0 = now_ns();
  do op(c); while (now_ns() - t0 < budget_ns / 4);
  uint64_t iters = 0, batch = 1;
  t0 = now_ns();
  uint64_t t;
  for (;;) {
    for (uint64_t i = 0; i < batch; i++) op(c);
    iters += batch;
    t = now_ns() - t0;
    if (t >= budget_ns) break;
    if (batch < 1024) batch *= 2;
  }
  *iters_out = iters;
  return (double)t / (double)iters;
}

static void report(const char *op, size_t size, double ns, uint64_t iters) {
  printf("c\t%s\t%zu\t%.1f\t%llu\n", op, size, ns, (unsigned long long)iters);
  fflush(stdout);
}

static int has(const char *list, const char *item) {
  size_t n = strlen(item);
  for (const char *p = list; (p = strstr(p, item)) != NULL; p += n) {
    if ((p == list || p[-1] == ',') && (p[n] == ',' || p[n] == 0)) return 1;
  }
  return 0;
}

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: dmabuf_bench ioctl [BUDGET_MS] | heap HEAP_PATH [BUDGET_MS] [OPS] [SIZES]\n");
    return 2;
  }
  struct ctx c = {0};
  uint64_t iters;
  if (strcmp(argv[1], "ioctl") == 0) {
    uint64_t budget = (argc > 2 ? strtoull(argv[2], NULL, 10) : 200) * 1000000u;
    // A memfd, as bench/ffi_bench.ts and bench/ratios.ts use: FIONREAD on a regular file.
    c.ioctl_fd = memfd_create("dmabuf_bench", MFD_CLOEXEC);
    if (c.ioctl_fd < 0) die("memfd_create");
    if (ftruncate(c.ioctl_fd, 4096) < 0) die("ftruncate");
    double ns = measure(op_ioctl, &c, budget, &iters);
    report("ioctl", 0, ns, iters);
    return 0;
  }
  if (strcmp(argv[1], "heap") != 0 || argc < 3) {
    fprintf(stderr, "dmabuf_bench: unknown mode\n");
    return 2;
  }
  c.heap_fd = open(argv[2], O_RDONLY | O_CLOEXEC);
  if (c.heap_fd < 0) die(argv[2]);
  uint64_t budget = (argc > 3 ? strtoull(argv[3], NULL, 10) : 200) * 1000000u;
  const char *ops = argc > 4 ? argv[4] : "alloc,map,sync,fill,setname,info";
  char sizes_buf[256];
  snprintf(sizes_buf, sizeof sizes_buf, "%s", argc > 5 ? argv[5] : "4096,65536,1048576,16777216");
  for (char *tok = strtok(sizes_buf, ","); tok; tok = strtok(NULL, ",")) {
    c.size = strtoull(tok, NULL, 10);
    struct dma_heap_allocation_data d = {.len = c.size, .fd_flags = O_RDWR | O_CLOEXEC};
    if (ioctl(c.heap_fd, DMA_HEAP_IOCTL_ALLOC, &d) < 0) die("ioctl(DMA_HEAP_IOCTL_ALLOC)");
    c.buf_fd = (int)d.fd;
    snprintf(c.fdinfo_path, sizeof c.fdinfo_path, "/proc/self/fdinfo/%d", c.buf_fd);
    c.map = mmap(NULL, c.size, PROT_READ | PROT_WRITE, MAP_SHARED, c.buf_fd, 0);
    if (c.map == MAP_FAILED) die("mmap");
    static const struct { const char *name; op_fn fn; } table[] = {
      {"alloc", op_alloc}, {"map", op_map}, {"sync", op_sync},
      {"fill", op_fill}, {"setname", op_setname}, {"info", op_info},
    };
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++) {
      if (!has(ops, table[i].name)) continue;
      double ns = measure(table[i].fn, &c, budget, &iters);
      report(table[i].name, c.size, ns, iters);
    }
    munmap(c.map, c.size);
    close(c.buf_fd);
  }
  if (c.sink == 42) fputs("", stderr); // keep `sink` observable
  return 0;
}
