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
 */
#include <linux/dma-buf.h>
#include <linux/dma-mapping.h>
#include <linux/fs.h>
#include <linux/iosys-map.h>
#include <linux/miscdevice.h>
#include <linux/module.h>
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

static long test_ioctl(struct file *file, unsigned int cmd, unsigned long arg)
{
	struct miscdevice *misc = file->private_data; /* set by misc_open() */
	struct buf_info info;

	if (copy_from_user(&info, (void __user *)arg, sizeof(info))) {
		pr_info("copy_from_user failed\n");
		return -EFAULT;
	}
	pr_info("fd[%d], buf[0x%px], size[0x%x]\n", info.fd, info.buf, info.size);

	switch (cmd) {
	case TEST_DRIVERA:
		return test_import(misc->this_device, &info, "driverA kernel space!");
	case TEST_DRIVERB:
		return test_import(misc->this_device, &info, "driverB kernel space!");
	default:
		return -ENOTTY;
	}
}

static const struct file_operations test_fops = {
	.owner = THIS_MODULE,
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
	return ret;
}

static void __exit test_exit(void)
{
	test_unregister(ARRAY_SIZE(test_devs));
}

module_init(test_init);
module_exit(test_exit);

MODULE_IMPORT_NS(DMA_BUF);
MODULE_DESCRIPTION("dma-buf importers driverA/driverB from the dma-buf seed example");
MODULE_LICENSE("GPL");
