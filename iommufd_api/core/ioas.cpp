// SPDX-License-Identifier: MIT
// The IO address space object and its ioctls (the kernel's ioas.c).
#include "iommufd_private.h"
#include "log.h"

namespace iommusim::iommufd {

void iommufd_ioas::destroy() {
  int rc = iopt_unmap_all(&iopt, nullptr);
  IOMMUSIM_WARN_ON(rc && rc != -ENOENT);
  iopt_destroy_table(&iopt);
}

err_or<iommufd_ioas> iommufd_ioas_alloc(iommufd_ctx *ictx) {
  return iommufd_object_alloc<iommufd_ioas>(ictx);
}

int iommufd_ioas_alloc_ioctl(iommufd_ucmd *ucmd) {
  auto *cmd = static_cast<iommu_ioas_alloc *>(ucmd->cmd);
  if (cmd->flags) return -EOPNOTSUPP;
  auto ioas = iommufd_ioas_alloc(ucmd->ictx);
  if (ioas.is_err()) return ioas.err();
  cmd->out_ioas_id = ioas->id;
  int rc = iommufd_ucmd_respond(ucmd, sizeof(*cmd));
  if (rc) {
    iommufd_object_abort_and_destroy(ucmd->ictx, ioas.get());
    return rc;
  }
  iommufd_object_finalize(ucmd->ictx, ioas.get());
  return 0;
}

int iommufd_ioas_iova_ranges(iommufd_ucmd *ucmd) {
  auto *cmd = static_cast<iommu_ioas_iova_ranges *>(ucmd->cmd);
  if (cmd->__reserved) return -EOPNOTSUPP;
  auto ioas = iommufd_get_ioas(ucmd->ictx, cmd->ioas_id);
  if (ioas.is_err()) return ioas.err();
  mm_struct &mm = *current().mm;

  int rc = 0;
  {
    std::shared_lock g(ioas->iopt.iova_rwsem);
    uint32_t max_iovas = cmd->num_iovas;
    uint64_t ranges = cmd->allowed_iovas;
    cmd->num_iovas = 0;
    cmd->out_iova_alignment = ioas->iopt.iova_alignment;
    // The usable IOVA is every hole between reserved ranges.
    interval_tree_span_iter span;
    for (span.first(ioas->iopt.reserved_itree, 0, UINT64_MAX); !span.done(); span.next()) {
      if (!span.is_hole) continue;
      if (cmd->num_iovas < max_iovas) {
        iommu_iova_range elm = {span.start_hole, span.last_hole};
        if (mm.copy_to_user(ranges + cmd->num_iovas * sizeof(elm), &elm, sizeof(elm))) {
          rc = -EFAULT;
          break;
        }
      }
      cmd->num_iovas++;
    }
    if (!rc) {
      rc = iommufd_ucmd_respond(ucmd, sizeof(*cmd));
      if (!rc && cmd->num_iovas > max_iovas) rc = -EMSGSIZE;
    }
  }
  iommufd_put_object(ucmd->ictx, ioas.get());
  return rc;
}

namespace {
void free_allowed(interval_tree *t) {
  while (auto *n = t->iter_first(0, UINT64_MAX)) {
    t->remove(n);
    delete IOMMUSIM_CONTAINER_OF(n, iopt_allowed, node);
  }
}

int load_iovas(interval_tree *itree, uint64_t ranges, uint32_t num) {
  mm_struct &mm = *current().mm;
  for (uint32_t i = 0; i != num; i++) {
    iommu_iova_range range;
    if (mm.copy_from_user(&range, ranges + i * sizeof(range), sizeof(range))) return -EFAULT;
    if (range.start >= range.last) return -EINVAL;
    if (itree->iter_first(range.start, range.last)) return -EINVAL;
    auto *allowed = new iopt_allowed();
    allowed->node.start = range.start;
    allowed->node.last = range.last;
    itree->insert(&allowed->node);
  }
  return 0;
}
}  // namespace

int iommufd_ioas_allow_iovas(iommufd_ucmd *ucmd) {
  auto *cmd = static_cast<iommu_ioas_allow_iovas *>(ucmd->cmd);
  if (cmd->__reserved) return -EOPNOTSUPP;
  auto ioas = iommufd_get_ioas(ucmd->ictx, cmd->ioas_id);
  if (ioas.is_err()) return ioas.err();

  // Build the new tree aside and swap it in atomically; whatever remains in
  // it afterwards (the new tree on failure, the old one on success) is freed.
  interval_tree allowed;
  int rc = load_iovas(&allowed, cmd->allowed_iovas, cmd->num_iovas);
  if (!rc) rc = iopt_set_allow_iova(&ioas->iopt, &allowed);
  free_allowed(&allowed);
  iommufd_put_object(ucmd->ictx, ioas.get());
  return rc;
}

namespace {
// iommufd offers no cache maintenance to user space, so every mapping is
// cache coherent (IOMMU_CACHE), enforced at device bind.
int conv_iommu_prot(uint32_t map_flags) {
  int prot = IOMMU_CACHE;
  if (map_flags & IOMMU_IOAS_MAP_WRITEABLE) prot |= IOMMU_WRITE;
  if (map_flags & IOMMU_IOAS_MAP_READABLE) prot |= IOMMU_READ;
  return prot;
}
}  // namespace

int iommufd_ioas_map(iommufd_ucmd *ucmd) {
  auto *cmd = static_cast<iommu_ioas_map *>(ucmd->cmd);
  if ((cmd->flags & ~(IOMMU_IOAS_MAP_FIXED_IOVA | IOMMU_IOAS_MAP_WRITEABLE |
                      IOMMU_IOAS_MAP_READABLE)) ||
      cmd->__reserved)
    return -EOPNOTSUPP;
  if (cmd->iova >= UINT64_MAX || cmd->length >= UINT64_MAX) return -EOVERFLOW;
  if (!(cmd->flags & (IOMMU_IOAS_MAP_WRITEABLE | IOMMU_IOAS_MAP_READABLE))) return -EINVAL;

  auto ioas = iommufd_get_ioas(ucmd->ictx, cmd->ioas_id);
  if (ioas.is_err()) return ioas.err();
  unsigned flags = (cmd->flags & IOMMU_IOAS_MAP_FIXED_IOVA) ? 0u : unsigned{IOPT_ALLOC_IOVA};
  uint64_t iova = cmd->iova;
  int rc = iopt_map_user_pages(ucmd->ictx, &ioas->iopt, &iova, cmd->user_va, cmd->length,
                               conv_iommu_prot(cmd->flags), flags);
  if (!rc) {
    cmd->iova = iova;
    rc = iommufd_ucmd_respond(ucmd, sizeof(*cmd));
  }
  iommufd_put_object(ucmd->ictx, ioas.get());
  return rc;
}

int iommufd_ioas_copy(iommufd_ucmd *ucmd) {
  auto *cmd = static_cast<iommu_ioas_copy *>(ucmd->cmd);
  // The selftest's syzkaller mode names src_iova as (nth area, offset) and
  // flags it with MOCK_FLAGS_ACCESS_SYZ; convert before validating flags.
  cmd->src_iova = iommufd_test_syz_conv_iova_id(ucmd, cmd->src_ioas_id, cmd->src_iova, &cmd->flags);
  if (cmd->flags & ~(IOMMU_IOAS_MAP_FIXED_IOVA | IOMMU_IOAS_MAP_WRITEABLE |
                     IOMMU_IOAS_MAP_READABLE))
    return -EOPNOTSUPP;
  if (cmd->length >= UINT64_MAX || cmd->src_iova >= UINT64_MAX || cmd->dst_iova >= UINT64_MAX)
    return -EOVERFLOW;
  if (!(cmd->flags & (IOMMU_IOAS_MAP_WRITEABLE | IOMMU_IOAS_MAP_READABLE))) return -EINVAL;

  iopt_pages_list_t pages_list;
  auto src = iommufd_get_ioas(ucmd->ictx, cmd->src_ioas_id);
  if (src.is_err()) return src.err();
  int rc = iopt_get_pages(&src->iopt, cmd->src_iova, cmd->length, &pages_list);
  iommufd_put_object(ucmd->ictx, src.get());
  if (rc) return rc;

  auto dst = iommufd_get_ioas(ucmd->ictx, cmd->dst_ioas_id);
  if (dst.is_err()) {
    iopt_free_pages_list(&pages_list);
    return dst.err();
  }
  unsigned flags = (cmd->flags & IOMMU_IOAS_MAP_FIXED_IOVA) ? 0u : unsigned{IOPT_ALLOC_IOVA};
  uint64_t iova = cmd->dst_iova;
  rc = iopt_map_pages(&dst->iopt, &pages_list, cmd->length, &iova, conv_iommu_prot(cmd->flags),
                      flags);
  if (!rc) {
    cmd->dst_iova = iova;
    rc = iommufd_ucmd_respond(ucmd, sizeof(*cmd));
  }
  iommufd_put_object(ucmd->ictx, dst.get());
  iopt_free_pages_list(&pages_list);
  return rc;
}

int iommufd_ioas_unmap(iommufd_ucmd *ucmd) {
  auto *cmd = static_cast<iommu_ioas_unmap *>(ucmd->cmd);
  auto ioas = iommufd_get_ioas(ucmd->ictx, cmd->ioas_id);
  if (ioas.is_err()) return ioas.err();
  uint64_t unmapped = 0;
  int rc;
  if (cmd->iova == 0 && cmd->length == UINT64_MAX) {
    rc = iopt_unmap_all(&ioas->iopt, &unmapped);
  } else if (cmd->iova >= UINT64_MAX || cmd->length >= UINT64_MAX) {
    rc = -EOVERFLOW;
  } else {
    rc = iopt_unmap_iova(&ioas->iopt, cmd->iova, cmd->length, &unmapped);
    if (!rc && !unmapped) rc = -ENOENT;
  }
  if (!rc) {
    cmd->length = unmapped;
    rc = iommufd_ucmd_respond(ucmd, sizeof(*cmd));
  }
  iommufd_put_object(ucmd->ictx, ioas.get());
  return rc;
}

int iommufd_option_rlimit_mode(iommu_option *cmd, iommufd_ctx *ictx) {
  if (cmd->object_id) return -EOPNOTSUPP;
  if (cmd->op == IOMMU_OPTION_OP_GET) {
    cmd->val64 = ictx->account_mode == IOPT_PAGES_ACCOUNT_MM;
    return 0;
  }
  if (cmd->op == IOMMU_OPTION_OP_SET) {
    if (!current().capable(task_struct::cap::sys_resource)) return -EPERM;
    std::lock_guard g(ictx->objects_lock);
    if (!ictx->objects.empty()) return -EBUSY;
    if (cmd->val64 == 0)
      ictx->account_mode = IOPT_PAGES_ACCOUNT_USER;
    else if (cmd->val64 == 1)
      ictx->account_mode = IOPT_PAGES_ACCOUNT_MM;
    else
      return -EINVAL;
    return 0;
  }
  return -EOPNOTSUPP;
}

namespace {
int ioas_option_huge_pages(iommu_option *cmd, iommufd_ioas *ioas) {
  if (cmd->op == IOMMU_OPTION_OP_GET) {
    cmd->val64 = !ioas->iopt.disable_large_pages.load();
    return 0;
  }
  if (cmd->op == IOMMU_OPTION_OP_SET) {
    if (cmd->val64 == 0) return iopt_disable_large_pages(&ioas->iopt);
    if (cmd->val64 == 1) {
      iopt_enable_large_pages(&ioas->iopt);
      return 0;
    }
    return -EINVAL;
  }
  return -EOPNOTSUPP;
}
}  // namespace

int iommufd_ioas_option(iommufd_ucmd *ucmd) {
  auto *cmd = static_cast<iommu_option *>(ucmd->cmd);
  if (cmd->__reserved) return -EOPNOTSUPP;
  auto ioas = iommufd_get_ioas(ucmd->ictx, cmd->object_id);
  if (ioas.is_err()) return ioas.err();
  int rc = cmd->option_id == IOMMU_OPTION_HUGE_PAGES ? ioas_option_huge_pages(cmd, ioas.get())
                                                     : -EOPNOTSUPP;
  iommufd_put_object(ucmd->ictx, ioas.get());
  return rc;
}

}  // namespace iommusim::iommufd
