// SPDX-License-Identifier: MIT
// IOMMU_TEST_CMD: the selftest device of iommufd (the kernel's iommufd_test()
// in drivers/iommu/iommufd/selftest.c). It creates mock devices bound to the
// context, looks inside mock domains, pins pages through an in-kernel access
// and triggers page faults, so tools/testing/selftests/iommu can check the
// core from user space. Validation order, errnos and responses are the
// kernel's, function by function.
#include <list>
#include <new>
#include <vector>

#include "drivers/mock/mock_iommu.h"
#include "iommufd_private.h"
#include "iommusim/iommufd_test.h"
#include "log.h"

namespace iommusim::iommufd {

std::atomic<size_t> iommufd_test_memory_limit{65536};

namespace {

constexpr uint64_t SZ_16M = 16ULL << 20;

// --- syzkaller IOVA conversion ---

// In syzkaller mode the 64-bit IOVA is really {u32 nth_area; u32 offset}: the
// fuzzer cannot guess IOVAs that MAP chose, but it can count areas.
uint64_t syz_conv_iova(io_pagetable *iopt, uint64_t iova) {
  const uint32_t nth_area = static_cast<uint32_t>(iova);
  const uint32_t offset = static_cast<uint32_t>(iova >> 32);
  std::shared_lock g(iopt->iova_rwsem);
  uint32_t nth = nth_area;
  for (iopt_area *area = iopt_area_iter_first(iopt, 0, UINT64_MAX); area;
       area = iopt_area_iter_next(area, 0, UINT64_MAX)) {
    if (nth == 0) return iopt_area_iova(area) + offset;
    nth--;
  }
  return 0;
}

uint64_t syz_conv_iova_access(iommufd_access *access, uint64_t iova) {
  std::lock_guard g(access->ioas_lock);
  if (!access->ioas) return 0;
  return syz_conv_iova(&access->ioas->iopt, iova);
}

// --- the selftest object: a mock device bound and attached ---

struct selftest_obj final : public iommufd_object {
  selftest_obj() : iommufd_object(iommufd_object_type::selftest) {}
  void destroy() override;
  iommufd_ctx *ictx = nullptr;
  iommufd_device *idev = nullptr;
  mock_device *mdev = nullptr;
};

void selftest_obj::destroy() {
  {
    std::unique_lock g(mdev->iopf_rwsem);
    iommufd_device_detach(idev);
  }
  iommufd_device_unbind(idev);
  mock_dev_destroy(mdev);
}

int test_mock_domain(iommufd_ucmd *ucmd, iommu_test_cmd *cmd) {
  uint32_t pt_id = cmd->id;
  auto sobj_r = iommufd_object_alloc<selftest_obj>(ucmd->ictx);
  if (sobj_r.is_err()) return sobj_r.err();
  selftest_obj *sobj = sobj_r.get();
  sobj->ictx = ucmd->ictx;

  uint32_t dev_flags = 0;
  if (cmd->op == IOMMU_TEST_OP_MOCK_DOMAIN_FLAGS) dev_flags = cmd->mock_domain_flags.dev_flags;

  int rc;
  uint32_t idev_id = 0;
  auto mdev = mock_dev_create(dev_flags);
  if (mdev.is_err()) {
    rc = mdev.err();
    goto out_sobj;
  }
  sobj->mdev = mdev.get();
  {
    auto idev = iommufd_device_bind(ucmd->ictx, sobj->mdev, &idev_id);
    if (idev.is_err()) {
      rc = idev.err();
      goto out_mdev;
    }
    sobj->idev = idev.get();
  }
  {
    std::unique_lock g(sobj->mdev->iopf_rwsem);
    rc = iommufd_device_attach(sobj->idev, &pt_id);
  }
  if (rc) goto out_unbind;

  // The user destroys the selftest object (out_stdev_id) to undo all of this.
  cmd->mock_domain.out_hwpt_id = pt_id;
  cmd->mock_domain.out_stdev_id = sobj->id;
  cmd->mock_domain.out_idev_id = idev_id;
  rc = iommufd_ucmd_respond(ucmd, sizeof(*cmd));
  if (rc) goto out_detach;
  iommufd_object_finalize(ucmd->ictx, sobj);
  return 0;

out_detach:
  {
    std::unique_lock g(sobj->mdev->iopf_rwsem);
    iommufd_device_detach(sobj->idev);
  }
out_unbind:
  iommufd_device_unbind(sobj->idev);
out_mdev:
  mock_dev_destroy(sobj->mdev);
out_sobj:
  iommufd_object_abort(ucmd->ictx, sobj);
  return rc;
}

int test_mock_domain_replace(iommufd_ucmd *ucmd, uint32_t device_id, uint32_t pt_id,
                             iommu_test_cmd *cmd) {
  // The selftest object, not the device: holding it keeps a concurrent
  // DESTROY (and so a detach) out while we replace.
  auto obj = iommufd_get_object(ucmd->ictx, device_id, iommufd_object_type::selftest);
  if (obj.is_err()) return obj.err();
  auto *sobj = static_cast<selftest_obj *>(obj.get());
  int rc;
  {
    std::unique_lock g(sobj->mdev->iopf_rwsem);
    rc = iommufd_device_replace(sobj->idev, &pt_id);
  }
  if (!rc) {
    cmd->mock_domain_replace.pt_id = pt_id;
    rc = iommufd_ucmd_respond(ucmd, sizeof(*cmd));
  }
  iommufd_put_object(ucmd->ictx, obj.get());
  return rc;
}

// --- IOAS and mock domain inspection ---

int test_add_reserved(iommufd_ucmd *ucmd, uint32_t mockpt_id, uint64_t start, uint64_t length) {
  if (!length) return -EINVAL;
  uint64_t last;
  if (check_add_overflow<uint64_t>(start, length - 1, &last)) return -EOVERFLOW;
  auto ioas = iommufd_get_ioas(ucmd->ictx, mockpt_id);
  if (ioas.is_err()) return ioas.err();
  int rc;
  {
    std::unique_lock g(ioas->iopt.iova_rwsem);
    rc = iopt_reserve_iova(&ioas->iopt, start, last, nullptr);
  }
  iommufd_put_object(ucmd->ictx, ioas.get());
  return rc;
}

// A paging HWPT whose domain is a mock domain; -EINVAL for any other domain.
err_or<iommufd_hw_pagetable> get_md_pagetable(iommufd_ucmd *ucmd, uint32_t id,
                                              mock_iommu_domain **mock) {
  auto hwpt = iommufd_get<iommufd_hw_pagetable>(ucmd->ictx, id, iommufd_object_type::hwpt_paging);
  if (hwpt.is_err()) return hwpt;
  auto *m = dynamic_cast<mock_iommu_domain *>(hwpt->domain);
  if (!m || hwpt->domain->type != iommu_domain_type::paging) {
    iommufd_put_object(ucmd->ictx, hwpt.get());
    return err_or<iommufd_hw_pagetable>::error(-EINVAL);
  }
  *mock = m;
  return hwpt;
}

err_or<iommufd_hw_pagetable> get_md_pagetable_nested(iommufd_ucmd *ucmd, uint32_t id,
                                                     mock_iommu_domain_nested **mock) {
  auto hwpt = iommufd_get<iommufd_hw_pagetable>(ucmd->ictx, id, iommufd_object_type::hwpt_nested);
  if (hwpt.is_err()) return hwpt;
  auto *m = dynamic_cast<mock_iommu_domain_nested *>(hwpt->domain);
  if (!m || hwpt->domain->type != iommu_domain_type::nested) {
    iommufd_put_object(ucmd->ictx, hwpt.get());
    return err_or<iommufd_hw_pagetable>::error(-EINVAL);
  }
  *mock = m;
  return hwpt;
}

// get_user_pages_fast() of the pages of [uptr, uptr + length): faults them in
// and fails with -EFAULT at the first one that is not mapped. One madvise for
// the whole range; page by page only to find where a failure starts.
class user_pages_checker {
 public:
  user_pages_checker(mm_struct &mm, uint64_t uptr, uint64_t length)
      : mm_(mm), all_ok_(length && mm.fault_in(uptr, length, false) == 0) {}
  int check(uint64_t uaddr) {
    if (all_ok_) return 0;
    return mm_.fault_in(align_down(uaddr, PAGE_SIZE), PAGE_SIZE, false);
  }

 private:
  mm_struct &mm_;
  bool all_ok_;
};

// Every 2 KiB of IOVA must translate to the frame under the same offset of
// the user's buffer.
int test_md_check_pa(iommufd_ucmd *ucmd, uint32_t mockpt_id, uint64_t iova, uint64_t length,
                     uint64_t uptr) {
  uint64_t end;
  if (iova % MOCK_IO_PAGE_SIZE || length % MOCK_IO_PAGE_SIZE || uptr % MOCK_IO_PAGE_SIZE ||
      check_add_overflow<uint64_t>(uptr, length, &end))
    return -EINVAL;
  mock_iommu_domain *mock;
  auto hwpt = get_md_pagetable(ucmd, mockpt_id, &mock);
  if (hwpt.is_err()) return hwpt.err();

  mm_struct &mm = *current().mm;
  user_pages_checker gup(mm, uptr, length);
  int rc = 0;
  for (; length; length -= MOCK_IO_PAGE_SIZE) {
    rc = gup.check(uptr);
    if (rc) break;
    pfn_t pfn = 0;
    // A page without a frame is pinned by nobody, so nothing can map it.
    const bool have_frame = host_memory::get().lookup_pfn(mm, uptr & PAGE_MASK, &pfn);
    const uint64_t ent = mock->entry(iova);
    if (!ent || !have_frame ||
        (ent & MOCK_PFN_MASK) * MOCK_IO_PAGE_SIZE != pfn * PAGE_SIZE + uptr % PAGE_SIZE) {
      rc = -EINVAL;
      break;
    }
    iova += MOCK_IO_PAGE_SIZE;
    uptr += MOCK_IO_PAGE_SIZE;
  }
  iommufd_put_object(ucmd->ictx, hwpt.get());
  return rc;
}

// The pin count of every page of the buffer must be refs. The kernel skips
// compound pages because their count is shared; ours are exact per page.
int test_md_check_refs(uint64_t uptr, uint64_t length, unsigned refs) {
  uint64_t end;
  if (length % PAGE_SIZE || uptr % PAGE_SIZE || check_add_overflow<uint64_t>(uptr, length, &end))
    return -EINVAL;
  mm_struct &mm = *current().mm;
  user_pages_checker gup(mm, uptr, length);
  for (; length; length -= PAGE_SIZE) {
    if (int rc = gup.check(uptr)) return rc;
    pfn_t pfn;
    unsigned count = 0;
    if (host_memory::get().lookup_pfn(mm, uptr, &pfn)) count = host_memory::get().pin_count(pfn);
    if (count != refs) return -EIO;
    uptr += PAGE_SIZE;
  }
  return 0;
}

int test_md_check_iotlb(iommufd_ucmd *ucmd, uint32_t mockpt_id, unsigned iotlb_id,
                        uint32_t iotlb) {
  mock_iommu_domain_nested *mock_nested;
  auto hwpt = get_md_pagetable_nested(ucmd, mockpt_id, &mock_nested);
  if (hwpt.is_err()) return hwpt.err();
  int rc = 0;
  if (iotlb_id > MOCK_NESTED_DOMAIN_IOTLB_ID_MAX || mock_nested->iotlb(iotlb_id) != iotlb)
    rc = -EINVAL;
  iommufd_put_object(ucmd->ictx, hwpt.get());
  return rc;
}

// --- access fds: an in-kernel access driven from user space ---

struct selftest_access_item {
  uint64_t iova;
  uint64_t length;
  unsigned id;
};

class staccess_file final : public file {
 public:
  iommufd_access *access = nullptr;  // set once the fd is installed
  std::mutex lock;                   // items, next_id, and pin vs unmap
  std::list<selftest_access_item> items;
  unsigned next_id = 0;

 protected:
  void release() override;
};

// The access's unmap callback: drop every pin that overlaps the range.
void staccess_unmap(void *data, uint64_t iova, uint64_t length) {
  auto *staccess = static_cast<staccess_file *>(data);
  const uint64_t iova_last = iova + length - 1;
  std::lock_guard g(staccess->lock);
  for (auto it = staccess->items.begin(); it != staccess->items.end();) {
    if (iova > it->iova + it->length - 1 || iova_last < it->iova) {
      ++it;
      continue;
    }
    iommufd_access_unpin_pages(staccess->access, it->iova, it->length);
    it = staccess->items.erase(it);
  }
}

void staccess_file::release() {
  if (access) {
    staccess_unmap(this, 0, UINT64_MAX);
    iommufd_access_destroy(access);
  }
}

const iommufd_access_ops selftest_access_ops_pin = {true, staccess_unmap};
const iommufd_access_ops selftest_access_ops = {false, staccess_unmap};

// The access fd behind fd with a file reference, or -EBADFD.
err_or<staccess_file> staccess_get(int fd) {
  file *f = fd_table::get().fget(fd);
  if (!f) return err_or<staccess_file>::error(-EBADFD);
  auto *staccess = dynamic_cast<staccess_file *>(f);
  if (!staccess) {
    f->put();
    return err_or<staccess_file>::error(-EBADFD);
  }
  return staccess;
}

int test_access_item_destroy(uint32_t access_fd, unsigned item_id) {
  auto staccess = staccess_get(static_cast<int>(access_fd));
  if (staccess.is_err()) return staccess.err();
  int rc = -ENOENT;
  {
    std::lock_guard g(staccess->lock);
    for (auto it = staccess->items.begin(); it != staccess->items.end(); ++it) {
      if (it->id != item_id) continue;
      iommufd_access_unpin_pages(staccess->access, it->iova, it->length);
      staccess->items.erase(it);
      rc = 0;
      break;
    }
  }
  staccess->put();
  return rc;
}

int test_create_access(iommufd_ucmd *ucmd, uint32_t ioas_id, uint32_t flags) {
  auto *cmd = static_cast<iommu_test_cmd *>(ucmd->cmd);
  if (flags & ~uint32_t(MOCK_FLAGS_ACCESS_CREATE_NEEDS_PIN_PAGES)) return -EOPNOTSUPP;

  auto *staccess = new (std::nothrow) staccess_file();
  if (!staccess) return -ENOMEM;
  int rc;
  uint32_t id;
  iommufd_access *access = nullptr;
  int fdno = fd_table::get().get_unused_fd();
  if (fdno < 0) {
    rc = -ENOMEM;
    goto out_free_staccess;
  }
  {
    auto a = iommufd_access_create(ucmd->ictx,
                                   (flags & MOCK_FLAGS_ACCESS_CREATE_NEEDS_PIN_PAGES)
                                       ? &selftest_access_ops_pin
                                       : &selftest_access_ops,
                                   staccess, &id);
    if (a.is_err()) {
      rc = a.err();
      goto out_put_fdno;
    }
    access = a.get();
  }
  rc = iommufd_access_attach(access, ioas_id);
  if (rc) goto out_destroy;
  cmd->create_access.out_access_fd = static_cast<uint32_t>(fdno);
  rc = iommufd_ucmd_respond(ucmd, sizeof(*cmd));
  if (rc) goto out_destroy;

  staccess->access = access;
  fd_table::get().fd_install(fdno, staccess);
  return 0;

out_destroy:
  iommufd_access_destroy(access);
out_put_fdno:
  fd_table::get().put_unused_fd(fdno);
out_free_staccess:
  staccess->put();  // access is still unset: release has nothing to undo
  return rc;
}

int test_access_replace_ioas(uint32_t access_fd, uint32_t ioas_id) {
  auto staccess = staccess_get(static_cast<int>(access_fd));
  if (staccess.is_err()) return staccess.err();
  int rc = iommufd_access_replace(staccess->access, ioas_id);
  staccess->put();
  return rc;
}

// The pinned frames must be the frames under the user's buffer.
int test_check_pages(uint64_t uptr, const pfn_t *pages, size_t npages) {
  mm_struct &mm = *current().mm;
  user_pages_checker gup(mm, uptr, npages * PAGE_SIZE);
  for (; npages; npages--) {
    if (int rc = gup.check(uptr)) return rc;
    pfn_t pfn;
    if (!host_memory::get().lookup_pfn(mm, uptr, &pfn) || pfn != *pages) return -EBADE;
    pages++;
    uptr += PAGE_SIZE;
  }
  return 0;
}

int test_access_pages(iommufd_ucmd *ucmd, uint32_t access_fd, uint64_t iova, uint64_t length,
                      uint64_t uptr, uint32_t flags) {
  auto *cmd = static_cast<iommu_test_cmd *>(ucmd->cmd);
  // Mirrors the kernel's guard against giant kvzalloc()s.
  if (length > SZ_16M) return -ENOMEM;
  if (flags & ~uint32_t(MOCK_FLAGS_ACCESS_WRITE | MOCK_FLAGS_ACCESS_SYZ)) return -EOPNOTSUPP;

  auto staccess_r = staccess_get(static_cast<int>(access_fd));
  if (staccess_r.is_err()) return staccess_r.err();
  staccess_file *staccess = staccess_r.get();
  int rc;
  if (staccess->access->ops != &selftest_access_ops_pin) {
    rc = -EOPNOTSUPP;
  } else {
    if (flags & MOCK_FLAGS_ACCESS_SYZ)
      iova = syz_conv_iova_access(staccess->access, cmd->access_pages.iova);

    // Computed before pinning, as the kernel sizes its page array; a range
    // that wraps gives an absurd count that the allocation refuses.
    const uint64_t npages =
        (align_up(iova + length, PAGE_SIZE) - align_down(iova, PAGE_SIZE)) / PAGE_SIZE;
    std::vector<pfn_t> pages;
    if (npages > SZ_16M / PAGE_SIZE + 2) {
      rc = -ENOMEM;
    } else {
      pages.resize(npages);
      // Pin and record under one lock so the unmap callback sees either
      // nothing or the finished item (a driver must not let an unmap return
      // while it still holds pins in the range).
      std::lock_guard g(staccess->lock);
      rc = iommufd_access_pin_pages(staccess->access, iova, length, pages.data(),
                                    flags & MOCK_FLAGS_ACCESS_WRITE);
      if (!rc) {
        // A null uptr (syzkaller) skips the check.
        if (uptr) rc = test_check_pages(uptr - (iova - align_down(iova, PAGE_SIZE)),
                                        pages.data(), npages);
        if (!rc) {
          staccess->items.push_back({iova, length, staccess->next_id++});
          cmd->access_pages.out_access_pages_id = staccess->items.back().id;
          rc = iommufd_ucmd_respond(ucmd, sizeof(*cmd));
          if (rc) staccess->items.pop_back();
        }
        if (rc) iommufd_access_unpin_pages(staccess->access, iova, length);
      }
    }
  }
  staccess->put();
  return rc;
}

int test_access_rw(iommufd_ucmd *ucmd, uint32_t access_fd, uint64_t iova, uint64_t length,
                   uint64_t ubuf, uint32_t flags) {
  auto *cmd = static_cast<iommu_test_cmd *>(ucmd->cmd);
  if (length > SZ_16M) return -ENOMEM;
  if (flags & ~uint32_t(MOCK_ACCESS_RW_WRITE | MOCK_ACCESS_RW_SLOW_PATH | MOCK_FLAGS_ACCESS_SYZ))
    return -EOPNOTSUPP;

  auto staccess = staccess_get(static_cast<int>(access_fd));
  if (staccess.is_err()) return staccess.err();
  mm_struct &mm = *current().mm;
  std::vector<uint8_t> tmp(length);
  int rc = 0;
  if ((flags & MOCK_ACCESS_RW_WRITE) && mm.copy_from_user(tmp.data(), ubuf, length)) rc = -EFAULT;
  if (!rc) {
    if (flags & MOCK_FLAGS_ACCESS_SYZ)
      iova = syz_conv_iova_access(staccess->access, cmd->access_rw.iova);
    rc = iommufd_access_rw(staccess->access, iova, tmp.data(), length, flags);
    if (!rc && !(flags & MOCK_ACCESS_RW_WRITE) && mm.copy_to_user(ubuf, tmp.data(), length))
      rc = -EFAULT;
  }
  staccess->put();
  return rc;
}
static_assert(unsigned(MOCK_ACCESS_RW_WRITE) == IOMMUFD_ACCESS_RW_WRITE);
static_assert(unsigned(MOCK_ACCESS_RW_SLOW_PATH) == IOMMUFD_ACCESS_RW_SLOW_PATH);

// Mark the entries whose bits are set in the user's bitmap dirty, as if DMA
// had written them.
int test_dirty(iommufd_ucmd *ucmd, uint32_t mockpt_id, uint64_t iova, uint64_t length,
               uint64_t page_size, uint64_t uptr) {
  auto *cmd = static_cast<iommu_test_cmd *>(ucmd->cmd);
  if (!page_size || !length || iova % page_size || length % page_size || !uptr) return -EINVAL;
  const uint64_t max = length / page_size;
  if (max > SZ_16M * 8) return -EOVERFLOW;

  mock_iommu_domain *mock;
  auto hwpt = get_md_pagetable(ucmd, mockpt_id, &mock);
  if (hwpt.is_err()) return hwpt.err();
  int rc = 0;
  if (!mock->dirty_tracking()) {
    rc = -EINVAL;
  } else {
    std::vector<uint8_t> bits(div_round_up(max, 8));
    if (current().mm->copy_from_user(bits.data(), uptr, bits.size())) {
      rc = -EFAULT;
    } else {
      uint64_t count = 0;
      for (uint64_t i = 0; i < max; i++) {
        if (!(bits[i / 8] & (1u << (i % 8)))) continue;
        // The kernel indexes the table by cur / page_size here, not by
        // MOCK_IO_PAGE_SIZE; the selftest always passes the mock page size.
        const uint64_t cur = iova + i * page_size;
        if (mock->set_dirty_at(cur / page_size)) count++;
      }
      cmd->dirty.out_nr_dirty = count;
      rc = iommufd_ucmd_respond(ucmd, sizeof(*cmd));
    }
  }
  iommufd_put_object(ucmd->ictx, hwpt.get());
  return rc;
}

int test_trigger_iopf(iommufd_ucmd *ucmd, iommu_test_cmd *cmd) {
  auto idev = iommufd_get_device(ucmd, cmd->trigger_iopf.dev_id);
  if (idev.is_err()) return idev.err();
  mock_device *mdev = to_mock_device(idev->dev);
  if (!mdev) {
    iommufd_put_object(ucmd->ictx, idev.get());
    return -EINVAL;
  }
  iopf_fault event;
  event.prm.flags = IOMMU_FAULT_PAGE_REQUEST_LAST_PAGE;
  if (cmd->trigger_iopf.pasid != IOMMU_NO_PASID)
    event.prm.flags |= IOMMU_FAULT_PAGE_REQUEST_PASID_VALID;
  event.prm.addr = cmd->trigger_iopf.addr;
  event.prm.pasid = cmd->trigger_iopf.pasid;
  event.prm.grpid = cmd->trigger_iopf.grpid;
  event.prm.perm = cmd->trigger_iopf.perm;
  {
    std::shared_lock g(mdev->iopf_rwsem);
    iommu_report_device_fault(*mdev, event);
  }
  iommufd_put_object(ucmd->ictx, idev.get());
  return 0;
}

}  // namespace

uint64_t iommufd_test_syz_conv_iova_id(iommufd_ucmd *ucmd, uint32_t ioas_id, uint64_t iova,
                                       uint32_t *flags) {
  if (!(*flags & MOCK_FLAGS_ACCESS_SYZ)) return iova;
  *flags &= ~uint32_t(MOCK_FLAGS_ACCESS_SYZ);
  auto ioas = iommufd_get_ioas(ucmd->ictx, ioas_id);
  if (ioas.is_err()) return iova;
  iova = syz_conv_iova(&ioas->iopt, iova);
  iommufd_put_object(ucmd->ictx, ioas.get());
  return iova;
}

int iommufd_test(iommufd_ucmd *ucmd) {
  auto *cmd = static_cast<iommu_test_cmd *>(ucmd->cmd);
  switch (cmd->op) {
    case IOMMU_TEST_OP_ADD_RESERVED:
      return test_add_reserved(ucmd, cmd->id, cmd->add_reserved.start, cmd->add_reserved.length);
    case IOMMU_TEST_OP_MOCK_DOMAIN:
    case IOMMU_TEST_OP_MOCK_DOMAIN_FLAGS:
      return test_mock_domain(ucmd, cmd);
    case IOMMU_TEST_OP_MOCK_DOMAIN_REPLACE:
      return test_mock_domain_replace(ucmd, cmd->id, cmd->mock_domain_replace.pt_id, cmd);
    case IOMMU_TEST_OP_MD_CHECK_MAP:
      return test_md_check_pa(ucmd, cmd->id, cmd->check_map.iova, cmd->check_map.length,
                              cmd->check_map.uptr);
    case IOMMU_TEST_OP_MD_CHECK_REFS:
      return test_md_check_refs(cmd->check_refs.uptr, cmd->check_refs.length,
                                cmd->check_refs.refs);
    case IOMMU_TEST_OP_MD_CHECK_IOTLB:
      return test_md_check_iotlb(ucmd, cmd->id, cmd->check_iotlb.id, cmd->check_iotlb.iotlb);
    case IOMMU_TEST_OP_CREATE_ACCESS:
      return test_create_access(ucmd, cmd->id, cmd->create_access.flags);
    case IOMMU_TEST_OP_ACCESS_REPLACE_IOAS:
      return test_access_replace_ioas(cmd->id, cmd->access_replace_ioas.ioas_id);
    case IOMMU_TEST_OP_ACCESS_PAGES:
      return test_access_pages(ucmd, cmd->id, cmd->access_pages.iova, cmd->access_pages.length,
                               cmd->access_pages.uptr, cmd->access_pages.flags);
    case IOMMU_TEST_OP_ACCESS_RW:
      return test_access_rw(ucmd, cmd->id, cmd->access_rw.iova, cmd->access_rw.length,
                            cmd->access_rw.uptr, cmd->access_rw.flags);
    case IOMMU_TEST_OP_DESTROY_ACCESS_PAGES:
      return test_access_item_destroy(cmd->id, cmd->destroy_access_pages.access_pages_id);
    case IOMMU_TEST_OP_SET_TEMP_MEMORY_LIMIT:
      // A PFN batch needs room for at least one element (a pfn and a count).
      if (cmd->memory_limit.limit < sizeof(unsigned long) + sizeof(uint32_t)) return -EINVAL;
      iommufd_test_memory_limit = cmd->memory_limit.limit;
      return 0;
    case IOMMU_TEST_OP_DIRTY:
      return test_dirty(ucmd, cmd->id, cmd->dirty.iova, cmd->dirty.length, cmd->dirty.page_size,
                        cmd->dirty.uptr);
    case IOMMU_TEST_OP_TRIGGER_IOPF:
      return test_trigger_iopf(ucmd, cmd);
    default:
      return -EOPNOTSUPP;
  }
}

}  // namespace iommusim::iommufd
