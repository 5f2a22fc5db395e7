// C reference for the V4L2 benchmark (bench/v4l2_ratios.ts): N frames from a capture node into
// system-heap dma-bufs queued with V4L2_MEMORY_DMABUF — poll(POLLIN), VIDIOC_DQBUF, VIDIOC_QBUF
// — timing the whole run (fps) and the two ioctls alone (per-frame overhead). One line:
//
//   c<TAB>frames<TAB>elapsed_ns<TAB>dqbuf_ns,qbuf_ns,dqbuf_ns,qbuf_ns,... (one pair per frame)
//
// Usage: v4l2_bench DEVICE HEAP FRAMES BUFFERS WIDTH HEIGHT
// Build (static, for the guest): gcc -O2 -static -o bench/c/v4l2_bench bench/c/v4l2_bench.c
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/dma-heap.h>
#include <linux/videodev2.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

static uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void die(const char *what) {
  fprintf(stderr, "v4l2_bench: %s: %s\n", what, strerror(errno));
  exit(1);
}

int main(int argc, char **argv) {
  if (argc < 7) {
    fprintf(stderr, "usage: v4l2_bench DEVICE HEAP FRAMES BUFFERS WIDTH HEIGHT\n");
    return 2;
  }
  int frames = atoi(argv[3]), nbuf = atoi(argv[4]);
  int vfd = open(argv[1], O_RDWR | O_NONBLOCK | O_CLOEXEC);
  if (vfd < 0) die(argv[1]);
  struct v4l2_format fmt = {.type = V4L2_BUF_TYPE_VIDEO_CAPTURE};
  if (ioctl(vfd, VIDIOC_G_FMT, &fmt) < 0) die("VIDIOC_G_FMT");
  fmt.fmt.pix.width = atoi(argv[5]);
  fmt.fmt.pix.height = atoi(argv[6]);
  fmt.fmt.pix.pixelformat = V4L2_PIX_FMT_YUYV;
  fmt.fmt.pix.bytesperline = 0;
  if (ioctl(vfd, VIDIOC_S_FMT, &fmt) < 0) die("VIDIOC_S_FMT");
  int hfd = open(argv[2], O_RDONLY | O_CLOEXEC);
  if (hfd < 0) die(argv[2]);
  int fds[32];
  for (int i = 0; i < nbuf; i++) {
    struct dma_heap_allocation_data a = {.len = fmt.fmt.pix.sizeimage, .fd_flags = O_RDWR | O_CLOEXEC};
    if (ioctl(hfd, DMA_HEAP_IOCTL_ALLOC, &a) < 0) die("DMA_HEAP_IOCTL_ALLOC");
    fds[i] = a.fd;
  }
  struct v4l2_requestbuffers rb = {.count = nbuf, .type = V4L2_BUF_TYPE_VIDEO_CAPTURE,
                                   .memory = V4L2_MEMORY_DMABUF};
  if (ioctl(vfd, VIDIOC_REQBUFS, &rb) < 0) die("VIDIOC_REQBUFS");
  struct v4l2_buffer b;
  for (int i = 0; i < nbuf; i++) {
    memset(&b, 0, sizeof b);
    b.index = i, b.type = V4L2_BUF_TYPE_VIDEO_CAPTURE, b.memory = V4L2_MEMORY_DMABUF;
    b.m.fd = fds[i], b.length = fmt.fmt.pix.sizeimage;
    if (ioctl(vfd, VIDIOC_QBUF, &b) < 0) die("VIDIOC_QBUF");
  }
  int type = V4L2_BUF_TYPE_VIDEO_CAPTURE;
  if (ioctl(vfd, VIDIOC_STREAMON, &type) < 0) die("VIDIOC_STREAMON");
  uint64_t *dq = calloc(frames, sizeof *dq), *q = calloc(frames, sizeof *q), t0 = now_ns();
  if (!dq || !q) die("calloc");
  for (int n = 0; n < frames;) {
    struct pollfd p = {.fd = vfd, .events = POLLIN};
    if (poll(&p, 1, 10000) <= 0) die("poll");
    uint64_t a = now_ns();
    memset(&b, 0, sizeof b);
    b.type = V4L2_BUF_TYPE_VIDEO_CAPTURE, b.memory = V4L2_MEMORY_DMABUF;
    if (ioctl(vfd, VIDIOC_DQBUF, &b) < 0) {
      if (errno == EAGAIN) continue;
      die("VIDIOC_DQBUF");
    }
    uint64_t m = now_ns();
    int idx = b.index;
    memset(&b, 0, sizeof b);
    b.index = idx, b.type = V4L2_BUF_TYPE_VIDEO_CAPTURE, b.memory = V4L2_MEMORY_DMABUF;
    b.m.fd = fds[idx], b.length = fmt.fmt.pix.sizeimage;
    if (ioctl(vfd, VIDIOC_QBUF, &b) < 0) die("VIDIOC_QBUF");
    dq[n] = m - a;
    q[n] = now_ns() - m;
    n++;
  }
  uint64_t elapsed = now_ns() - t0;
  ioctl(vfd, VIDIOC_STREAMOFF, &type);
  rb.count = 0;
  ioctl(vfd, VIDIOC_REQBUFS, &rb);
  printf("c\t%d\t%llu\t", frames, (unsigned long long)elapsed);
  for (int i = 0; i < frames; i++) {
    printf("%s%llu,%llu", i ? "," : "", (unsigned long long)dq[i], (unsigned long long)q[i]);
  }
  printf("\n");
  return 0;
}
