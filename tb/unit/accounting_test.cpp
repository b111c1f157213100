// SPDX-License-Identifier: MIT
// Pinned-page accounting against RLIMIT_MEMLOCK, in the kernel's user and mm
// modes: ENOMEM without leaking a pin, lazy pinning without a domain, the
// per-user charge shared between contexts. Each scenario runs in a child
// process because it drops CAP_IPC_LOCK (with it the kernel does not account).
#include <linux/capability.h>
#include <sys/resource.h>
#include <sys/syscall.h>

#include <cstdio>

#include "iommufd_test_util.h"

using namespace iommusim::test;

namespace {

#define CHECK_EQ(want, got)                                                              \
  do {                                                                                   \
    long w__ = (want), g__ = (got);                                                      \
    if (w__ != g__) {                                                                    \
      fprintf(stderr, "%s:%d: %s: want %ld, got %ld\n", __FILE__, __LINE__, #got, w__, g__); \
      return 1;                                                                          \
    }                                                                                    \
  } while (0)

// Drop CAP_IPC_LOCK and allow `pages` pages of locked memory.
int limit_memlock(unsigned pages) {
  struct __user_cap_header_struct hdr = {_LINUX_CAPABILITY_VERSION_3, 0};
  struct __user_cap_data_struct data[2] = {};
  if (syscall(SYS_capget, &hdr, data)) return 1;
  data[CAP_IPC_LOCK / 32].effective &= ~(1u << (CAP_IPC_LOCK % 32));
  data[CAP_IPC_LOCK / 32].permitted &= ~(1u << (CAP_IPC_LOCK % 32));
  if (syscall(SYS_capset, &hdr, data)) return 1;
  struct rlimit rl = {pages * kPage, pages * kPage};
  return setrlimit(RLIMIT_MEMLOCK, &rl) ? 1 : 0;
}

int user_mode_limits_domain_pins() {
  CHECK_EQ(0, limit_memlock(16));
  Buffer a(32 * kPage), b(kPage);
  Iommufd fd;
  uint32_t ioas = fd.ioas();
  CHECK_EQ(0, fd.mock_domain(ioas, nullptr));
  uint64_t iova = 0;
  CHECK_EQ(ENOMEM, fd.map(ioas, a.get(), 32 * kPage, &iova));
  CHECK_EQ(0, fd.check_refs(a.get(), 32 * kPage, 0));  // no pin leaked
  CHECK_EQ(0, fd.map(ioas, a.get(), 16 * kPage, &iova));
  CHECK_EQ(0, fd.check_refs(a.get(), 16 * kPage, 1));
  uint64_t iova2 = 0;
  CHECK_EQ(ENOMEM, fd.map(ioas, b.get(), kPage, &iova2));  // 17th page
  CHECK_EQ(0, fd.check_refs(b.get(), kPage, 0));
  CHECK_EQ(0, fd.unmap(ioas, iova, 16 * kPage));
  // The charge went back with the pins.
  CHECK_EQ(0, fd.map(ioas, b.get(), kPage, &iova2));
  CHECK_EQ(0, fd.map(ioas, a.get(), 15 * kPage, &iova));
  return 0;
}

int lazy_pins_are_charged_when_a_domain_arrives() {
  CHECK_EQ(0, limit_memlock(16));
  Buffer a(32 * kPage);
  Iommufd fd;
  uint32_t ioas = fd.ioas();
  // Without a domain nothing is pinned, so the limit does not apply yet.
  CHECK_EQ(0, fd.map_fixed(ioas, a.get(), 32 * kPage, MOCK_APERTURE_START));
  CHECK_EQ(0, fd.check_refs(a.get(), 32 * kPage, 0));
  // The domain must pin all 32 pages: ENOMEM, and nothing stays pinned.
  CHECK_EQ(ENOMEM, fd.mock_domain(ioas, nullptr));
  CHECK_EQ(0, fd.check_refs(a.get(), 32 * kPage, 0));
  uint64_t unmapped = 0;
  CHECK_EQ(0, fd.unmap(ioas, 0, UINT64_MAX, &unmapped));
  CHECK_EQ(static_cast<long>(32 * kPage), static_cast<long>(unmapped));
  return 0;
}

int user_mode_charge_is_per_user() {
  CHECK_EQ(0, limit_memlock(16));
  Buffer a(10 * kPage), b(10 * kPage);
  Iommufd fd1, fd2;
  uint32_t ioas1 = fd1.ioas(), ioas2 = fd2.ioas();
  CHECK_EQ(0, fd1.mock_domain(ioas1, nullptr));
  CHECK_EQ(0, fd2.mock_domain(ioas2, nullptr));
  uint64_t iova = 0;
  CHECK_EQ(0, fd1.map(ioas1, a.get(), 10 * kPage, &iova));
  CHECK_EQ(ENOMEM, fd2.map(ioas2, b.get(), 10 * kPage, &iova));
  CHECK_EQ(0, fd2.map(ioas2, b.get(), 6 * kPage, &iova));
  return 0;
}

int mm_mode_charges_the_address_space() {
  CHECK_EQ(0, limit_memlock(16));
  Buffer a(32 * kPage);
  Iommufd fd;
  iommu_option opt = {};
  opt.size = sizeof(opt);
  opt.option_id = IOMMU_OPTION_RLIMIT_MODE;
  opt.op = IOMMU_OPTION_OP_SET;
  opt.val64 = 1;
  CHECK_EQ(0, fd.ioctl(IOMMU_OPTION, &opt));
  uint32_t ioas = fd.ioas();
  CHECK_EQ(0, fd.mock_domain(ioas, nullptr));
  uint64_t iova = 0;
  CHECK_EQ(ENOMEM, fd.map(ioas, a.get(), 17 * kPage, &iova));
  CHECK_EQ(0, fd.check_refs(a.get(), 17 * kPage, 0));
  CHECK_EQ(0, fd.map(ioas, a.get(), 16 * kPage, &iova));
  return 0;
}

int with_cap_ipc_lock_nothing_is_charged() {
  struct rlimit rl = {16 * kPage, 16 * kPage};
  CHECK_EQ(0, setrlimit(RLIMIT_MEMLOCK, &rl));
  Buffer a(32 * kPage);
  Iommufd fd;
  uint32_t ioas = fd.ioas();
  CHECK_EQ(0, fd.mock_domain(ioas, nullptr));
  uint64_t iova = 0;
  CHECK_EQ(0, fd.map(ioas, a.get(), 32 * kPage, &iova));
  return 0;
}

TEST(AccountingDeathTest, UserModeLimitsDomainPins) {
  EXPECT_EXIT(exit(user_mode_limits_domain_pins()), testing::ExitedWithCode(0), "");
}
TEST(AccountingDeathTest, LazyPinsAreChargedWhenADomainArrives) {
  EXPECT_EXIT(exit(lazy_pins_are_charged_when_a_domain_arrives()), testing::ExitedWithCode(0), "");
}
TEST(AccountingDeathTest, UserModeChargeIsPerUser) {
  EXPECT_EXIT(exit(user_mode_charge_is_per_user()), testing::ExitedWithCode(0), "");
}
TEST(AccountingDeathTest, MmModeChargesTheAddressSpace) {
  EXPECT_EXIT(exit(mm_mode_charges_the_address_space()), testing::ExitedWithCode(0), "");
}
TEST(AccountingDeathTest, WithCapIpcLockNothingIsCharged) {
  if (geteuid() != 0) GTEST_SKIP() << "needs CAP_IPC_LOCK (root)";
  EXPECT_EXIT(exit(with_cap_ipc_lock_nothing_is_charged()), testing::ExitedWithCode(0), "");
}

}  // namespace
