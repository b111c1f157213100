// SPDX-License-Identifier: MIT
// Helpers for tests that drive iommufd through the C API, the way a program
// does. Calls return 0 or the errno of the failure, so a test reads
//   EXPECT_EQ(EEXIST, fd.map_fixed(ioas, buf, len, iova));
#pragma once

#include <gtest/gtest.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstring>

#include "iommusim/iommufd.h"
#include "iommusim/iommufd_sim.h"
#include "iommusim/iommufd_test.h"

namespace iommusim::test {

inline constexpr uint64_t kPage = 4096;
inline constexpr uint64_t kMockPage = kPage / 2;

// 0 on success, else errno.
inline int errno_of(long rc) { return rc < 0 ? errno : 0; }

// Anonymous memory that unmaps itself.
class Buffer {
 public:
  explicit Buffer(size_t len, int prot = PROT_READ | PROT_WRITE,
                  int flags = MAP_PRIVATE | MAP_ANONYMOUS)
      : len_(len) {
    ptr_ = static_cast<uint8_t *>(mmap(nullptr, len, prot, flags, -1, 0));
    if (ptr_ == MAP_FAILED) ptr_ = nullptr;
  }
  ~Buffer() {
    if (ptr_) munmap(ptr_, len_);
  }
  Buffer(const Buffer &) = delete;
  Buffer &operator=(const Buffer &) = delete;
  uint8_t *get() const { return ptr_; }
  size_t size() const { return len_; }
  void fill(uint8_t seed) {
    for (size_t i = 0; i < len_; i++) ptr_[i] = static_cast<uint8_t>(seed + i * 7);
  }

 private:
  uint8_t *ptr_;
  size_t len_;
};

struct MockDevice {
  uint32_t stdev_id = 0;
  uint32_t hwpt_id = 0;
  uint32_t idev_id = 0;
};

// One open /dev/iommu.
class Iommufd {
 public:
  Iommufd() : fd(iommusim_open()) {}
  ~Iommufd() {
    if (fd >= 0) iommusim_close(fd);
  }
  Iommufd(const Iommufd &) = delete;
  Iommufd &operator=(const Iommufd &) = delete;

  int ioctl(unsigned long request, void *arg) const {
    return errno_of(iommusim_ioctl(fd, request, arg));
  }
  int close() {
    int rc = errno_of(iommusim_close(fd));
    fd = -1;
    return rc;
  }

  int ioas_alloc(uint32_t *id) const {
    iommu_ioas_alloc cmd = {};
    cmd.size = sizeof(cmd);
    int rc = ioctl(IOMMU_IOAS_ALLOC, &cmd);
    if (!rc) *id = cmd.out_ioas_id;
    return rc;
  }
  uint32_t ioas() const {
    uint32_t id = 0;
    EXPECT_EQ(0, ioas_alloc(&id));
    return id;
  }
  int destroy(uint32_t id) const {
    iommu_destroy cmd = {};
    cmd.size = sizeof(cmd);
    cmd.id = id;
    return ioctl(IOMMU_DESTROY, &cmd);
  }
  // Kernel-chosen IOVA.
  int map(uint32_t ioas, const void *buf, uint64_t len, uint64_t *iova,
          uint32_t flags = IOMMU_IOAS_MAP_READABLE | IOMMU_IOAS_MAP_WRITEABLE) const {
    iommu_ioas_map cmd = {};
    cmd.size = sizeof(cmd);
    cmd.flags = flags;
    cmd.ioas_id = ioas;
    cmd.user_va = reinterpret_cast<uint64_t>(buf);
    cmd.length = len;
    int rc = ioctl(IOMMU_IOAS_MAP, &cmd);
    if (!rc) *iova = cmd.iova;
    return rc;
  }
  int map_fixed(uint32_t ioas, const void *buf, uint64_t len, uint64_t iova,
                uint32_t flags = IOMMU_IOAS_MAP_READABLE | IOMMU_IOAS_MAP_WRITEABLE) const {
    iommu_ioas_map cmd = {};
    cmd.size = sizeof(cmd);
    cmd.flags = flags | IOMMU_IOAS_MAP_FIXED_IOVA;
    cmd.ioas_id = ioas;
    cmd.user_va = reinterpret_cast<uint64_t>(buf);
    cmd.length = len;
    cmd.iova = iova;
    return ioctl(IOMMU_IOAS_MAP, &cmd);
  }
  int unmap(uint32_t ioas, uint64_t iova, uint64_t len, uint64_t *unmapped = nullptr) const {
    iommu_ioas_unmap cmd = {};
    cmd.size = sizeof(cmd);
    cmd.ioas_id = ioas;
    cmd.iova = iova;
    cmd.length = len;
    int rc = ioctl(IOMMU_IOAS_UNMAP, &cmd);
    if (unmapped) *unmapped = cmd.length;
    return rc;
  }
  int copy(uint32_t dst_ioas, uint64_t dst_iova, uint32_t src_ioas, uint64_t src_iova,
           uint64_t len, bool fixed = true) const {
    iommu_ioas_copy cmd = {};
    cmd.size = sizeof(cmd);
    cmd.flags = IOMMU_IOAS_MAP_READABLE | IOMMU_IOAS_MAP_WRITEABLE |
                (fixed ? IOMMU_IOAS_MAP_FIXED_IOVA : 0);
    cmd.dst_ioas_id = dst_ioas;
    cmd.src_ioas_id = src_ioas;
    cmd.length = len;
    cmd.dst_iova = dst_iova;
    cmd.src_iova = src_iova;
    return ioctl(IOMMU_IOAS_COPY, &cmd);
  }

  // The selftest's mock device: an iommufd device attached to pt_id.
  int mock_domain(uint32_t pt_id, MockDevice *out, uint32_t dev_flags = 0) const {
    iommu_test_cmd cmd = {};
    cmd.size = sizeof(cmd);
    cmd.op = dev_flags ? IOMMU_TEST_OP_MOCK_DOMAIN_FLAGS : IOMMU_TEST_OP_MOCK_DOMAIN;
    cmd.id = pt_id;
    cmd.mock_domain_flags.dev_flags = dev_flags;
    int rc = ioctl(IOMMU_TEST_CMD, &cmd);
    if (!rc && out) {
      out->stdev_id = cmd.mock_domain.out_stdev_id;
      out->hwpt_id = cmd.mock_domain.out_hwpt_id;
      out->idev_id = cmd.mock_domain.out_idev_id;
    }
    return rc;
  }
  // The mock domain of hwpt maps [iova, iova + len) to the pages of buf.
  int check_map(uint32_t hwpt, uint64_t iova, const void *buf, uint64_t len) const {
    iommu_test_cmd cmd = {};
    cmd.size = sizeof(cmd);
    cmd.op = IOMMU_TEST_OP_MD_CHECK_MAP;
    cmd.id = hwpt;
    cmd.check_map.iova = iova;
    cmd.check_map.length = len;
    cmd.check_map.uptr = reinterpret_cast<uint64_t>(buf);
    return ioctl(IOMMU_TEST_CMD, &cmd);
  }
  // Every page of [buf, buf + len) is pinned exactly refs times.
  int check_refs(const void *buf, uint64_t len, uint32_t refs) const {
    iommu_test_cmd cmd = {};
    cmd.size = sizeof(cmd);
    cmd.op = IOMMU_TEST_OP_MD_CHECK_REFS;
    cmd.check_refs.length = len;
    cmd.check_refs.uptr = reinterpret_cast<uint64_t>(buf);
    cmd.check_refs.refs = refs;
    return ioctl(IOMMU_TEST_CMD, &cmd);
  }
  int add_reserved(uint32_t ioas, uint64_t start, uint64_t len) const {
    iommu_test_cmd cmd = {};
    cmd.size = sizeof(cmd);
    cmd.op = IOMMU_TEST_OP_ADD_RESERVED;
    cmd.id = ioas;
    cmd.add_reserved.start = start;
    cmd.add_reserved.length = len;
    return ioctl(IOMMU_TEST_CMD, &cmd);
  }
  int hwpt_alloc(uint32_t dev_id, uint32_t pt_id, uint32_t flags, uint32_t *hwpt_id,
                 uint32_t data_type = IOMMU_HWPT_DATA_NONE, void *data = nullptr,
                 uint32_t data_len = 0, uint32_t fault_id = 0) const {
    iommu_hwpt_alloc cmd = {};
    cmd.size = sizeof(cmd);
    cmd.flags = flags;
    cmd.dev_id = dev_id;
    cmd.pt_id = pt_id;
    cmd.data_type = data_type;
    cmd.data_len = data_len;
    cmd.data_uptr = reinterpret_cast<uint64_t>(data);
    cmd.fault_id = fault_id;
    int rc = ioctl(IOMMU_HWPT_ALLOC, &cmd);
    if (!rc && hwpt_id) *hwpt_id = cmd.out_hwpt_id;
    return rc;
  }

  int fd;
};

}  // namespace iommusim::test
