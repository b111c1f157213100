// SPDX-License-Identifier: MIT
// VFIO device cdevs (iommufd_api/vfio): the registry, BIND/ATTACH/DETACH with
// the kernel's validation order and errnos, the vfio-pci info ioctls, region
// access routed to HostBus, interrupts through eventfds, and closing the cdev
// and the iommufd in either order. A FakeBus stands in for the device's
// registers and the mock IOMMU for the IOMMU, so no platform is needed.
#include "vfio_test_util.h"

namespace iommusim::test {
namespace {

// --- the registry and opening ---

TEST_F(VfioCdev, RegistryNamesAndOpens) {
  EXPECT_TRUE(vfio::is_cdev_path(path_));
  EXPECT_FALSE(vfio::is_cdev_path("/dev/vfio/devices/vfio" + std::to_string(index_ + 1)));
  EXPECT_FALSE(vfio::is_cdev_path("/dev/vfio/devices/vfio0" + std::to_string(index_)));
  EXPECT_FALSE(vfio::is_cdev_path("/dev/vfio/devices/vfio"));
  EXPECT_FALSE(vfio::is_cdev_path("/dev/vfio/devices/vfio-1"));
  EXPECT_FALSE(vfio::is_cdev_path("/dev/vfio/vfio"));

  int fd = open_cdev();
  ASSERT_GE(fd, 0);
  EXPECT_EQ(1, iommusim_owns_fd(fd));
  EXPECT_EQ(-1, iommusim_open_path("/dev/vfio/devices/vfio77", O_RDWR));
  EXPECT_EQ(ENOENT, errno);
  EXPECT_EQ(-1, iommusim_open_path("/dev/null", O_RDWR));
  EXPECT_EQ(ENOENT, errno);
  EXPECT_EQ(-1, iommusim_open_path(nullptr, O_RDWR));
  EXPECT_EQ(EFAULT, errno);
  int ifd = iommusim_open_path("/dev/iommu", O_RDWR);
  ASSERT_GE(ifd, 0);

  // Unregistering removes the node; an open fd keeps working until closed.
  ASSERT_EQ(0, bind(fd, ifd));
  unregister(index_);
  EXPECT_FALSE(vfio::is_cdev_path(path_));
  EXPECT_EQ(-1, open_cdev());
  EXPECT_EQ(ENOENT, errno);
  vfio_device_info info = {};
  info.argsz = sizeof(info);
  EXPECT_EQ(0, iommusim_ioctl(fd, VFIO_DEVICE_GET_INFO, &info));
  EXPECT_EQ(0, iommusim_close(fd));
  EXPECT_EQ(0, iommusim_close(ifd));
}

TEST_F(VfioCdev, RegisterValidatesAndReusesTheLowestIndex) {
  vfio::device_desc d;
  d.dev = mdev_;
  d.bus = &bus_;
  unsigned idx;
  EXPECT_EQ(-EINVAL, vfio::register_device(d, nullptr));
  d.dev = nullptr;
  EXPECT_EQ(-EINVAL, vfio::register_device(d, &idx));
  d.dev = mdev_;
  d.bus = nullptr;
  EXPECT_EQ(-EINVAL, vfio::register_device(d, &idx));
  d.bus = &bus_;
  d.regions.resize(7);  // vfio-pci has six BARs
  EXPECT_EQ(-EINVAL, vfio::register_device(d, &idx));
  d.regions.assign(1, {0x1000, UINT64_MAX - 0x10, true, true});
  EXPECT_EQ(-EINVAL, vfio::register_device(d, &idx));

  unsigned a = register_dev(true), b = register_dev(true);
  EXPECT_EQ(index_ + 1, a);
  EXPECT_EQ(index_ + 2, b);
  unregister(a);
  EXPECT_EQ(a, register_dev(true));
}

// --- an unbound device ---

TEST_F(VfioCdev, UnboundDeviceRefusesEverythingButBind) {
  int fd = open_cdev();
  ASSERT_GE(fd, 0);
  vfio_device_info info = {};
  info.argsz = sizeof(info);
  EXPECT_EQ(EINVAL, fd_errno(iommusim_ioctl(fd, VFIO_DEVICE_GET_INFO, &info)));
  vfio_region_info rinfo;
  EXPECT_EQ(EINVAL, region_info(fd, 0, &rinfo));
  uint32_t pt = 1;
  EXPECT_EQ(EINVAL, attach(fd, &pt));
  EXPECT_EQ(EINVAL, detach(fd));
  vfio_device_feature feat = {};
  feat.argsz = sizeof(feat);
  EXPECT_EQ(EINVAL, fd_errno(iommusim_ioctl(fd, VFIO_DEVICE_FEATURE, &feat)));
  EXPECT_EQ(EINVAL, fd_errno(iommusim_ioctl(fd, VFIO_DEVICE_RESET, nullptr)));
  EXPECT_EQ(EINVAL, fd_errno(iommusim_ioctl(fd, _IO(VFIO_TYPE, VFIO_BASE + 60), nullptr)));
  // Not even a bad pointer gets looked at.
  EXPECT_EQ(EINVAL, fd_errno(iommusim_ioctl(fd, VFIO_DEVICE_GET_INFO, nullptr)));
  uint64_t v = 0;
  EXPECT_EQ(EINVAL, fd_errno(iommusim_pread(fd, &v, 8, 0)));
  EXPECT_EQ(EINVAL, fd_errno(iommusim_pwrite(fd, &v, 8, 0)));
  EXPECT_EQ(EINVAL, fd_errno(iommusim_read(fd, &v, 8)));
  EXPECT_EQ(EINVAL, fd_errno(iommusim_write(fd, &v, 8)));
  EXPECT_EQ(EINVAL, fd_errno(iommusim_pread(fd, &v, 0, 0)));
  EXPECT_TRUE(bus_.take_log().empty());
  EXPECT_EQ(0, iommusim_close(fd));
}

// --- BIND_IOMMUFD ---

TEST_F(VfioCdev, BindValidationOrderAndErrnos) {
  Iommufd ifd;
  int fd = open_cdev();
  ASSERT_GE(fd, 0);
  vfio_device_bind_iommufd b = {};
  b.argsz = sizeof(b);
  b.iommufd = ifd.fd;
  EXPECT_EQ(EFAULT, fd_errno(iommusim_ioctl(fd, VFIO_DEVICE_BIND_IOMMUFD, nullptr)));
  b.argsz = sizeof(b) - 1;
  EXPECT_EQ(EINVAL, fd_errno(iommusim_ioctl(fd, VFIO_DEVICE_BIND_IOMMUFD, &b)));
  b.argsz = sizeof(b);
  b.flags = 1;
  EXPECT_EQ(EINVAL, fd_errno(iommusim_ioctl(fd, VFIO_DEVICE_BIND_IOMMUFD, &b)));
  b.flags = 0;
  b.iommufd = -1;
  EXPECT_EQ(EINVAL, fd_errno(iommusim_ioctl(fd, VFIO_DEVICE_BIND_IOMMUFD, &b)));

  // iommufd_ctx_from_fd(): no file is EBADF, a file that is not an iommufd EBADFD.
  int pipefd[2];
  ASSERT_EQ(0, pipe(pipefd));
  EXPECT_EQ(EBADFD, bind(fd, pipefd[0]));
  close(pipefd[1]);
  EXPECT_EQ(EBADF, bind(fd, pipefd[1]));
  close(pipefd[0]);
  int other = open_cdev();
  ASSERT_GE(other, 0);
  EXPECT_EQ(EBADFD, bind(fd, other));   // a VFIO cdev of ours
  EXPECT_EQ(EBADFD, bind(fd, fd));      // itself

  uint32_t devid = 0;
  ASSERT_EQ(0, bind(fd, ifd.fd, &devid));
  EXPECT_NE(0u, devid);
  // out_devid is the iommufd device object: the driver holds it.
  EXPECT_EQ(EBUSY, ifd.destroy(devid));
  // Bound once: a second bind fails before the fd is looked at.
  EXPECT_EQ(EINVAL, bind(fd, ifd.fd));
  EXPECT_EQ(EINVAL, bind(fd, 99999));
  // The device is open: another cdev fd cannot bind it, even to its own iommufd.
  Iommufd ifd2;
  EXPECT_EQ(EINVAL, bind(other, ifd2.fd));
  EXPECT_EQ(EINVAL, bind(other, ifd.fd));

  // A failed copy of out_devid undoes the bind.
  EXPECT_EQ(0, iommusim_close(fd));
  EXPECT_EQ(ENOENT, ifd.destroy(devid));
  b = {};
  b.argsz = sizeof(b);
  b.iommufd = ifd2.fd;
  auto *ro = static_cast<vfio_device_bind_iommufd *>(
      mmap(nullptr, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
  ASSERT_NE(MAP_FAILED, static_cast<void *>(ro));
  *ro = b;
  ASSERT_EQ(0, mprotect(ro, 4096, PROT_READ));
  EXPECT_EQ(EFAULT, fd_errno(iommusim_ioctl(other, VFIO_DEVICE_BIND_IOMMUFD, ro)));
  munmap(ro, 4096);
  vfio_device_info info = {};
  info.argsz = sizeof(info);
  EXPECT_EQ(EINVAL, fd_errno(iommusim_ioctl(other, VFIO_DEVICE_GET_INFO, &info)));
  // Now the device is free for the other fd.
  uint32_t devid2 = 0;
  EXPECT_EQ(0, bind(other, ifd2.fd, &devid2));
  EXPECT_EQ(0, fd_errno(iommusim_ioctl(other, VFIO_DEVICE_GET_INFO, &info)));
  EXPECT_EQ(0, iommusim_close(other));
}

TEST_F(VfioCdev, ADeviceOwnedByOneIommufdCannotBindAnother) {
  // The same device registered twice: the DMA owner check stops a second
  // context from claiming it through the other node.
  unsigned again = register_dev(true, mdev_);
  Iommufd a, b;
  int fa = open_cdev();
  std::string p2 = "/dev/vfio/devices/vfio" + std::to_string(again);
  int fb = iommusim_open_path(p2.c_str(), O_RDWR);
  ASSERT_GE(fa, 0);
  ASSERT_GE(fb, 0);
  ASSERT_EQ(0, bind(fa, a.fd));
  EXPECT_EQ(EPERM, bind(fb, b.fd));  // iommu_device_claim_dma_owner()
  EXPECT_EQ(0, iommusim_close(fa));
  EXPECT_EQ(0, bind(fb, b.fd));
  EXPECT_EQ(0, iommusim_close(fb));
}

// --- ATTACH/DETACH_IOMMUFD_PT ---

TEST_F(VfioCdev, AttachIoasThenHwptReplacesThenDetach) {
  Iommufd ifd;
  int fd;
  uint32_t devid;
  open_bound(ifd, &fd, &devid);
  uint32_t ioas = ifd.ioas();

  vfio_device_attach_iommufd_pt a = {};
  a.argsz = sizeof(a) - 1;
  a.pt_id = ioas;
  EXPECT_EQ(EINVAL, fd_errno(iommusim_ioctl(fd, VFIO_DEVICE_ATTACH_IOMMUFD_PT, &a)));
  a.argsz = sizeof(a);
  a.flags = 1;  // 6.12 has no flags (no PASID attach)
  EXPECT_EQ(EINVAL, fd_errno(iommusim_ioctl(fd, VFIO_DEVICE_ATTACH_IOMMUFD_PT, &a)));
  EXPECT_EQ(EFAULT, fd_errno(iommusim_ioctl(fd, VFIO_DEVICE_ATTACH_IOMMUFD_PT, nullptr)));
  uint32_t pt = 9999;
  EXPECT_EQ(ENOENT, attach(fd, &pt));
  pt = devid;  // not a page table
  EXPECT_EQ(EINVAL, attach(fd, &pt));

  // An IOAS: the kernel picks (creates) a HWPT and returns its ID.
  pt = ioas;
  ASSERT_EQ(0, attach(fd, &pt));
  uint32_t auto_hwpt = pt;
  EXPECT_NE(ioas, auto_hwpt);
  EXPECT_EQ(EBUSY, ifd.destroy(ioas));
  EXPECT_EQ(EBUSY, ifd.destroy(auto_hwpt));
  EXPECT_NE(nullptr, mdev_->group->domain);

  // Memory mapped now reaches the device's domain.
  Buffer buf(2 * kPage);
  const uint64_t iova = MOCK_APERTURE_START;
  ASSERT_EQ(0, ifd.map_fixed(ioas, buf.get(), buf.size(), iova));
  EXPECT_EQ(0, ifd.check_map(auto_hwpt, iova, buf.get(), buf.size()));

  // A HWPT of our own: attaching again replaces, and the automatic one dies.
  uint32_t hwpt = 0;
  ASSERT_EQ(0, ifd.hwpt_alloc(devid, ioas, 0, &hwpt));
  pt = hwpt;
  ASSERT_EQ(0, attach(fd, &pt));
  EXPECT_EQ(hwpt, pt);
  EXPECT_EQ(ENOENT, ifd.destroy(auto_hwpt));
  EXPECT_EQ(EBUSY, ifd.destroy(hwpt));
  EXPECT_EQ(0, ifd.check_map(hwpt, iova, buf.get(), buf.size()));
  // Back to the IOAS: a new automatic HWPT.
  pt = ioas;
  ASSERT_EQ(0, attach(fd, &pt));
  EXPECT_NE(hwpt, pt);
  EXPECT_NE(ioas, pt);
  EXPECT_EQ(0, ifd.destroy(hwpt));

  vfio_device_detach_iommufd_pt d = {};
  d.argsz = sizeof(d) - 1;
  EXPECT_EQ(EINVAL, fd_errno(iommusim_ioctl(fd, VFIO_DEVICE_DETACH_IOMMUFD_PT, &d)));
  d.argsz = sizeof(d);
  d.flags = 1;
  EXPECT_EQ(EINVAL, fd_errno(iommusim_ioctl(fd, VFIO_DEVICE_DETACH_IOMMUFD_PT, &d)));
  EXPECT_EQ(0, detach(fd));
  EXPECT_EQ(0, detach(fd));  // not attached: nothing to do
  EXPECT_EQ(0, ifd.unmap(ioas, iova, buf.size()));
  EXPECT_EQ(0, ifd.destroy(ioas));
  EXPECT_EQ(0, iommusim_close(fd));
}

// --- info ioctls ---

TEST_F(VfioCdev, GetInfoArgszRules) {
  Iommufd ifd;
  int fd;
  open_bound(ifd, &fd);
  struct {
    vfio_device_info info;
    uint32_t sentinel;
  } s;
  memset(&s, 0xa5, sizeof(s));
  s.info.argsz = sizeof(s.info);
  ASSERT_EQ(0, iommusim_ioctl(fd, VFIO_DEVICE_GET_INFO, &s.info));
  EXPECT_EQ(sizeof(s.info), s.info.argsz);
  EXPECT_EQ(uint32_t(VFIO_DEVICE_FLAGS_PCI), s.info.flags);  // no RESET, no CAPS
  EXPECT_EQ(uint32_t(VFIO_PCI_NUM_REGIONS), s.info.num_regions);
  EXPECT_EQ(uint32_t(VFIO_PCI_NUM_IRQS), s.info.num_irqs);
  EXPECT_EQ(0u, s.info.cap_offset);
  EXPECT_EQ(0u, s.info.pad);
  EXPECT_EQ(0xa5a5a5a5u, s.sentinel);

  // Only offsetofend(num_irqs) is mandatory; a short struct is written short.
  memset(&s, 0xa5, sizeof(s));
  s.info.argsz = 16;
  ASSERT_EQ(0, iommusim_ioctl(fd, VFIO_DEVICE_GET_INFO, &s.info));
  EXPECT_EQ(uint32_t(VFIO_PCI_NUM_IRQS), s.info.num_irqs);
  EXPECT_EQ(0xa5a5a5a5u, s.info.cap_offset);
  // A longer one is not written past the struct.
  memset(&s, 0xa5, sizeof(s));
  s.info.argsz = sizeof(s);
  ASSERT_EQ(0, iommusim_ioctl(fd, VFIO_DEVICE_GET_INFO, &s.info));
  EXPECT_EQ(sizeof(s), s.info.argsz);
  EXPECT_EQ(0u, s.info.cap_offset);
  EXPECT_EQ(0xa5a5a5a5u, s.sentinel);
  s.info.argsz = 15;
  EXPECT_EQ(EINVAL, fd_errno(iommusim_ioctl(fd, VFIO_DEVICE_GET_INFO, &s.info)));
  EXPECT_EQ(EFAULT, fd_errno(iommusim_ioctl(fd, VFIO_DEVICE_GET_INFO, nullptr)));
  EXPECT_EQ(0, iommusim_close(fd));
}

TEST_F(VfioCdev, RegionInfo) {
  Iommufd ifd;
  int fd;
  open_bound(ifd, &fd);
  vfio_region_info r;
  ASSERT_EQ(0, region_info(fd, VFIO_PCI_BAR0_REGION_INDEX, &r));
  EXPECT_EQ(0u, r.offset);
  EXPECT_EQ(kBar0Size, r.size);
  EXPECT_EQ(uint32_t(VFIO_REGION_INFO_FLAG_READ | VFIO_REGION_INFO_FLAG_WRITE), r.flags);
  EXPECT_EQ(sizeof(r), r.argsz);
  ASSERT_EQ(0, region_info(fd, VFIO_PCI_BAR1_REGION_INDEX, &r));  // absent BAR
  EXPECT_EQ(kRegion1, r.offset);
  EXPECT_EQ(0u, r.size);
  EXPECT_EQ(0u, r.flags);
  ASSERT_EQ(0, region_info(fd, VFIO_PCI_BAR2_REGION_INDEX, &r));
  EXPECT_EQ(2 * kRegion1, r.offset);
  EXPECT_EQ(kBar2Size, r.size);
  EXPECT_EQ(uint32_t(VFIO_REGION_INFO_FLAG_READ), r.flags);
  for (uint32_t i : {3u, 4u, 5u, unsigned(VFIO_PCI_ROM_REGION_INDEX),
                     unsigned(VFIO_PCI_CONFIG_REGION_INDEX)}) {
    ASSERT_EQ(0, region_info(fd, i, &r)) << i;
    EXPECT_EQ(uint64_t(i) << 40, r.offset);
    EXPECT_EQ(0u, r.size);
    EXPECT_EQ(0u, r.flags);
  }
  EXPECT_EQ(EINVAL, region_info(fd, VFIO_PCI_VGA_REGION_INDEX, &r));
  EXPECT_EQ(EINVAL, region_info(fd, VFIO_PCI_NUM_REGIONS, &r));
  EXPECT_EQ(EINVAL, region_info(fd, UINT32_MAX, &r));

  // argsz: all of the struct is mandatory; cap_offset comes back as given.
  r = {};
  r.argsz = sizeof(r) - 1;
  EXPECT_EQ(EINVAL, fd_errno(iommusim_ioctl(fd, VFIO_DEVICE_GET_REGION_INFO, &r)));
  r.argsz = sizeof(r) + 64;
  r.cap_offset = 0x1234;
  ASSERT_EQ(0, iommusim_ioctl(fd, VFIO_DEVICE_GET_REGION_INFO, &r));
  EXPECT_EQ(0x1234u, r.cap_offset);
  EXPECT_EQ(sizeof(r) + 64, r.argsz);
  EXPECT_EQ(EFAULT, fd_errno(iommusim_ioctl(fd, VFIO_DEVICE_GET_REGION_INFO, nullptr)));
  EXPECT_EQ(0, iommusim_close(fd));
}

TEST_F(VfioCdev, IrqInfo) {
  Iommufd ifd;
  int fd;
  open_bound(ifd, &fd);
  vfio_irq_info i;
  ASSERT_EQ(0, irq_info(fd, VFIO_PCI_INTX_IRQ_INDEX, &i));
  EXPECT_EQ(0u, i.count);  // no INTx pin
  EXPECT_EQ(uint32_t(VFIO_IRQ_INFO_EVENTFD | VFIO_IRQ_INFO_MASKABLE | VFIO_IRQ_INFO_AUTOMASKED),
            i.flags);
  ASSERT_EQ(0, irq_info(fd, VFIO_PCI_MSI_IRQ_INDEX, &i));
  EXPECT_EQ(0u, i.count);
  EXPECT_EQ(uint32_t(VFIO_IRQ_INFO_EVENTFD | VFIO_IRQ_INFO_NORESIZE), i.flags);
  ASSERT_EQ(0, irq_info(fd, VFIO_PCI_MSIX_IRQ_INDEX, &i));
  EXPECT_EQ(kVectors, i.count);
  EXPECT_EQ(uint32_t(VFIO_IRQ_INFO_EVENTFD | VFIO_IRQ_INFO_NORESIZE), i.flags);
  ASSERT_EQ(0, irq_info(fd, VFIO_PCI_ERR_IRQ_INDEX, &i));
  EXPECT_EQ(1u, i.count);
  ASSERT_EQ(0, irq_info(fd, VFIO_PCI_REQ_IRQ_INDEX, &i));
  EXPECT_EQ(1u, i.count);
  EXPECT_EQ(EINVAL, irq_info(fd, VFIO_PCI_NUM_IRQS, &i));
  i = {};
  i.argsz = sizeof(i) - 1;
  EXPECT_EQ(EINVAL, fd_errno(iommusim_ioctl(fd, VFIO_DEVICE_GET_IRQ_INFO, &i)));
  EXPECT_EQ(0, iommusim_close(fd));
}

// --- region access ---

TEST_F(VfioCdev, RegionAccessGoesToHostBusAtTheAccessWidth) {
  Iommufd ifd;
  int fd;
  open_bound(ifd, &fd);
  bus_.take_log();
  using A = FakeBus::access;

  uint64_t q = 0x1122334455667788;
  ASSERT_EQ(8, iommusim_pwrite(fd, &q, 8, 0x10));
  EXPECT_EQ((std::vector<A>{{'w', 8, kBar0Base + 0x10, q}}), bus_.take_log());
  uint64_t got = 0;
  ASSERT_EQ(8, iommusim_pread(fd, &got, 8, 0x10));
  EXPECT_EQ(q, got);
  EXPECT_EQ((std::vector<A>{{'r', 8, kBar0Base + 0x10, q}}), bus_.take_log());

  uint32_t l = 0xcafef00d;
  ASSERT_EQ(4, iommusim_pwrite(fd, &l, 4, 0x24));
  EXPECT_EQ((std::vector<A>{{'w', 4, kBar0Base + 0x24, l}}), bus_.take_log());
  uint32_t gl = 0;
  ASSERT_EQ(4, iommusim_pread(fd, &gl, 4, 0x14));
  EXPECT_EQ(0x11223344u, gl);
  bus_.take_log();

  // 16 and 8 bit: read-modify-write of the 32-bit word holding them.
  bus_.poke(kBar0Base + 0x40, 4, 0xaabbccdd);
  uint16_t h = 0x1234;
  ASSERT_EQ(2, iommusim_pwrite(fd, &h, 2, 0x42));
  EXPECT_EQ(0x1234ccddu, bus_.peek(kBar0Base + 0x40, 4));
  EXPECT_EQ((std::vector<A>{{'r', 4, kBar0Base + 0x40, 0xaabbccdd},
                            {'w', 4, kBar0Base + 0x40, 0x1234ccdd}}),
            bus_.take_log());
  uint8_t b = 0x5a;
  ASSERT_EQ(1, iommusim_pwrite(fd, &b, 1, 0x41));
  EXPECT_EQ(0x12345addu, bus_.peek(kBar0Base + 0x40, 4));
  bus_.take_log();
  uint8_t gb = 0;
  ASSERT_EQ(1, iommusim_pread(fd, &gb, 1, 0x43));
  EXPECT_EQ(0x12, gb);
  uint16_t gh = 0;
  ASSERT_EQ(2, iommusim_pread(fd, &gh, 2, 0x40));
  EXPECT_EQ(0x5addu, gh);
  EXPECT_EQ((std::vector<A>{{'r', 4, kBar0Base + 0x40, 0x12345add},
                            {'r', 4, kBar0Base + 0x40, 0x12345add}}),
            bus_.take_log());

  // A longer, misaligned access splits into the widest aligned pieces.
  uint8_t bytes[16];
  for (unsigned i = 0; i < 16; i++) bytes[i] = static_cast<uint8_t>(0x80 + i);
  ASSERT_EQ(15, iommusim_pwrite(fd, bytes, 15, 0x101));
  auto log = bus_.take_log();
  std::vector<std::pair<char, unsigned>> shape;
  for (auto &a : log) shape.push_back({a.op, a.width});
  // 0x101: byte (RMW), 0x102: half (RMW), 0x104: word, 0x108: quad.
  EXPECT_EQ((std::vector<std::pair<char, unsigned>>{
                {'r', 4}, {'w', 4}, {'r', 4}, {'w', 4}, {'w', 4}, {'w', 8}}),
            shape);
  uint8_t back[16] = {};
  ASSERT_EQ(15, iommusim_pread(fd, back, 15, 0x101));
  EXPECT_EQ(0, memcmp(bytes, back, 15));
  EXPECT_EQ(0, iommusim_close(fd));
}

TEST_F(VfioCdev, RegionAccessBounds) {
  Iommufd ifd;
  int fd;
  open_bound(ifd, &fd);
  uint8_t buf[32] = {};
  // Clipped at the end of the region; past it EINVAL.
  EXPECT_EQ(8, iommusim_pread(fd, buf, 32, kBar0Size - 8));
  EXPECT_EQ(8, iommusim_pwrite(fd, buf, 32, kBar0Size - 8));
  EXPECT_EQ(EINVAL, fd_errno(iommusim_pread(fd, buf, 8, kBar0Size)));
  EXPECT_EQ(EINVAL, fd_errno(iommusim_pwrite(fd, buf, 8, kBar0Size)));
  // Absent BAR, read-only BAR, config, ROM, VGA, past the last region.
  EXPECT_EQ(EINVAL, fd_errno(iommusim_pread(fd, buf, 4, kRegion1)));
  EXPECT_EQ(4, iommusim_pread(fd, buf, 4, 2 * kRegion1));
  EXPECT_EQ(EINVAL, fd_errno(iommusim_pwrite(fd, buf, 4, 2 * kRegion1)));
  EXPECT_EQ(EINVAL, fd_errno(iommusim_pread(fd, buf, 4, 2 * kRegion1 + kBar2Size)));
  for (uint64_t idx : {6ull, 7ull, 8ull, 9ull, 1000ull})
    EXPECT_EQ(EINVAL, fd_errno(iommusim_pread(fd, buf, 4, off_t(idx << 40)))) << idx;
  EXPECT_EQ(EINVAL, fd_errno(iommusim_pwrite(fd, buf, 4, off_t(6ull << 40))));
  // Nothing to do is 0 anywhere, as vfio-pci answers before decoding.
  EXPECT_EQ(0, iommusim_pread(fd, buf, 0, off_t(1000ull << 40)));
  EXPECT_EQ(0, iommusim_pwrite(fd, buf, 0, 0));
  // Negative offsets (checked before the fd), bad fds, bad buffers.
  EXPECT_EQ(EINVAL, fd_errno(iommusim_pread(fd, buf, 4, -1)));
  EXPECT_EQ(EINVAL, fd_errno(iommusim_pread(-5, buf, 4, -1)));
  EXPECT_EQ(EBADF, fd_errno(iommusim_pread(-5, buf, 4, 0)));
  EXPECT_EQ(EFAULT, fd_errno(iommusim_pread(fd, nullptr, 4, 0)));
  EXPECT_EQ(EFAULT, fd_errno(iommusim_pwrite(fd, nullptr, 8, 0)));
  EXPECT_EQ(EINVAL, fd_errno(iommusim_pread(fd, buf, 8, INT64_MAX - 4)));
  EXPECT_EQ(0, iommusim_close(fd));
}

TEST_F(VfioCdev, ReadWriteUseTheFilePositionAndLseekIsRefused) {
  Iommufd ifd;
  int fd;
  open_bound(ifd, &fd);
  for (unsigned i = 0; i < 4; i++) bus_.poke(kBar0Base + 8 * i, 8, 0x1000 + i);
  uint64_t v = 0;
  ASSERT_EQ(8, iommusim_read(fd, &v, 8));
  EXPECT_EQ(0x1000u, v);
  ASSERT_EQ(8, iommusim_read(fd, &v, 8));
  EXPECT_EQ(0x1001u, v);
  // pread does not move the position.
  ASSERT_EQ(8, iommusim_pread(fd, &v, 8, 0x18));
  EXPECT_EQ(0x1003u, v);
  uint64_t w = 0xabcdef;
  ASSERT_EQ(8, iommusim_write(fd, &w, 8));  // at 0x10
  EXPECT_EQ(0xabcdefu, bus_.peek(kBar0Base + 0x10, 8));
  ASSERT_EQ(8, iommusim_read(fd, &v, 8));
  EXPECT_EQ(0x1003u, v);
  // A failed access leaves it.
  EXPECT_EQ(EFAULT, fd_errno(iommusim_read(fd, nullptr, 8)));
  ASSERT_EQ(8, iommusim_read(fd, &v, 8));
  EXPECT_EQ(0u, v);  // 0x20

  // Linux 6.12's VFIO device fops have no llseek: ESPIPE, as on /dev/iommu.
  EXPECT_EQ(ESPIPE, fd_errno(iommusim_lseek(fd, 0, SEEK_SET)));
  EXPECT_EQ(ESPIPE, fd_errno(iommusim_lseek(fd, 0, SEEK_CUR)));
  EXPECT_EQ(ESPIPE, fd_errno(iommusim_lseek(ifd.fd, 0, SEEK_SET)));
  EXPECT_EQ(EBADF, fd_errno(iommusim_lseek(-3, 0, SEEK_SET)));
  // And an iommufd has no read: pread is EINVAL there.
  EXPECT_EQ(EINVAL, fd_errno(iommusim_pread(ifd.fd, &v, 8, 0)));
  EXPECT_EQ(EINVAL, fd_errno(iommusim_pwrite(ifd.fd, &v, 8, 0)));
  EXPECT_EQ(0, iommusim_close(fd));
}

TEST_F(VfioCdev, AccessModeOfTheOpen) {
  Iommufd ifd;
  int ro = open_cdev(O_RDONLY);
  ASSERT_GE(ro, 0);
  ASSERT_EQ(0, bind(ro, ifd.fd));  // ioctls do not care
  uint64_t v = 0;
  EXPECT_EQ(8, iommusim_pread(ro, &v, 8, 0));
  EXPECT_EQ(EBADF, fd_errno(iommusim_pwrite(ro, &v, 8, 0)));
  EXPECT_EQ(EBADF, fd_errno(iommusim_write(ro, &v, 8)));
  EXPECT_EQ(0, iommusim_close(ro));
  int wo = open_cdev(O_WRONLY);
  ASSERT_GE(wo, 0);
  // vfs_read() checks FMODE_READ before the driver sees the call.
  EXPECT_EQ(EBADF, fd_errno(iommusim_pread(wo, &v, 8, 0)));
  ASSERT_EQ(0, bind(wo, ifd.fd));
  EXPECT_EQ(8, iommusim_pwrite(wo, &v, 8, 0));
  EXPECT_EQ(EBADF, fd_errno(iommusim_read(wo, &v, 8)));
  EXPECT_EQ(0, iommusim_close(wo));
}

// --- interrupts ---

TEST_F(VfioCdev, MsixEventfdsFireOnSignalIrq) {
  Iommufd ifd;
  int fd;
  open_bound(ifd, &fd);
  int e0 = eventfd(0, EFD_NONBLOCK), e2 = eventfd(0, EFD_NONBLOCK);
  ASSERT_GE(e0, 0);
  ASSERT_GE(e2, 0);
  // Before SET_IRQS nothing is wired.
  vfio::signal_irq(index_, 0);
  EXPECT_FALSE(readable(e0));

  ASSERT_EQ(0, set_irq_eventfds(fd, VFIO_PCI_MSIX_IRQ_INDEX, 0, {e0, -1, e2}));
  vfio::signal_irq(index_, 0);
  EXPECT_TRUE(readable(e0));
  EXPECT_EQ(1u, drain(e0));
  vfio::signal_irq(index_, 1);  // no eventfd on vector 1
  vfio::signal_irq(index_, 2);
  vfio::signal_irq(index_, 2);
  EXPECT_EQ(2u, drain(e2));
  vfio::signal_irq(index_, kVectors + 3);  // no such vector: ignored
  EXPECT_FALSE(readable(e0));

  // The kernel keeps its own reference: closing ours changes nothing.
  int dup0 = dup(e0);
  close(e0);
  vfio::signal_irq(index_, 0);
  EXPECT_EQ(1u, drain(dup0));

  // Loopback triggers (DATA_NONE / DATA_BOOL).
  ASSERT_EQ(0, set_irqs(fd, VFIO_IRQ_SET_DATA_NONE | VFIO_IRQ_SET_ACTION_TRIGGER,
                        VFIO_PCI_MSIX_IRQ_INDEX, 0, 3));
  EXPECT_EQ(1u, drain(dup0));
  EXPECT_EQ(1u, drain(e2));
  uint8_t bools[3] = {0, 1, 1};
  ASSERT_EQ(0, set_irqs(fd, VFIO_IRQ_SET_DATA_BOOL | VFIO_IRQ_SET_ACTION_TRIGGER,
                        VFIO_PCI_MSIX_IRQ_INDEX, 0, 3, bools, 3));
  EXPECT_FALSE(readable(dup0));
  EXPECT_EQ(1u, drain(e2));

  // -1 tears one vector down; DATA_NONE with count 0 turns MSI-X off.
  ASSERT_EQ(0, set_irq_eventfds(fd, VFIO_PCI_MSIX_IRQ_INDEX, 2, {-1}));
  vfio::signal_irq(index_, 2);
  EXPECT_FALSE(readable(e2));
  ASSERT_EQ(0, set_irqs(fd, VFIO_IRQ_SET_DATA_NONE | VFIO_IRQ_SET_ACTION_TRIGGER,
                        VFIO_PCI_MSIX_IRQ_INDEX, 0, 0));
  vfio::signal_irq(index_, 0);
  EXPECT_FALSE(readable(dup0));
  // Loopback with MSI-X off is EINVAL.
  EXPECT_EQ(EINVAL, set_irqs(fd, VFIO_IRQ_SET_DATA_NONE | VFIO_IRQ_SET_ACTION_TRIGGER,
                             VFIO_PCI_MSIX_IRQ_INDEX, 0, 1));
  // Enabling at a later vector works (vectors 0..start are allocated too).
  ASSERT_EQ(0, set_irq_eventfds(fd, VFIO_PCI_MSIX_IRQ_INDEX, 3, {e2}));
  vfio::signal_irq(index_, 3);
  EXPECT_EQ(1u, drain(e2));
  // Closing the device turns everything off.
  EXPECT_EQ(0, iommusim_close(fd));
  vfio::signal_irq(index_, 3);
  EXPECT_FALSE(readable(e2));
  close(dup0);
  close(e2);
}

TEST_F(VfioCdev, SetIrqsValidation) {
  Iommufd ifd;
  int fd;
  open_bound(ifd, &fd);
  const uint32_t trig_efd = VFIO_IRQ_SET_DATA_EVENTFD | VFIO_IRQ_SET_ACTION_TRIGGER;
  int32_t none = -1;
  EXPECT_EQ(EFAULT, fd_errno(iommusim_ioctl(fd, VFIO_DEVICE_SET_IRQS, nullptr)));
  // argsz shorter than the header
  EXPECT_EQ(EINVAL, set_irqs(fd, trig_efd, VFIO_PCI_MSIX_IRQ_INDEX, 0, 1, &none, 4, 19));
  // ... or than the data
  EXPECT_EQ(EINVAL, set_irqs(fd, trig_efd, VFIO_PCI_MSIX_IRQ_INDEX, 0, 1, &none, 4, 23));
  EXPECT_EQ(EINVAL, set_irqs(fd, trig_efd, VFIO_PCI_NUM_IRQS, 0, 1, &none, 4));
  EXPECT_EQ(EINVAL, set_irqs(fd, trig_efd, VFIO_PCI_MSIX_IRQ_INDEX, 1, UINT32_MAX - 1, &none, 4));
  EXPECT_EQ(EINVAL, set_irqs(fd, trig_efd | (1u << 6), VFIO_PCI_MSIX_IRQ_INDEX, 0, 1, &none, 4));
  EXPECT_EQ(EINVAL, set_irqs(fd, trig_efd, VFIO_PCI_MSIX_IRQ_INDEX, kVectors, 1, &none, 4));
  EXPECT_EQ(EINVAL, set_irqs(fd, trig_efd, VFIO_PCI_MSIX_IRQ_INDEX, kVectors - 1, 2, &none, 4));
  EXPECT_EQ(EINVAL, set_irqs(fd, VFIO_IRQ_SET_DATA_NONE | VFIO_IRQ_SET_DATA_BOOL |
                                     VFIO_IRQ_SET_ACTION_TRIGGER,
                             VFIO_PCI_MSIX_IRQ_INDEX, 0, 1, &none, 4));
  // No INTx pin, no MSI capability: count 0, nothing is valid.
  EXPECT_EQ(EINVAL, set_irqs(fd, trig_efd, VFIO_PCI_INTX_IRQ_INDEX, 0, 1, &none, 4));
  EXPECT_EQ(EINVAL, set_irqs(fd, trig_efd, VFIO_PCI_MSI_IRQ_INDEX, 0, 1, &none, 4));
  // MSI-X masking does not exist.
  EXPECT_EQ(ENOTTY, set_irqs(fd, VFIO_IRQ_SET_DATA_NONE | VFIO_IRQ_SET_ACTION_MASK,
                             VFIO_PCI_MSIX_IRQ_INDEX, 0, 1));
  EXPECT_EQ(ENOTTY, set_irqs(fd, VFIO_IRQ_SET_DATA_NONE | VFIO_IRQ_SET_ACTION_UNMASK,
                             VFIO_PCI_REQ_IRQ_INDEX, 0, 1));
  // The eventfd must be one: a pipe or one of iommusim's own fds is EINVAL,
  // a closed number EBADF, and a failure unwinds the whole block.
  int pipefd[2];
  ASSERT_EQ(0, pipe(pipefd));
  int e = eventfd(0, EFD_NONBLOCK);
  int32_t fds[2] = {e, pipefd[0]};
  EXPECT_EQ(EINVAL, set_irqs(fd, trig_efd, VFIO_PCI_MSIX_IRQ_INDEX, 0, 2, fds, 8));
  vfio::signal_irq(index_, 0);
  EXPECT_FALSE(readable(e));
  fds[1] = ifd.fd;
  EXPECT_EQ(EINVAL, set_irqs(fd, trig_efd, VFIO_PCI_MSIX_IRQ_INDEX, 0, 2, fds, 8));
  close(pipefd[0]);
  close(pipefd[1]);
  fds[1] = pipefd[1];
  EXPECT_EQ(EBADF, set_irqs(fd, trig_efd, VFIO_PCI_MSIX_IRQ_INDEX, 0, 2, fds, 8));
  vfio::signal_irq(index_, 0);
  EXPECT_FALSE(readable(e));
  // And MSI-X stayed off after the failures: loopback is EINVAL.
  EXPECT_EQ(EINVAL, set_irqs(fd, VFIO_IRQ_SET_DATA_NONE | VFIO_IRQ_SET_ACTION_TRIGGER,
                             VFIO_PCI_MSIX_IRQ_INDEX, 0, 1));
  close(e);
  EXPECT_EQ(0, iommusim_close(fd));
}

TEST_F(VfioCdev, ErrAndReqTriggers) {
  Iommufd ifd;
  int fd;
  open_bound(ifd, &fd);
  const uint32_t trig = VFIO_IRQ_SET_ACTION_TRIGGER;
  // DATA_NONE on an unset trigger is EINVAL; start must be 0.
  EXPECT_EQ(EINVAL, set_irqs(fd, VFIO_IRQ_SET_DATA_NONE | trig, VFIO_PCI_ERR_IRQ_INDEX, 0, 1));
  int err = eventfd(0, EFD_NONBLOCK), req = eventfd(0, EFD_NONBLOCK);
  ASSERT_EQ(0, set_irq_eventfds(fd, VFIO_PCI_ERR_IRQ_INDEX, 0, {err}));
  ASSERT_EQ(0, set_irq_eventfds(fd, VFIO_PCI_REQ_IRQ_INDEX, 0, {req}));
  // EVENTFD with count 0 is EINVAL; fd < -1 too.
  EXPECT_EQ(EINVAL, set_irqs(fd, VFIO_IRQ_SET_DATA_EVENTFD | trig, VFIO_PCI_ERR_IRQ_INDEX, 0, 0));
  int32_t bad = -2;
  EXPECT_EQ(EINVAL,
            set_irqs(fd, VFIO_IRQ_SET_DATA_EVENTFD | trig, VFIO_PCI_ERR_IRQ_INDEX, 0, 1, &bad, 4));
  // A bad new fd keeps the old one.
  int32_t closed = 4000;
  EXPECT_EQ(EBADF, set_irqs(fd, VFIO_IRQ_SET_DATA_EVENTFD | trig, VFIO_PCI_ERR_IRQ_INDEX, 0, 1,
                            &closed, 4));
  ASSERT_EQ(0, set_irqs(fd, VFIO_IRQ_SET_DATA_NONE | trig, VFIO_PCI_ERR_IRQ_INDEX, 0, 1));
  EXPECT_EQ(1u, drain(err));
  uint8_t yes = 1;
  ASSERT_EQ(0, set_irqs(fd, VFIO_IRQ_SET_DATA_BOOL | trig, VFIO_PCI_REQ_IRQ_INDEX, 0, 1, &yes, 1));
  EXPECT_EQ(1u, drain(req));
  // Unregistering the device asks for it back through REQ.
  unregister(index_);
  EXPECT_EQ(1u, drain(req));
  // DATA_NONE with count 0 releases.
  ASSERT_EQ(0, set_irqs(fd, VFIO_IRQ_SET_DATA_NONE | trig, VFIO_PCI_ERR_IRQ_INDEX, 0, 0));
  EXPECT_EQ(EINVAL, set_irqs(fd, VFIO_IRQ_SET_DATA_NONE | trig, VFIO_PCI_ERR_IRQ_INDEX, 0, 1));
  EXPECT_EQ(0, iommusim_close(fd));
  close(err);
  close(req);
}

// --- features, resets, the rest ---

TEST_F(VfioCdev, FeatureResetAndOtherIoctls) {
  Iommufd ifd;
  int fd;
  open_bound(ifd, &fd);
  vfio_device_feature f = {};
  f.argsz = 7;
  EXPECT_EQ(EINVAL, fd_errno(iommusim_ioctl(fd, VFIO_DEVICE_FEATURE, &f)));
  f.argsz = sizeof(f);
  f.flags = 1u << 19;
  EXPECT_EQ(EINVAL, fd_errno(iommusim_ioctl(fd, VFIO_DEVICE_FEATURE, &f)));
  f.flags = VFIO_DEVICE_FEATURE_GET | VFIO_DEVICE_FEATURE_SET | VFIO_DEVICE_FEATURE_MIGRATION;
  EXPECT_EQ(EINVAL, fd_errno(iommusim_ioctl(fd, VFIO_DEVICE_FEATURE, &f)));
  f.flags |= VFIO_DEVICE_FEATURE_PROBE;
  EXPECT_EQ(ENOTTY, fd_errno(iommusim_ioctl(fd, VFIO_DEVICE_FEATURE, &f)));
  for (uint32_t feat : {uint32_t(VFIO_DEVICE_FEATURE_PCI_VF_TOKEN), uint32_t(VFIO_DEVICE_FEATURE_MIG_DEVICE_STATE),
                        uint32_t(VFIO_DEVICE_FEATURE_DMA_LOGGING_START), uint32_t(VFIO_DEVICE_FEATURE_LOW_POWER_ENTRY),
                        100u}) {
    f.flags = VFIO_DEVICE_FEATURE_PROBE | VFIO_DEVICE_FEATURE_SET | feat;
    EXPECT_EQ(ENOTTY, fd_errno(iommusim_ioctl(fd, VFIO_DEVICE_FEATURE, &f))) << feat;
  }
  EXPECT_EQ(EFAULT, fd_errno(iommusim_ioctl(fd, VFIO_DEVICE_FEATURE, nullptr)));

  EXPECT_EQ(EINVAL, fd_errno(iommusim_ioctl(fd, VFIO_DEVICE_RESET, nullptr)));  // no reset
  vfio_pci_hot_reset_info hi = {};
  hi.argsz = sizeof(hi) - 1;
  EXPECT_EQ(EINVAL, fd_errno(iommusim_ioctl(fd, VFIO_DEVICE_GET_PCI_HOT_RESET_INFO, &hi)));
  hi.argsz = sizeof(hi);
  EXPECT_EQ(ENODEV, fd_errno(iommusim_ioctl(fd, VFIO_DEVICE_GET_PCI_HOT_RESET_INFO, &hi)));
  vfio_pci_hot_reset hr = {};
  hr.argsz = sizeof(hr);
  hr.count = 1;  // a cdev passes no group fds
  EXPECT_EQ(EINVAL, fd_errno(iommusim_ioctl(fd, VFIO_DEVICE_PCI_HOT_RESET, &hr)));
  hr.count = 0;
  hr.flags = 1;
  EXPECT_EQ(EINVAL, fd_errno(iommusim_ioctl(fd, VFIO_DEVICE_PCI_HOT_RESET, &hr)));
  hr.flags = 0;
  EXPECT_EQ(ENODEV, fd_errno(iommusim_ioctl(fd, VFIO_DEVICE_PCI_HOT_RESET, &hr)));

  vfio_device_ioeventfd io = {};
  io.argsz = sizeof(io);
  io.flags = VFIO_DEVICE_IOEVENTFD_32 | VFIO_DEVICE_IOEVENTFD_64;
  EXPECT_EQ(EINVAL, fd_errno(iommusim_ioctl(fd, VFIO_DEVICE_IOEVENTFD, &io)));
  io.flags = VFIO_DEVICE_IOEVENTFD_32;
  io.offset = kBar0Size - 2;
  EXPECT_EQ(EINVAL, fd_errno(iommusim_ioctl(fd, VFIO_DEVICE_IOEVENTFD, &io)));
  io.offset = 6ull << 40;
  EXPECT_EQ(EINVAL, fd_errno(iommusim_ioctl(fd, VFIO_DEVICE_IOEVENTFD, &io)));
  io.offset = 0x38;
  io.fd = -1;
  EXPECT_EQ(ENOTTY, fd_errno(iommusim_ioctl(fd, VFIO_DEVICE_IOEVENTFD, &io)));

  EXPECT_EQ(ENOTTY, fd_errno(iommusim_ioctl(fd, VFIO_DEVICE_QUERY_GFX_PLANE, &f)));
  EXPECT_EQ(ENOTTY, fd_errno(iommusim_ioctl(fd, VFIO_GROUP_GET_STATUS, &f)));
  EXPECT_EQ(0, iommusim_close(fd));
}

// --- lifetime: the cdev and the iommufd close in either order ---

TEST_F(VfioCdev, CloseCdevFirst) {
  Iommufd ifd;
  int fd;
  uint32_t devid;
  open_bound(ifd, &fd, &devid);
  uint32_t ioas = ifd.ioas(), pt = ioas;
  ASSERT_EQ(0, attach(fd, &pt));
  Buffer buf(4 * kPage);
  ASSERT_EQ(0, ifd.map_fixed(ioas, buf.get(), buf.size(), MOCK_APERTURE_START));
  EXPECT_EQ(0, ifd.check_refs(buf.get(), buf.size(), 1));

  EXPECT_EQ(0, iommusim_close(fd));
  // Detached and unbound: the device object and its automatic HWPT are gone,
  // the IOAS keeps its mapping but nothing pins it.
  EXPECT_EQ(ENOENT, ifd.destroy(devid));
  EXPECT_EQ(ENOENT, ifd.destroy(pt));
  EXPECT_EQ(0, ifd.check_refs(buf.get(), buf.size(), 0));
  EXPECT_EQ(0, ifd.destroy(ioas));
  EXPECT_EQ(mdev_->group->default_domain, mdev_->group->domain);
  // The device is free again.
  Iommufd other;
  int fd2;
  open_bound(other, &fd2);
  EXPECT_EQ(0, iommusim_close(fd2));
}

TEST_F(VfioCdev, CloseIommufdFirst) {
  const auto pinned0 = iommufd::host_memory::get().get_stats().pinned_pages;
  auto ifd = std::make_unique<Iommufd>();
  int fd;
  uint32_t devid;
  open_bound(*ifd, &fd, &devid);
  uint32_t ioas = ifd->ioas();
  Buffer buf(4 * kPage);
  ASSERT_EQ(0, ifd->map_fixed(ioas, buf.get(), buf.size(), MOCK_APERTURE_START));
  uint32_t pt = ioas;
  ASSERT_EQ(0, attach(fd, &pt));
  EXPECT_EQ(pinned0 + 4, iommufd::host_memory::get().get_stats().pinned_pages);

  // The device holds the context: closing the iommufd fd keeps it alive.
  ASSERT_EQ(0, ifd->close());
  ifd.reset();
  EXPECT_NE(nullptr, mdev_->group->domain);
  EXPECT_NE(mdev_->group->default_domain, mdev_->group->domain);
  EXPECT_EQ(pinned0 + 4, iommufd::host_memory::get().get_stats().pinned_pages);
  vfio_device_info info = {};
  info.argsz = sizeof(info);
  EXPECT_EQ(0, iommusim_ioctl(fd, VFIO_DEVICE_GET_INFO, &info));
  uint64_t v = 0;
  EXPECT_EQ(8, iommusim_pread(fd, &v, 8, 0));
  // Attaching by ID still works against the (fd-less) context.
  pt = ioas;
  EXPECT_EQ(0, attach(fd, &pt));
  EXPECT_EQ(0, detach(fd));
  pt = ioas;
  EXPECT_EQ(0, attach(fd, &pt));

  // Closing the cdev tears everything down.
  EXPECT_EQ(0, iommusim_close(fd));
  EXPECT_EQ(pinned0, iommufd::host_memory::get().get_stats().pinned_pages);
  EXPECT_EQ(mdev_->group->default_domain, mdev_->group->domain);
  Iommufd other;
  int fd2;
  open_bound(other, &fd2);
  EXPECT_EQ(0, iommusim_close(fd2));
}

TEST_F(VfioCdev, CloseUnboundAndTwiceBoundFiles) {
  Iommufd ifd;
  int a = open_cdev(), b = open_cdev();
  ASSERT_GE(a, 0);
  ASSERT_GE(b, 0);
  ASSERT_EQ(0, bind(a, ifd.fd));
  EXPECT_EQ(EINVAL, bind(b, ifd.fd));
  // Closing the file that never bound leaves the bound one alone.
  EXPECT_EQ(0, iommusim_close(b));
  vfio_device_info info = {};
  info.argsz = sizeof(info);
  EXPECT_EQ(0, iommusim_ioctl(a, VFIO_DEVICE_GET_INFO, &info));
  EXPECT_EQ(0, iommusim_close(a));
  EXPECT_EQ(EBADF, fd_errno(iommusim_close(a)));
}

// --- a non-PCI device (the vfio-platform shape) ---

TEST_F(VfioCdev, PlatformDevice) {
  unsigned idx = register_dev(false);
  std::string p = "/dev/vfio/devices/vfio" + std::to_string(idx);
  Iommufd ifd;
  int fd = iommusim_open_path(p.c_str(), O_RDWR);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(0, bind(fd, ifd.fd));
  vfio_device_info info = {};
  info.argsz = sizeof(info);
  ASSERT_EQ(0, iommusim_ioctl(fd, VFIO_DEVICE_GET_INFO, &info));
  EXPECT_EQ(uint32_t(VFIO_DEVICE_FLAGS_PLATFORM), info.flags);
  EXPECT_EQ(3u, info.num_regions);
  EXPECT_EQ(kVectors, info.num_irqs);
  vfio_region_info r;
  ASSERT_EQ(0, region_info(fd, 2, &r));
  EXPECT_EQ(kBar2Size, r.size);
  EXPECT_EQ(2 * kRegion1, r.offset);
  EXPECT_EQ(EINVAL, region_info(fd, 3, &r));
  uint64_t v = 0x77;
  EXPECT_EQ(8, iommusim_pwrite(fd, &v, 8, 0x8));
  EXPECT_EQ(0x77u, bus_.peek(kBar0Base + 8, 8));
  EXPECT_EQ(EINVAL, fd_errno(iommusim_pread(fd, &v, 8, 3 * kRegion1)));
  vfio_irq_info ii;
  ASSERT_EQ(0, irq_info(fd, kVectors - 1, &ii));
  EXPECT_EQ(1u, ii.count);
  EXPECT_EQ(EINVAL, irq_info(fd, kVectors, &ii));
  int e = eventfd(0, EFD_NONBLOCK);
  ASSERT_EQ(0, set_irq_eventfds(fd, 1, 0, {e}));
  vfio::signal_irq(idx, 1);
  EXPECT_EQ(1u, drain(e));
  EXPECT_EQ(EINVAL, set_irq_eventfds(fd, 1, 1, {e}));  // one IRQ per index
  EXPECT_EQ(ENOTTY, set_irqs(fd, VFIO_IRQ_SET_DATA_NONE | VFIO_IRQ_SET_ACTION_MASK, 1, 0, 1));
  ASSERT_EQ(0, set_irqs(fd, VFIO_IRQ_SET_DATA_NONE | VFIO_IRQ_SET_ACTION_TRIGGER, 1, 0, 1));
  EXPECT_EQ(1u, drain(e));
  EXPECT_EQ(ENOTTY, fd_errno(iommusim_ioctl(fd, VFIO_DEVICE_GET_PCI_HOT_RESET_INFO, &info)));
  EXPECT_EQ(0, iommusim_close(fd));
  close(e);
}

}  // namespace
}  // namespace iommusim::test
