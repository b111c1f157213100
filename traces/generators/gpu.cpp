// SPDX-License-Identifier: MIT
// GPU/accelerator access patterns over host memory (the regimes GPU IOMMU
// studies measure, e.g. Vesely et al., ISPASS 2016):
//  tiled     a matrix of rows x cols elements in row-major order, read tile
//            by tile (tile x tile elements): each tile row is a short read,
//            and consecutive tile rows are row_pitch apart, so a tile touches
//            `tile` pages when a row is a page or more; the result tile is
//            written back the same way.
//  divergent warps of 32 lanes gather `elem` bytes each at independent
//            addresses in a `footprint`-byte region; `locality` is the chance
//            a lane stays within 64 KiB of the warp's previous base.
#include <stdexcept>

#include "traces/generators/generator.h"

namespace iommusim::traces {

namespace {

using detail::emit;

std::vector<models::trace_record> make(const param_values &p) {
  const auto sid = static_cast<uint32_t>(p.u("stream_id"));
  const uint64_t base = p.u("base"), gap = p.u("gap_cycles"), elem = p.u("elem");
  if (elem == 0 || elem > 4096 || (elem & (elem - 1))) throw std::invalid_argument("elem: must be a power of two up to 4096");
  std::vector<models::trace_record> out;
  if (p.s("mode") == "tiled") {
    const uint64_t rows = p.u("rows"), cols = p.u("cols"), tile = p.u("tile");
    if (tile == 0 || rows % tile || cols % tile) throw std::invalid_argument("tile: must divide rows and cols");
    const uint64_t pitch = cols * elem, out_base = base + ((rows * pitch + 0xfffff) & ~0xfffffULL);
    for (uint64_t tr = 0; tr < rows; tr += tile)
      for (uint64_t tc = 0; tc < cols; tc += tile) {
        for (uint64_t r = 0; r < tile; r++)
          emit(&out, r == 0 ? gap : 0, sid, base + (tr + r) * pitch + tc * elem, tile * elem, false);
        for (uint64_t r = 0; r < tile; r++)
          emit(&out, 0, sid, out_base + (tr + r) * pitch + tc * elem, tile * elem, true);
      }
  } else {
    const uint64_t warps = p.u("warps"), fp = p.u("footprint");
    if (fp < 65536) throw std::invalid_argument("footprint: must be at least 64 KiB");
    const double loc = p.d("locality");
    if (loc > 1) throw std::invalid_argument("locality: must be 0 .. 1");
    detail::rng rng(p.u("seed"));
    uint64_t warp_base = 0;
    for (uint64_t w = 0; w < warps; w++) {
      warp_base = rng.below(fp / 65536) * 65536;
      for (unsigned lane = 0; lane < 32; lane++) {
        const uint64_t off = rng.unit() < loc ? warp_base + rng.below(65536) : rng.below(fp);
        emit(&out, lane == 0 ? gap : 0, sid, base + (off & ~(elem - 1)), elem, false);
      }
    }
  }
  return out;
}

}  // namespace

generator gpu_generator() {
  return {"gpu",
          "GPU/accelerator: tiled matrix reads/writes, or divergent 32-lane gathers",
          {
              {"mode", param_kind::choice, "tiled", "access pattern", {"tiled", "divergent"}},
              {"stream_id", param_kind::integer, "0x30", "the device's StreamID", {}},
              {"base", param_kind::integer, "0x8000_0000", "IOVA of the data", {}},
              {"elem", param_kind::integer, "4", "bytes per element (power of two)", {}},
              {"rows", param_kind::integer, "1024", "tiled: matrix rows", {}},
              {"cols", param_kind::integer, "1024", "tiled: matrix columns", {}},
              {"tile", param_kind::integer, "32", "tiled: tile edge in elements", {}},
              {"warps", param_kind::integer, "2000", "divergent: warps issued", {}},
              {"footprint", param_kind::integer, "256M", "divergent: bytes of the region gathered from", {}},
              {"locality", param_kind::number, "0.5", "divergent: chance a lane stays near the warp base", {}},
              {"gap_cycles", param_kind::integer, "10", "device cycles between tiles / warps", {}},
              {"seed", param_kind::integer, "1", "random seed", {}},
          },
          make};
}

}  // namespace iommusim::traces
