// SPDX-License-Identifier: MIT
// I/O page fault queues (the kernel's drivers/iommu/iommufd/fault.c).
//
// A fault object collects the page-request groups that the IOMMU core hands to
// HWPTs allocated with its fault_id. User space read()s them from the fault fd
// as struct iommu_hwpt_pgfault records, one per request, a group at a time and
// never split; every group read gets a cookie, and write()ing a struct
// iommu_hwpt_page_response with that cookie answers the group to the device.
// Groups are always answered exactly once: by the user, or with INVALID when
// their handle is detached or the fault object is destroyed.
//
// Locking: fault->mutex serialises the response flow (read, write, auto
// response); fault->lock protects the deliver list and filep, and is the only
// lock the fault handler takes. fault->lock -> file::fd_lock_ (set_readable).
#include <poll.h>

#include "iommufd_private.h"
#include "log.h"

namespace iommusim::iommufd {

namespace {

class fault_file final : public file {
 public:
  explicit fault_file(iommufd_fault *f) : fault_(f) {}
  ssize_t read(uint64_t ubuf, size_t count) override;
  ssize_t write(uint64_t ubuf, size_t count) override;
  unsigned poll() override;

 protected:
  void release() override;

 private:
  iommufd_fault *fault_;
};

// The fd is readable exactly while groups wait to be read. fault->lock held.
void update_readable_locked(iommufd_fault *fault) {
  if (fault->filep) fault->filep->set_readable(!fault->deliver.empty());
}

iopf_group *deliver_fetch(iommufd_fault *fault) {
  std::lock_guard g(fault->lock);
  if (fault->deliver.empty()) return nullptr;
  iopf_group *group = fault->deliver.front();
  fault->deliver.pop_front();
  update_readable_locked(fault);
  return group;
}

// Put a group back at the head, so it is the next one read.
void deliver_restore(iommufd_fault *fault, iopf_group *group) {
  std::lock_guard g(fault->lock);
  fault->deliver.push_front(group);
  update_readable_locked(fault);
}

// The lowest free cookie >= 1 (xa_alloc over [1, U32_MAX]). fault->mutex held.
int alloc_cookie(iommufd_fault *fault, iopf_group *group) {
  uint32_t cookie = 1;
  for (auto it = fault->response.begin(); it != fault->response.end() && it->first == cookie;
       ++it) {
    if (cookie == UINT32_MAX) return -EBUSY;
    cookie++;
  }
  group->cookie = cookie;
  fault->response.emplace(cookie, group);
  return 0;
}

void compose_fault_message(const iopf_fault &iopf, iommu_hwpt_pgfault *out, iommufd_device *idev,
                           uint32_t cookie) {
  *out = {};
  out->flags = iopf.prm.flags;
  out->dev_id = idev->id;
  out->pasid = iopf.prm.pasid;
  out->grpid = iopf.prm.grpid;
  out->perm = iopf.prm.perm;
  out->addr = iopf.prm.addr;
  out->length = 0;
  out->cookie = cookie;
}

ssize_t fault_file::read(uint64_t ubuf, size_t count) {
  constexpr size_t fault_size = sizeof(iommu_hwpt_pgfault);
  if (count % fault_size) return -ESPIPE;
  iommufd_fault *fault = fault_;
  mm_struct &mm = *current().mm;
  size_t done = 0;
  int rc = 0;

  std::lock_guard g(fault->mutex);
  while (iopf_group *group = deliver_fetch(fault)) {
    size_t group_done = done;
    // Groups are never split across reads.
    if (done >= count || group->faults.size() * fault_size > count - done) {
      deliver_restore(fault, group);
      if (done == 0) rc = -EINVAL;  // the first group does not fit
      break;
    }
    rc = alloc_cookie(fault, group);
    if (rc) {
      deliver_restore(fault, group);
      break;
    }
    auto *handle = static_cast<iommufd_attach_handle *>(group->attach_handle);
    for (const iopf_fault &iopf : group->faults) {
      iommu_hwpt_pgfault data;
      compose_fault_message(iopf, &data, handle->idev, group->cookie);
      if (mm.copy_to_user(ubuf + group_done, &data, fault_size)) {
        fault->response.erase(group->cookie);
        deliver_restore(fault, group);
        rc = -EFAULT;
        break;
      }
      group_done += fault_size;
    }
    if (rc) break;
    done = group_done;
  }
  return done == 0 ? rc : static_cast<ssize_t>(done);
}

ssize_t fault_file::write(uint64_t ubuf, size_t count) {
  constexpr size_t response_size = sizeof(iommu_hwpt_page_response);
  if (count % response_size) return -ESPIPE;
  iommufd_fault *fault = fault_;
  mm_struct &mm = *current().mm;
  size_t done = 0;
  int rc = 0;

  static_assert(int(IOMMUFD_PAGE_RESP_SUCCESS) == int(iommu_page_response_code::success));
  static_assert(int(IOMMUFD_PAGE_RESP_INVALID) == int(iommu_page_response_code::invalid));
  std::lock_guard g(fault->mutex);
  while (count > done) {
    iommu_hwpt_page_response response;
    if (mm.copy_from_user(&response, ubuf + done, response_size)) {
      rc = -EFAULT;
      break;
    }
    if (response.code != IOMMUFD_PAGE_RESP_SUCCESS &&
        response.code != IOMMUFD_PAGE_RESP_INVALID) {
      rc = -EINVAL;
      break;
    }
    auto it = fault->response.find(response.cookie);
    if (it == fault->response.end()) {
      rc = -EINVAL;
      break;
    }
    iopf_group *group = it->second;
    fault->response.erase(it);
    iopf_group_response(group, static_cast<iommu_page_response_code>(response.code));
    iopf_free_group(group);
    done += response_size;
  }
  return done == 0 ? rc : static_cast<ssize_t>(done);
}

unsigned fault_file::poll() {
  unsigned mask = POLLOUT;
  std::lock_guard g(fault_->lock);
  if (!fault_->deliver.empty()) mask |= POLLIN | POLLRDNORM;
  return mask;
}

void fault_file::release() {
  iommufd_fault *fault = fault_;
  // The fault may be freed as soon as its users reference is gone.
  iommufd_ctx *ictx = fault->ictx;
  {
    std::lock_guard g(fault->lock);
    fault->filep = nullptr;
  }
  fault->users.fetch_sub(1);
  iommufd_ctx_put(ictx);
}

}  // namespace

int iommufd_fault_iopf_enable(iommufd_device *idev) {
  // (The kernel refuses PCI VFs here; simulated devices are never VFs.)
  std::lock_guard g(idev->iopf_lock);
  if (++idev->iopf_enabled > 1) return 0;  // already on for this device
  int rc = iommu_dev_enable_iopf(*idev->dev);
  if (rc) --idev->iopf_enabled;
  return rc;
}

void iommufd_fault_iopf_disable(iommufd_device *idev) {
  std::lock_guard g(idev->iopf_lock);
  if (IOMMUSIM_WARN_ON(idev->iopf_enabled == 0)) return;
  if (--idev->iopf_enabled == 0) iommu_dev_disable_iopf(*idev->dev);
}

void iommufd_auto_response_faults(iommufd_hw_pagetable *hwpt, iommufd_attach_handle *handle) {
  iommufd_fault *fault = hwpt->fault;
  if (!fault) return;
  // The handle is going away: nothing may still refer to it, read or not.
  iommu_attach_handle *h = handle;
  std::lock_guard g(fault->mutex);
  std::list<iopf_group *> free_list;
  {
    std::lock_guard dl(fault->lock);
    for (auto it = fault->deliver.begin(); it != fault->deliver.end();) {
      if ((*it)->attach_handle == h) {
        free_list.push_back(*it);
        it = fault->deliver.erase(it);
      } else {
        ++it;
      }
    }
    update_readable_locked(fault);
  }
  for (iopf_group *group : free_list) {
    iopf_group_response(group, iommu_page_response_code::invalid);
    iopf_free_group(group);
  }
  for (auto it = fault->response.begin(); it != fault->response.end();) {
    iopf_group *group = it->second;
    if (group->attach_handle != h) {
      ++it;
      continue;
    }
    it = fault->response.erase(it);
    iopf_group_response(group, iommu_page_response_code::invalid);
    iopf_free_group(group);
  }
}

void iommufd_fault::destroy() {
  // users is zero: the fd is closed and no HWPT refers to this queue, so no
  // other thread can reach it. Whatever is still pending is refused.
  for (iopf_group *group : deliver) {
    iopf_group_response(group, iommu_page_response_code::invalid);
    iopf_free_group(group);
  }
  deliver.clear();
  for (auto &[cookie, group] : response) {
    iopf_group_response(group, iommu_page_response_code::invalid);
    iopf_free_group(group);
  }
  response.clear();
}

int iommufd_fault_alloc(iommufd_ucmd *ucmd) {
  auto *cmd = static_cast<iommu_fault_alloc *>(ucmd->cmd);
  if (cmd->flags) return -EOPNOTSUPP;

  auto fault_r = iommufd_object_alloc<iommufd_fault>(ucmd->ictx);
  if (fault_r.is_err()) return fault_r.err();
  iommufd_fault *fault = fault_r.get();
  fault->ictx = ucmd->ictx;

  // The file holds a users reference on the object and a context reference
  // until it is released.
  auto *filep = new fault_file(fault);
  fault->users.fetch_add(1);
  iommufd_ctx_get(fault->ictx);
  fault->filep = filep;

  int rc;
  int fdno = fd_table::get().get_unused_fd();
  if (fdno < 0) {
    rc = fdno;
    goto out_abort;
  }
  cmd->out_fault_id = fault->id;
  cmd->out_fault_fd = static_cast<uint32_t>(fdno);
  rc = iommufd_ucmd_respond(ucmd, sizeof(*cmd));
  if (rc) goto out_put_fdno;
  iommufd_object_finalize(ucmd->ictx, fault);
  fd_table::get().fd_install(fdno, filep);
  return 0;

out_put_fdno:
  fd_table::get().put_unused_fd(fdno);
out_abort:
  // Closes filep (owned_file()), which drops its references, then destroys.
  iommufd_object_abort_and_destroy(ucmd->ictx, fault);
  return rc;
}

int iommufd_fault_iopf_handler(iopf_group *group) {
  auto *hwpt = static_cast<iommufd_hw_pagetable *>(group->attach_handle->domain->fault_data);
  iommufd_fault *fault = hwpt->fault;
  {
    std::lock_guard g(fault->lock);
    fault->deliver.push_back(group);
    update_readable_locked(fault);
  }
  fault->wait_queue.notify_all();
  return 0;
}

}  // namespace iommusim::iommufd
