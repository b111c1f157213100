// SPDX-License-Identifier: MIT
// The VFIO type1/type1v2 container ioctls on an iommufd (the kernel's
// vfio_compat.c): they act on the "compat IOAS" chosen with IOMMU_VFIO_IOAS.
#include <linux/vfio.h>

#include <algorithm>

#include "iommufd_private.h"
#include "log.h"

namespace iommusim::iommufd {

namespace {

err_or<iommufd_ioas> get_compat_ioas(iommufd_ctx *ictx) {
  std::lock_guard g(ictx->objects_lock);
  if (!ictx->vfio_ioas || !iommufd_lock_obj(ictx->vfio_ioas))
    return err_or<iommufd_ioas>::error(-ENODEV);
  return ictx->vfio_ioas;
}

}  // namespace

int iommufd_vfio_compat_ioas_get_id(iommufd_ctx *ictx, uint32_t *out_ioas_id) {
  auto ioas = get_compat_ioas(ictx);
  if (ioas.is_err()) return ioas.err();
  *out_ioas_id = ioas->id;
  iommufd_put_object(ictx, ioas.get());
  return 0;
}

int iommufd_vfio_compat_ioas_create(iommufd_ctx *ictx) {
  auto ioas = iommufd_ioas_alloc(ictx);
  if (ioas.is_err()) return ioas.err();
  {
    std::unique_lock g(ictx->objects_lock);
    int rc = 0;
    bool exists = false;
    if (ictx->no_iommu_mode) {
      rc = -EINVAL;  // a container is either IOMMU-backed or no-IOMMU
    } else if (ictx->vfio_ioas && iommufd_lock_obj(ictx->vfio_ioas)) {
      exists = true;
      ictx->vfio_ioas->users.fetch_sub(1);
      ictx->vfio_ioas->shortterm_users.fetch_sub(1);
    }
    if (rc || exists) {
      g.unlock();
      iommufd_object_abort(ictx, ioas.get());
      return rc;
    }
    ictx->vfio_ioas = ioas.get();
  }
  // Treated as a user-created object: destroyed by IOMMU_DESTROY or at close.
  iommufd_object_finalize(ictx, ioas.get());
  return 0;
}

int iommufd_vfio_ioas(iommufd_ucmd *ucmd) {
  auto *cmd = static_cast<iommu_vfio_ioas *>(ucmd->cmd);
  if (cmd->__reserved) return -EOPNOTSUPP;
  switch (cmd->op) {
    case IOMMU_VFIO_IOAS_GET: {
      auto ioas = get_compat_ioas(ucmd->ictx);
      if (ioas.is_err()) return ioas.err();
      cmd->ioas_id = ioas->id;
      iommufd_put_object(ucmd->ictx, ioas.get());
      return iommufd_ucmd_respond(ucmd, sizeof(*cmd));
    }
    case IOMMU_VFIO_IOAS_SET: {
      auto ioas = iommufd_get_ioas(ucmd->ictx, cmd->ioas_id);
      if (ioas.is_err()) return ioas.err();
      {
        std::lock_guard g(ucmd->ictx->objects_lock);
        ucmd->ictx->vfio_ioas = ioas.get();
      }
      iommufd_put_object(ucmd->ictx, ioas.get());
      return 0;
    }
    case IOMMU_VFIO_IOAS_CLEAR: {
      std::lock_guard g(ucmd->ictx->objects_lock);
      ucmd->ictx->vfio_ioas = nullptr;
      return 0;
    }
    default:
      return -EOPNOTSUPP;
  }
}

namespace {

int vfio_map_dma(iommufd_ctx *ictx, uint64_t arg) {
  const uint32_t supported = VFIO_DMA_MAP_FLAG_READ | VFIO_DMA_MAP_FLAG_WRITE;
  const size_t minsz = IOMMUSIM_OFFSETOFEND(vfio_iommu_type1_dma_map, size);
  vfio_iommu_type1_dma_map map;
  if (current().mm->copy_from_user(&map, arg, minsz)) return -EFAULT;
  if (map.argsz < minsz || (map.flags & ~supported)) return -EINVAL;
  int prot = IOMMU_CACHE;
  if (map.flags & VFIO_DMA_MAP_FLAG_READ) prot |= IOMMU_READ;
  if (map.flags & VFIO_DMA_MAP_FLAG_WRITE) prot |= IOMMU_WRITE;

  auto ioas = get_compat_ioas(ictx);
  if (ioas.is_err()) return ioas.err();
  // Legacy maps always account like VFIO; the faster per-user accounting is
  // for the native interface.
  uint64_t iova = map.iova;
  int rc = iopt_map_user_pages(ictx, &ioas->iopt, &iova, map.vaddr, map.size, prot, 0);
  iommufd_put_object(ictx, ioas.get());
  return rc;
}

int vfio_unmap_dma(iommufd_ctx *ictx, uint64_t arg) {
  const size_t minsz = IOMMUSIM_OFFSETOFEND(vfio_iommu_type1_dma_unmap, size);
  // The dirty-bitmap flag is obsolete: iommufd's dirty tracking replaced it.
  const uint32_t supported = VFIO_DMA_UNMAP_FLAG_ALL;
  vfio_iommu_type1_dma_unmap unmap;
  mm_struct &mm = *current().mm;
  if (mm.copy_from_user(&unmap, arg, minsz)) return -EFAULT;
  if (unmap.argsz < minsz || (unmap.flags & ~supported)) return -EINVAL;

  auto ioas = get_compat_ioas(ictx);
  if (ioas.is_err()) return ioas.err();
  uint64_t unmapped = 0;
  int rc;
  if (unmap.flags & VFIO_DMA_UNMAP_FLAG_ALL) {
    if (unmap.iova != 0 || unmap.size != 0) {
      iommufd_put_object(ictx, ioas.get());
      return -EINVAL;
    }
    rc = iopt_unmap_all(&ioas->iopt, &unmapped);
  } else {
    rc = 0;
    if (ioas->iopt.disable_large_pages) {
      // Type1 may unmap part of a mapping: cut the areas at both ends first
      // (no cut is needed before IOVA 0).
      const uint64_t iovas[] = {unmap.iova + unmap.size - 1, unmap.iova - 1};
      rc = iopt_cut_iova(&ioas->iopt, iovas, unmap.iova ? 2 : 1);
    }
    if (!rc) rc = iopt_unmap_iova(&ioas->iopt, unmap.iova, unmap.size, &unmapped);
    else {
      iommufd_put_object(ictx, ioas.get());
      return rc;
    }
  }
  unmap.size = unmapped;
  if (mm.copy_to_user(arg, &unmap, minsz)) rc = -EFAULT;
  iommufd_put_object(ictx, ioas.get());
  return rc;
}

int vfio_cc_iommu(iommufd_ctx *ictx) {
  auto ioas = get_compat_ioas(ictx);
  if (ioas.is_err()) return ioas.err();
  int rc = 1;
  {
    std::lock_guard g(ioas->mutex);
    for (iommufd_hwpt_paging *h : ioas->hwpt_list)
      if (!h->enforce_cache_coherency) {
        rc = 0;
        break;
      }
  }
  iommufd_put_object(ictx, ioas.get());
  return rc;
}

int vfio_check_extension(iommufd_ctx *ictx, unsigned long type) {
  switch (type) {
    case VFIO_TYPE1_IOMMU:
    case VFIO_TYPE1v2_IOMMU:
    case VFIO_UNMAP_ALL:
      return !ictx->no_iommu_mode;
    case VFIO_NOIOMMU_IOMMU:
      return 0;  // the simulator has no no-IOMMU mode
    case VFIO_DMA_CC_IOMMU:
      return vfio_cc_iommu(ictx);
    case VFIO_TYPE1_NESTING_IOMMU:  // an obsolete idea: never supported
    case VFIO_UPDATE_VADDR:         // not safely implementable
    default:
      return 0;
  }
}

int vfio_set_iommu(iommufd_ctx *ictx, unsigned long type) {
  if ((type != VFIO_TYPE1_IOMMU && type != VFIO_TYPE1v2_IOMMU) || ictx->no_iommu_mode)
    return -EINVAL;
  // VFIO fails SET_IOMMU when no group is attached.
  auto ioas = get_compat_ioas(ictx);
  if (ioas.is_err()) return ioas.err();
  // Type1 (not v2) can unmap inside a mapping, which large IOPTEs forbid:
  // emulate it by using only PAGE_SIZE IOPTEs.
  int rc = type == VFIO_TYPE1_IOMMU ? iopt_disable_large_pages(&ioas->iopt) : 0;
  iommufd_put_object(ictx, ioas.get());
  return rc;
}

uint64_t get_pagesizes(iommufd_ioas *ioas) {
  io_pagetable *iopt = &ioas->iopt;
  std::shared_lock g(iopt->domains_rwsem);
  uint64_t pgsizes = UINT64_MAX;
  for (iommu_domain *d : iopt->domains) pgsizes &= d->pgsize_bitmap;
  // As VFIO reports it: sub-page sizes collapse into PAGE_SIZE.
  if (pgsizes & ~PAGE_MASK) {
    pgsizes &= PAGE_MASK;
    pgsizes |= PAGE_SIZE;
  }
  return std::max<uint64_t>(pgsizes, iopt->iova_alignment);
}

// Each cap writer returns the cap's size; it writes only if avail fits it.
int fill_cap_iova(iommufd_ioas *ioas, uint64_t cur, size_t avail) {
  mm_struct &mm = *current().mm;
  vfio_iommu_type1_info_cap_iova_range cap = {};
  cap.header.id = VFIO_IOMMU_TYPE1_INFO_CAP_IOVA_RANGE;
  cap.header.version = 1;
  auto size_for = [](uint32_t n) {
    return sizeof(vfio_iommu_type1_info_cap_iova_range) + n * sizeof(vfio_iova_range);
  };
  interval_tree_span_iter span;
  for (span.first(ioas->iopt.reserved_itree, 0, UINT64_MAX); !span.done(); span.next()) {
    if (!span.is_hole) continue;
    vfio_iova_range range = {span.start_hole, span.last_hole};
    if (avail >= size_for(cap.nr_iovas + 1) &&
        mm.copy_to_user(cur + offsetof(vfio_iommu_type1_info_cap_iova_range, iova_ranges) +
                            cap.nr_iovas * sizeof(range),
                        &range, sizeof(range)))
      return -EFAULT;
    cap.nr_iovas++;
  }
  if (avail >= size_for(cap.nr_iovas) && mm.copy_to_user(cur, &cap, sizeof(cap))) return -EFAULT;
  return static_cast<int>(size_for(cap.nr_iovas));
}

int fill_cap_dma_avail(iommufd_ioas *, uint64_t cur, size_t avail) {
  vfio_iommu_type1_info_dma_avail cap = {};
  cap.header.id = VFIO_IOMMU_TYPE1_INFO_DMA_AVAIL;
  cap.header.version = 1;
  // iommufd limits mappings by memory, not by count; as the kernel, report
  // U32_MAX (some users need more than U16_MAX).
  cap.avail = UINT32_MAX;
  if (avail >= sizeof(cap) && current().mm->copy_to_user(cur, &cap, sizeof(cap))) return -EFAULT;
  return sizeof(cap);
}

int vfio_iommu_get_info(iommufd_ctx *ictx, uint64_t arg) {
  using fill_fn = int (*)(iommufd_ioas *, uint64_t, size_t);
  static const fill_fn fill_fns[] = {fill_cap_dma_avail, fill_cap_iova};
  mm_struct &mm = *current().mm;
  size_t minsz = IOMMUSIM_OFFSETOFEND(vfio_iommu_type1_info, iova_pgsizes);
  vfio_iommu_type1_info info = {};
  if (mm.copy_from_user(&info, arg, minsz)) return -EFAULT;
  if (info.argsz < minsz) return -EINVAL;
  minsz = std::min<size_t>(info.argsz, sizeof(info));

  auto ioas = get_compat_ioas(ictx);
  if (ioas.is_err()) return ioas.err();
  info.flags = VFIO_IOMMU_INFO_PGSIZES;
  info.iova_pgsizes = get_pagesizes(ioas.get());
  info.cap_offset = 0;

  int rc = 0;
  {
    std::shared_lock g(ioas->iopt.iova_rwsem);
    size_t total = sizeof(info);
    uint64_t last_cap = 0;
    for (fill_fn fn : fill_fns) {
      int cap_size = info.argsz > total ? fn(ioas.get(), arg + total, info.argsz - total)
                                        : fn(ioas.get(), 0, 0);
      if (cap_size < 0) {
        rc = cap_size;
        break;
      }
      cap_size = static_cast<int>(align_up<uint64_t>(cap_size, sizeof(uint64_t)));
      if (last_cap && info.argsz >= total) {
        uint32_t next = static_cast<uint32_t>(total);
        if (mm.copy_to_user(last_cap + offsetof(vfio_info_cap_header, next), &next, sizeof(next))) {
          rc = -EFAULT;
          break;
        }
      }
      last_cap = arg + total;
      total += cap_size;
    }
    if (!rc) {
      // A short buffer gets what fits and learns the size that holds all.
      if (info.argsz >= total) info.cap_offset = sizeof(info);
      info.argsz = static_cast<uint32_t>(total);
      info.flags |= VFIO_IOMMU_INFO_CAPS;
      if (mm.copy_to_user(arg, &info, minsz)) rc = -EFAULT;
    }
  }
  iommufd_put_object(ictx, ioas.get());
  return rc;
}

}  // namespace

long iommufd_vfio_ioctl(iommufd_ctx *ictx, unsigned int cmd, unsigned long arg) {
  switch (cmd) {
    case VFIO_GET_API_VERSION:
      return VFIO_API_VERSION;
    case VFIO_SET_IOMMU:
      return vfio_set_iommu(ictx, arg);
    case VFIO_CHECK_EXTENSION:
      return vfio_check_extension(ictx, arg);
    case VFIO_IOMMU_GET_INFO:
      return vfio_iommu_get_info(ictx, arg);
    case VFIO_IOMMU_MAP_DMA:
      return vfio_map_dma(ictx, arg);
    case VFIO_IOMMU_UNMAP_DMA:
      return vfio_unmap_dma(ictx, arg);
    default:
      return -ENOTTY;
  }
}

}  // namespace iommusim::iommufd
