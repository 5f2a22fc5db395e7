// SPDX-License-Identifier: GPL-2.0
/*
 * test_driver - the seed's dma-buf importers "driverA" and "driverB" as a real kernel module.
 *
 * Two misc devices, /dev/driverA and /dev/driverB. Each ioctl receives
 * struct buf_info { int fd; char *buf; unsigned int size; } (ABI: src/uapi/test_driver.ts),
 * imports the dma-buf behind buf_info.fd, maps it for the device (logging the DMA address of
 * every scatterlist entry), then maps it for the CPU, logs the string it finds and writes its own.
 * As in the seed, the ioctl number (TEST_DRIVERA / TEST_DRIVERB) picks the driver's string; the
 * device file that was opened is the struct device the buffer is attached to.
 *
 * Each open file of a device is also a queueing stage (ABI: src/uapi/queue_driver.ts):
 * TEST_QUEUE hands it a dma-buf, a kernel worker processes it asynchronously (attach, map, vmap,
 * apply the op, checksum) with a write fence on the buffer's reservation object, TEST_DEQUEUE
 * returns the oldest finished buffer, and poll() reports POLLIN (a finished buffer waits) and
 * POLLOUT (room for another).
 */
#include <linux/dma-buf.h>
#include <linux/dma-fence.h>
#include <linux/dma-resv.h>
#include <linux/dma-mapping.h>
#include <linux/fs.h>
#include <linux/iosys-map.h>
#include <linux/miscdevice.h>
#include <linux/module.h>
#include <linux/moduleparam.h>
#include <linux/mutex.h>
#include <linux/poll.h>
#include <linux/slab.h>
#include <linux/wait.h>
#include <linux/workqueue.h>
#include <linux/scatterlist.h>
#include <linux/uaccess.h>

struct buf_info {
	int fd;
	char __user *buf;
	unsigned int size;
};

#define TEST_IOC_MAGIC 'T'
#define TEST_DRIVERA _IOW(TEST_IOC_MAGIC, 0xA, struct buf_info)
#define TEST_DRIVERB _IOW(TEST_IOC_MAGIC, 0xB, struct buf_info)

/* Longest string the log line prints from the buffer (the buffer need not be NUL-terminated). */
#define LOG_STR_MAX 128

/* DMA access: attach, map for the device, log every entry, unmap, detach. */
static int test_dma_access(struct dma_buf *dmabuf, struct device *dev)
{
	struct dma_buf_attachment *attach;
	struct scatterlist *sg;
	struct sg_table *sgt;
	int i;

	attach = dma_buf_attach(dmabuf, dev);
	if (IS_ERR(attach))
		return PTR_ERR(attach);

	sgt = dma_buf_map_attachment_unlocked(attach, DMA_TO_DEVICE);
	if (IS_ERR(sgt)) {
		dma_buf_detach(dmabuf, attach);
		return PTR_ERR(sgt);
	}

	for_each_sgtable_dma_sg(sgt, sg, i)
		pr_info("<%s: %d>addr = 0x%08llx, len = 0x%x\n", __func__, __LINE__,
			(unsigned long long)sg_dma_address(sg), sg_dma_len(sg));

	dma_buf_unmap_attachment_unlocked(attach, sgt, DMA_TO_DEVICE);
	dma_buf_detach(dmabuf, attach);
	return 0;
}

/* CPU access: vmap, log the string user space left there, write ours, vunmap. */
static int test_cpu_access(struct dma_buf *dmabuf, const char *str)
{
	struct iosys_map map;
	size_t len = strlen(str) + 1;
	char *vaddr;
	int ret;

	ret = dma_buf_vmap_unlocked(dmabuf, &map);
	if (ret)
		return ret;
	if (map.is_iomem) {
		dma_buf_vunmap_unlocked(dmabuf, &map);
		return -EOPNOTSUPP;
	}
	vaddr = map.vaddr;

	pr_info("<%s: %d>addr = 0x%px, str = %.*s\n", __func__, __LINE__, vaddr,
		(int)min_t(size_t, dmabuf->size, LOG_STR_MAX), vaddr);
	memcpy(vaddr, str, min(len, dmabuf->size));

	dma_buf_vunmap_unlocked(dmabuf, &map);
	return 0;
}

static int test_import(struct device *dev, const struct buf_info *info, const char *str)
{
	struct dma_buf *dmabuf;
	int ret;

	dmabuf = dma_buf_get(info->fd);
	if (IS_ERR(dmabuf))
		return PTR_ERR(dmabuf);

	ret = test_dma_access(dmabuf, dev);
	if (!ret)
		ret = test_cpu_access(dmabuf, str);

	/*
	 * Drop our reference only now. The seed calls dma_buf_put() before dma_buf_vmap(): a
	 * use-after-put that only works because user space still holds the fd.
	 */
	dma_buf_put(dmabuf);
	return ret;
}

/*
 * ---------------------------------------------------------------------------------------------
 * Queueing stages (ABI: src/uapi/queue_driver.ts)
 *
 * One stage per open file. A buffer moves queued -> in flight -> done and is counted in `held`
 * from TEST_QUEUE until TEST_DEQUEUE (or release). While a buffer is queued or in flight its
 * reservation object carries this stage's write fence; the worker signals it when the op is done
 * (with an error set if processing failed or the stage was released first).
 *
 * Implicit sync: at TEST_QUEUE the stage takes the fences already on the buffer (all of them:
 * kernel, write and read — we write) and the worker waits for them before touching the buffer. So
 * a buffer that carries an unsignalled fence (a sw_sync fence imported with
 * DMA_BUF_IOCTL_IMPORT_SYNC_FILE, another stage's fence) stays in flight until it signals.
 *
 * The module parameter `hold` (/sys/module/test_driver/parameters/hold, 0/1) holds every worker
 * back before it processes a buffer, so tests can observe a buffer in flight deterministically.
 * ---------------------------------------------------------------------------------------------
 */

struct test_qbuf {
	__s32 fd;	/* @0  QUEUE in: a dma-buf fd */
	__u32 op;	/* @4  QUEUE in: TEST_OP_* */
	__u64 cookie;	/* @8  QUEUE in, DEQUEUE out */
	__u64 dma_addr;	/* @16 DEQUEUE out: DMA address of the first sg entry */
	__u32 checksum;	/* @24 DEQUEUE out: byte sum after the op, mod 2^32 */
	__s32 status;	/* @28 DEQUEUE out: 0 or -errno */
};

#define TEST_QUEUE _IOW(TEST_IOC_MAGIC, 0x10, struct test_qbuf)
#define TEST_DEQUEUE _IOR(TEST_IOC_MAGIC, 0x11, struct test_qbuf)
static_assert(sizeof(struct test_qbuf) == 32);
static_assert(TEST_QUEUE == 0x40205410);
static_assert(TEST_DEQUEUE == 0x80205411);

enum { TEST_OP_NONE = 0, TEST_OP_INVERT = 1, TEST_OP_INCREMENT = 2 };
#define TEST_QUEUE_DEPTH 64

static bool test_hold;
static DECLARE_WAIT_QUEUE_HEAD(test_hold_wq);

static int test_hold_set(const char *val, const struct kernel_param *kp)
{
	int ret = param_set_bool(val, kp);

	if (!ret)
		wake_up_all(&test_hold_wq);
	return ret;
}

static const struct kernel_param_ops test_hold_ops = {
	.set = test_hold_set,
	.get = param_get_bool,
};
module_param_cb(hold, &test_hold_ops, &test_hold, 0644);
MODULE_PARM_DESC(hold, "Hold every stage's worker back before it processes a buffer (tests)");

static struct workqueue_struct *test_wq;
static atomic_t test_stage_ids = ATOMIC_INIT(0);

/*
 * The stage's fence. It can outlive the stage (the buffer's reservation object keeps a
 * reference), so it carries its own lock and timeline name; the default release frees it.
 * Timeline name: the device's ("driverA"), as in the simulated driver; each stage has its own
 * fence context, so two stages of one device are two timelines of the same name.
 */
struct test_fence {
	struct dma_fence base; /* first: dma_fence_free() frees the whole struct */
	spinlock_t lock;
	char timeline[24];
};

static const char *test_fence_driver_name(struct dma_fence *fence)
{
	return "test_driver";
}

static const char *test_fence_timeline_name(struct dma_fence *fence)
{
	return container_of(fence, struct test_fence, base)->timeline;
}

static const struct dma_fence_ops test_fence_ops = {
	.get_driver_name = test_fence_driver_name,
	.get_timeline_name = test_fence_timeline_name,
};

struct test_job {
	struct list_head link;
	struct dma_buf *dmabuf;		/* our reference, dropped at DEQUEUE/release */
	struct test_fence *fence;	/* our reference; also in the buffer's resv */
	struct dma_fence *deps;		/* fences on the buffer at QUEUE time, or NULL */
	u32 op;
	u64 cookie;
	u64 dma_addr;
	u32 checksum;
	s32 status;
};

struct test_stage {
	struct device *dev;
	unsigned int id;
	u64 fence_context;
	u64 fence_seqno;
	struct mutex lock;		/* lists, held, dying */
	struct list_head queued;
	struct list_head done;
	unsigned int held;		/* queued + in flight + done */
	bool dying;
	wait_queue_head_t wq;		/* poll: done list grew, or a slot freed */
	struct work_struct work;
	char name[16];
};

static void test_job_free(struct test_job *job)
{
	dma_fence_put(job->deps);
	dma_fence_put(&job->fence->base);
	dma_buf_put(job->dmabuf);
	kfree(job);
}

/* Signal the job's fence once; an error goes on the fence first. */
static void test_job_signal(struct test_job *job)
{
	if (job->status)
		dma_fence_set_error(&job->fence->base, job->status);
	dma_fence_signal(&job->fence->base);
}

static bool test_stage_dying(struct test_stage *stage)
{
	bool dying;

	mutex_lock(&stage->lock);
	dying = stage->dying;
	mutex_unlock(&stage->lock);
	return dying;
}

/* Wait for the buffer's earlier fences; give up (-ECANCELED) if the stage is released. */
static int test_wait_deps(struct test_stage *stage, struct test_job *job)
{
	while (job->deps && !dma_fence_is_signaled(job->deps)) {
		if (test_stage_dying(stage))
			return -ECANCELED;
		dma_fence_wait_timeout(job->deps, false, msecs_to_jiffies(50));
	}
	return 0;
}

static int test_wait_hold(struct test_stage *stage)
{
	wait_event(test_hold_wq, !READ_ONCE(test_hold) || READ_ONCE(stage->dying));
	return READ_ONCE(stage->dying) ? -ECANCELED : 0;
}

/* Apply the op over the whole buffer and sum its bytes. */
static u32 test_apply(u8 *p, size_t size, u32 op)
{
	u32 sum = 0;
	size_t i;

	for (i = 0; i < size; i++) {
		if (op == TEST_OP_INVERT)
			p[i] ^= 0xff;
		else if (op == TEST_OP_INCREMENT)
			p[i] += 1;
		sum += p[i];
	}
	return sum;
}

/* The device's work on one buffer: attach, map for DMA, vmap, op, and undo it all. */
static int test_process(struct test_stage *stage, struct test_job *job)
{
	struct dma_buf *dmabuf = job->dmabuf;
	struct dma_buf_attachment *attach;
	struct sg_table *sgt;
	struct iosys_map map;
	int ret;

	attach = dma_buf_attach(dmabuf, stage->dev);
	if (IS_ERR(attach))
		return PTR_ERR(attach);

	sgt = dma_buf_map_attachment_unlocked(attach, DMA_BIDIRECTIONAL);
	if (IS_ERR(sgt)) {
		ret = PTR_ERR(sgt);
		goto detach;
	}
	job->dma_addr = sg_dma_address(sgt->sgl);

	ret = dma_buf_vmap_unlocked(dmabuf, &map);
	if (ret)
		goto unmap;
	if (map.is_iomem) {
		ret = -EOPNOTSUPP;
	} else {
		job->checksum = test_apply(map.vaddr, dmabuf->size, job->op);
		ret = 0;
	}
	dma_buf_vunmap_unlocked(dmabuf, &map);
unmap:
	dma_buf_unmap_attachment_unlocked(attach, sgt, DMA_BIDIRECTIONAL);
detach:
	dma_buf_detach(dmabuf, attach);
	return ret;
}

static void test_stage_work(struct work_struct *work)
{
	struct test_stage *stage = container_of(work, struct test_stage, work);
	struct test_job *job;

	for (;;) {
		mutex_lock(&stage->lock);
		job = list_first_entry_or_null(&stage->queued, struct test_job, link);
		if (job)
			list_del_init(&job->link); /* in flight: still counted in held */
		mutex_unlock(&stage->lock);
		if (!job)
			return;

		job->status = test_wait_deps(stage, job);
		if (!job->status)
			job->status = test_wait_hold(stage);
		if (!job->status)
			job->status = test_process(stage, job);
		if (job->status)
			pr_info("%s: cookie %llu: processing failed: %d\n", stage->name,
				job->cookie, job->status);
		test_job_signal(job);

		mutex_lock(&stage->lock);
		list_add_tail(&job->link, &stage->done);
		mutex_unlock(&stage->lock);
		wake_up_interruptible(&stage->wq);
	}
}

/* Put the stage's write fence on the buffer, after taking the fences already there. */
static int test_attach_fence(struct test_stage *stage, struct test_job *job)
{
	struct dma_resv *resv = job->dmabuf->resv;
	struct test_fence *f;
	int ret;

	f = kzalloc(sizeof(*f), GFP_KERNEL);
	if (!f)
		return -ENOMEM;
	spin_lock_init(&f->lock);
	strscpy(f->timeline, dev_name(stage->dev), sizeof(f->timeline));

	ret = dma_resv_lock_interruptible(resv, NULL);
	if (ret)
		goto free;
	ret = dma_resv_get_singleton(resv, DMA_RESV_USAGE_READ, &job->deps);
	if (!ret)
		ret = dma_resv_reserve_fences(resv, 1);
	if (ret) {
		dma_resv_unlock(resv);
		goto free;
	}
	/* Under stage->lock (held by the caller): seqnos follow the queue order. */
	dma_fence_init(&f->base, &test_fence_ops, &f->lock, stage->fence_context,
		       ++stage->fence_seqno);
	dma_resv_add_fence(resv, &f->base, DMA_RESV_USAGE_WRITE);
	dma_resv_unlock(resv);
	job->fence = f;
	return 0;
free:
	dma_fence_put(job->deps);
	job->deps = NULL;
	kfree(f);
	return ret;
}

static long test_queue_ioctl(struct test_stage *stage, struct test_qbuf __user *uq)
{
	struct test_qbuf q;
	struct test_job *job;
	int ret;

	if (copy_from_user(&q, uq, sizeof(q)))
		return -EFAULT;
	if (q.op > TEST_OP_INCREMENT)
		return -EINVAL;

	job = kzalloc(sizeof(*job), GFP_KERNEL);
	if (!job)
		return -ENOMEM;
	job->op = q.op;
	job->cookie = q.cookie;

	/* Checks in the ABI's order: op, dma_buf_get, depth. */
	job->dmabuf = dma_buf_get(q.fd);
	if (IS_ERR(job->dmabuf)) {
		ret = PTR_ERR(job->dmabuf);
		goto free;
	}
	mutex_lock(&stage->lock);
	if (stage->held >= TEST_QUEUE_DEPTH)
		ret = -EBUSY;
	else
		ret = test_attach_fence(stage, job);
	if (ret) {
		mutex_unlock(&stage->lock);
		dma_buf_put(job->dmabuf);
		goto free;
	}
	stage->held++;
	list_add_tail(&job->link, &stage->queued);
	mutex_unlock(&stage->lock);
	queue_work(test_wq, &stage->work);
	return 0;
free:
	kfree(job);
	return ret;
}

static long test_dequeue_ioctl(struct test_stage *stage, struct test_qbuf __user *uq)
{
	struct test_qbuf q = {};
	struct test_job *job;

	mutex_lock(&stage->lock);
	job = list_first_entry_or_null(&stage->done, struct test_job, link);
	if (!job) {
		mutex_unlock(&stage->lock);
		return -EAGAIN;
	}
	q.fd = -1; /* the fd number means nothing by now */
	q.op = job->op;
	q.cookie = job->cookie;
	q.dma_addr = job->dma_addr;
	q.checksum = job->checksum;
	q.status = job->status;
	/* Copy out before taking the buffer off the list: on EFAULT it stays done. */
	if (copy_to_user(uq, &q, sizeof(q))) {
		mutex_unlock(&stage->lock);
		return -EFAULT;
	}
	list_del(&job->link);
	stage->held--;
	mutex_unlock(&stage->lock);

	test_job_free(job);
	wake_up_interruptible(&stage->wq);
	return 0;
}

static __poll_t test_stage_poll(struct test_stage *stage, struct file *file, poll_table *wait)
{
	__poll_t mask = 0;

	poll_wait(file, &stage->wq, wait);
	mutex_lock(&stage->lock);
	if (!list_empty(&stage->done))
		mask |= EPOLLIN | EPOLLRDNORM;
	if (stage->held < TEST_QUEUE_DEPTH)
		mask |= EPOLLOUT | EPOLLWRNORM;
	mutex_unlock(&stage->lock);
	return mask;
}

static struct test_stage *test_stage_create(struct device *dev, const char *devname)
{
	struct test_stage *stage = kzalloc(sizeof(*stage), GFP_KERNEL);

	if (!stage)
		return ERR_PTR(-ENOMEM);
	stage->dev = dev;
	stage->id = atomic_inc_return(&test_stage_ids);
	snprintf(stage->name, sizeof(stage->name), "%s.%u", devname, stage->id);
	stage->fence_context = dma_fence_context_alloc(1);
	mutex_init(&stage->lock);
	INIT_LIST_HEAD(&stage->queued);
	INIT_LIST_HEAD(&stage->done);
	init_waitqueue_head(&stage->wq);
	INIT_WORK(&stage->work, test_stage_work);
	return stage;
}

/* Release: stop the worker, cancel what it has not started, drop every buffer still held. */
static void test_stage_destroy(struct test_stage *stage)
{
	struct test_job *job, *tmp;

	mutex_lock(&stage->lock);
	stage->dying = true;
	mutex_unlock(&stage->lock);
	wake_up_all(&test_hold_wq);
	cancel_work_sync(&stage->work); /* a running worker sees `dying` and finishes fast */

	list_for_each_entry_safe(job, tmp, &stage->queued, link) {
		job->status = -ECANCELED;
		test_job_signal(job);
		list_del(&job->link);
		test_job_free(job);
	}
	list_for_each_entry_safe(job, tmp, &stage->done, link) {
		list_del(&job->link);
		test_job_free(job);
	}
	kfree(stage);
}

static int test_queue_init(void)
{
	test_wq = alloc_workqueue("test_driver", WQ_UNBOUND, 0);
	return test_wq ? 0 : -ENOMEM;
}

static void test_queue_exit(void)
{
	destroy_workqueue(test_wq);
}

/* The seed's one-shot import ioctls. */
static long test_seed_ioctl(struct device *dev, unsigned int cmd, unsigned long arg)
{
	struct buf_info info;

	if (copy_from_user(&info, (void __user *)arg, sizeof(info))) {
		pr_info("copy_from_user failed\n");
		return -EFAULT;
	}
	pr_info("fd[%d], buf[0x%px], size[0x%x]\n", info.fd, info.buf, info.size);

	return test_import(dev, &info,
			   cmd == TEST_DRIVERA ? "driverA kernel space!" : "driverB kernel space!");
}

static long test_ioctl(struct file *file, unsigned int cmd, unsigned long arg)
{
	struct test_stage *stage = file->private_data; /* set by test_open() */

	switch (cmd) {
	case TEST_DRIVERA:
	case TEST_DRIVERB:
		return test_seed_ioctl(stage->dev, cmd, arg);
	case TEST_QUEUE:
		return test_queue_ioctl(stage, (void __user *)arg);
	case TEST_DEQUEUE:
		return test_dequeue_ioctl(stage, (void __user *)arg);
	default:
		return -ENOTTY;
	}
}

static int test_open(struct inode *inode, struct file *file)
{
	struct miscdevice *misc = file->private_data; /* set by misc_open() */
	struct test_stage *stage;

	stage = test_stage_create(misc->this_device, misc->name);
	if (IS_ERR(stage))
		return PTR_ERR(stage);
	file->private_data = stage;
	return 0;
}

static int test_release(struct inode *inode, struct file *file)
{
	test_stage_destroy(file->private_data);
	return 0;
}

static __poll_t test_poll(struct file *file, poll_table *wait)
{
	return test_stage_poll(file->private_data, file, wait);
}

static const struct file_operations test_fops = {
	.owner = THIS_MODULE,
	.open = test_open,
	.release = test_release,
	.poll = test_poll,
	.unlocked_ioctl = test_ioctl,
	.compat_ioctl = compat_ptr_ioctl,
};

static struct miscdevice test_devs[] = {
	{ .minor = MISC_DYNAMIC_MINOR, .name = "driverA", .fops = &test_fops },
	{ .minor = MISC_DYNAMIC_MINOR, .name = "driverB", .fops = &test_fops },
};

/*
 * A misc device has no DMA mask, and dma_map_sgtable() refuses to map for a device without one.
 * Give it a 64-bit mask so the direct mapping hands out physical addresses.
 */
static int test_setup_dma(struct device *dev)
{
	dev->dma_mask = &dev->coherent_dma_mask;
	return dma_set_mask_and_coherent(dev, DMA_BIT_MASK(64));
}

static void test_unregister(int count)
{
	while (count--)
		misc_deregister(&test_devs[count]);
}

static int __init test_init(void)
{
	int i, ret;

	ret = test_queue_init();
	if (ret)
		return ret;
	for (i = 0; i < ARRAY_SIZE(test_devs); i++) {
		ret = misc_register(&test_devs[i]);
		if (ret)
			goto fail;
		ret = test_setup_dma(test_devs[i].this_device);
		if (ret) {
			i++;
			goto fail;
		}
	}
	return 0;
fail:
	test_unregister(i);
	test_queue_exit();
	return ret;
}

static void __exit test_exit(void)
{
	test_unregister(ARRAY_SIZE(test_devs));
	test_queue_exit();
}

module_init(test_init);
module_exit(test_exit);

MODULE_IMPORT_NS(DMA_BUF);
MODULE_DESCRIPTION("dma-buf importers driverA/driverB from the dma-buf seed example, with queueing stages");
MODULE_LICENSE("GPL");
