// SPDX-License-Identifier: MIT
// NVMe submission/completion queues with PRP lists (NVMe Base 2.0 §4.1,
// §4.3.1). Per command, as the controller does it: read the 64-byte SQE;
// with more than two pages of data, read the PRP list (8 bytes per entry
// after PRP1) from the command's list page; move the data page by page in
// max_payload pieces (reads for a host write command, writes for a read);
// write the 16-byte CQE. Commands are spread over `queues` queue pairs round
// robin, each queue pair its own pages. A command's buffer is virtually
// contiguous (a user buffer mapped by dma-iommu: contiguous IOVAs) at a
// random io_size-aligned place in data_region.
#include <stdexcept>

#include "traces/generators/generator.h"

namespace iommusim::traces {

namespace {

using detail::emit;

std::vector<models::trace_record> make(const param_values &p) {
  const uint64_t n = p.u("commands"), qd = p.u("queue_depth"), queues = p.u("queues");
  const uint64_t io = p.u("io_size"), region = p.u("data_region"), mps = p.u("max_payload");
  const auto sid = static_cast<uint32_t>(p.u("stream_id"));
  if (qd < 2 || qd > 65536) throw std::invalid_argument("queue_depth: must be 2 .. 65536");
  if (queues == 0 || queues > 256) throw std::invalid_argument("queues: must be 1 .. 256");
  if (io == 0 || io % 4096 || io > 2 * 1024 * 1024) throw std::invalid_argument("io_size: must be a multiple of 4 KiB, at most 2 MiB");
  if (region < io) throw std::invalid_argument("data_region: must hold one io_size");
  if (mps == 0 || mps > 4096 || (mps & (mps - 1))) throw std::invalid_argument("max_payload: must be a power of two up to 4096");
  const double rf = p.d("read_fraction");
  if (rf > 1) throw std::invalid_argument("read_fraction: must be 0 .. 1");
  detail::rng rng(p.u("seed"));
  const uint64_t sq = p.u("sq_base"), cq = p.u("cq_base"), prp = p.u("prp_base"), data = p.u("data_base");
  const uint64_t pages = io / 4096, slots = region / io;
  std::vector<uint64_t> tail(queues, 0);
  std::vector<models::trace_record> out;
  for (uint64_t i = 0; i < n; i++) {
    const uint64_t q = i % queues, slot = tail[q];
    tail[q] = (slot + 1) % qd;
    const uint64_t qsq = sq + q * qd * 64, qcq = cq + q * qd * 16;
    emit(&out, p.u("gap_cycles"), sid, qsq + slot * 64, 64, false);
    if (pages > 2)  // PRP2 points to a list of pages - 1 entries
      emit(&out, 0, sid, prp + (q * qd + slot) * 4096, (pages - 1) * 8, false);
    const bool host_reads = rng.unit() >= rf;  // a Write command: the device reads host memory
    const uint64_t buf = data + rng.below(slots) * io;
    for (uint64_t pg = 0; pg < pages; pg++) emit(&out, 0, sid, buf + pg * 4096, 4096, !host_reads, static_cast<uint32_t>(mps));
    emit(&out, 0, sid, qcq + slot * 16, 16, true);
  }
  return out;
}

}  // namespace

generator nvme_generator() {
  return {"nvme",
          "NVMe queues: SQE read, PRP list read, data pages, CQE write",
          {
              {"stream_id", param_kind::integer, "0x20", "the controller's StreamID", {}},
              {"commands", param_kind::integer, "2000", "commands", {}},
              {"queues", param_kind::integer, "4", "I/O queue pairs", {}},
              {"queue_depth", param_kind::integer, "256", "entries per queue", {}},
              {"io_size", param_kind::integer, "128K", "bytes per command (4 KiB multiple)", {}},
              {"read_fraction", param_kind::number, "0.7", "share of Read commands (device writes memory)", {}},
              {"max_payload", param_kind::integer, "4096", "bytes per data request (PCIe MPS/MRRS)", {}},
              {"data_region", param_kind::integer, "1G", "bytes of IOVA space buffers come from", {}},
              {"gap_cycles", param_kind::integer, "200", "device cycles between commands", {}},
              {"sq_base", param_kind::integer, "0x1000_0000", "IOVA of queue 0's SQ", {}},
              {"cq_base", param_kind::integer, "0x1100_0000", "IOVA of queue 0's CQ", {}},
              {"prp_base", param_kind::integer, "0x1200_0000", "IOVA of the PRP list pages", {}},
              {"data_base", param_kind::integer, "0x4000_0000", "IOVA of the data region", {}},
              {"seed", param_kind::integer, "1", "random seed", {}},
          },
          make};
}

}  // namespace iommusim::traces
