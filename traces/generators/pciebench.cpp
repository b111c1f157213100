// SPDX-License-Identifier: MIT
// The pcie-bench methodology (Neugebauer et al., SIGCOMM 2018, §4): DMA
// transfers of `transfer` bytes into a host buffer window of `window`
// bytes, at offsets walked sequentially or drawn at random (transfer-aligned,
// plus `offset` to probe unaligned starts). Sweeping `window` past the
// IOTLB's reach shows the IOMMU's cost; their Fig. 9 does exactly that.
#include <stdexcept>

#include "traces/generators/generator.h"

namespace iommusim::traces {

namespace {

std::vector<models::trace_record> make(const param_values &p) {
  const uint64_t win = p.u("window"), xfer = p.u("transfer"), off = p.u("offset"), n = p.u("count");
  const auto sid = static_cast<uint32_t>(p.u("stream_id"));
  if (xfer == 0 || xfer > 4096) throw std::invalid_argument("transfer: must be 1 .. 4096");
  if (off + xfer > 4096) throw std::invalid_argument("offset: offset + transfer must not exceed 4096");
  if (win < 4096 || win % 4096) throw std::invalid_argument("window: must be a multiple of 4 KiB");
  const bool rnd = p.s("pattern") == "random";
  const std::string &dir = p.s("direction");
  detail::rng rng(p.u("seed"));
  // The window's slots: 64-byte aligned, never crossing a page.
  const uint64_t stride = (xfer + off + 63) & ~63ULL;
  const uint64_t per_page = 4096 / stride, slots = win / 4096 * per_page;
  std::vector<models::trace_record> out;
  out.reserve(n);
  for (uint64_t i = 0; i < n; i++) {
    const uint64_t k = rnd ? rng.below(slots) : i % slots;
    const uint64_t addr = p.u("base") + (k / per_page) * 4096 + (k % per_page) * stride + off;
    const bool write = dir == "write" || (dir == "mixed" && (i & 1));
    detail::emit(&out, p.u("gap_cycles"), sid, addr, xfer, write);
  }
  return out;
}

}  // namespace

generator pciebench_generator() {
  return {"pciebench",
          "pcie-bench: transfers into a host window, sequential or random",
          {
              {"stream_id", param_kind::integer, "0x40", "the device's StreamID", {}},
              {"window", param_kind::integer, "64K", "host buffer window (4 KiB multiple)", {}},
              {"transfer", param_kind::integer, "64", "bytes per DMA, 1 .. 4096", {}},
              {"offset", param_kind::integer, "0", "bytes added to each transfer's start", {}},
              {"pattern", param_kind::choice, "sequential", "order of offsets", {"sequential", "random"}},
              {"direction", param_kind::choice, "read", "DMA reads, writes, or alternating", {"read", "write", "mixed"}},
              {"count", param_kind::integer, "10000", "transfers", {}},
              {"base", param_kind::integer, "0x4000_0000", "IOVA of the window", {}},
              {"gap_cycles", param_kind::integer, "0", "device cycles between transfers", {}},
              {"seed", param_kind::integer, "1", "random seed", {}},
          },
          make};
}

}  // namespace iommusim::traces
