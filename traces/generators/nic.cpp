// SPDX-License-Identifier: MIT
// NIC receive and transmit rings with page_pool buffer recycling, as a
// 100 Gb/s-class Ethernet NIC's DMA engine sees them (e.g. mlx5, ice):
//
// rx, per packet: the NIC prefetches RX descriptors in batches (desc_batch
// x 16 B), writes the frame at headroom into the page its descriptor points
// to, then writes a 64-byte completion (CQE). The driver refills the slot at
// once from the page_pool: its lockless alloc cache first (LIFO, refilled
// from the ptr_ring 64 pages at a time), so the page freed last is reused
// first. A consumed page comes back stack_lag packets later: straight to the
// alloc cache (direct recycling in NAPI) unless the stack holds it
// (hold_fraction, e.g. a socket queue), in which case it returns hold_lag
// packets later through the ptr_ring (FIFO). Linux: net/core/page_pool.c.
//
// tx, per packet: descriptor prefetch as rx; a header read from the skb's
// linear area (a page of a slab-like header region) and the payload read
// from page fragments spread over a larger region; a 16 B completion write
// every completion_batch packets.
//
// Timing: one packet per wire slot at rate_gbps ((size + 24 B of preamble,
// FCS and IFG) x 8 / rate ns), in device cycles at clock_mhz.
#include <deque>
#include <stdexcept>

#include "traces/generators/generator.h"

namespace iommusim::traces {

namespace {

using detail::emit;
using models::trace_record;

std::vector<param_spec> common_nic_params() {
  return {
      {"stream_id", param_kind::integer, "0x10", "the NIC's StreamID (RequesterID)", {}},
      {"packets", param_kind::integer, "20000", "packets", {}},
      {"packet_size", param_kind::integer, "1500", "frame bytes, 64 .. 4096 - headroom", {}},
      {"rate_gbps", param_kind::number, "100", "line rate; sets the gap between packets", {}},
      {"clock_mhz", param_kind::number, "1000", "device clock the gaps are counted in", {}},
      {"ring", param_kind::integer, "1024", "descriptors in the ring", {}},
      {"desc_batch", param_kind::integer, "8", "descriptors fetched per read", {}},
      {"ring_base", param_kind::integer, "0x1000_0000", "IOVA of the descriptor ring", {}},
      {"cq_base", param_kind::integer, "0x1040_0000", "IOVA of the completion ring", {}},
      {"buf_base", param_kind::integer, "0x4000_0000", "IOVA of the first pool page", {}},
      {"seed", param_kind::integer, "1", "random seed", {}},
  };
}

uint64_t packet_gap(const param_values &p) {
  const double rate = p.d("rate_gbps");
  if (rate <= 0) throw std::invalid_argument("rate_gbps: must be greater than 0");
  const double ns = (static_cast<double>(p.u("packet_size")) + 24) * 8 / rate;
  return static_cast<uint64_t>(ns * p.d("clock_mhz") / 1000.0 + 0.5);
}

// net/core/page_pool.c's two-level free store, in pages (IOVAs).
class page_pool {
 public:
  page_pool(uint64_t base, uint64_t pages) {
    for (uint64_t i = 0; i < pages; i++) ring_.push_back(base + i * 4096);
  }
  uint64_t alloc() {
    if (cache_.empty()) {  // page_pool_refill_alloc_cache: up to 64 from the ring
      for (int i = 0; i < 64 && !ring_.empty(); i++) {
        cache_.push_back(ring_.front());
        ring_.pop_front();
      }
    }
    if (cache_.empty()) throw std::invalid_argument("pool_pages: the pool ran dry; give it more pages");
    const uint64_t p = cache_.back();
    cache_.pop_back();
    return p;
  }
  void recycle_direct(uint64_t page) {
    if (cache_.size() < 128) cache_.push_back(page);  // PP_ALLOC_CACHE_SIZE
    else ring_.push_back(page);
  }
  void recycle_ring(uint64_t page) { ring_.push_back(page); }

 private:
  std::vector<uint64_t> cache_;
  std::deque<uint64_t> ring_;
};

std::vector<trace_record> make_rx(const param_values &p) {
  const uint64_t n = p.u("packets"), size = p.u("packet_size"), ring = p.u("ring");
  const uint64_t headroom = p.u("headroom"), batch = p.u("desc_batch");
  const auto sid = static_cast<uint32_t>(p.u("stream_id"));
  if (size < 64 || size + headroom > 4096)
    throw std::invalid_argument("packet_size: must be 64 .. 4096 - headroom (" + std::to_string(4096 - headroom) + ")");
  if (ring == 0 || ring > 65536) throw std::invalid_argument("ring: must be 1 .. 65536");
  if (batch == 0 || batch > 256) throw std::invalid_argument("desc_batch: must be 1 .. 256");
  if (p.u("pool_pages") < ring + 64) throw std::invalid_argument("pool_pages: needs at least ring + 64 pages");
  const uint64_t lag = p.u("stack_lag"), hold_lag = p.u("hold_lag");
  const double hold = p.d("hold_fraction");
  if (hold > 1) throw std::invalid_argument("hold_fraction: must be 0 .. 1");
  const uint64_t gap = packet_gap(p);
  detail::rng rng(p.u("seed"));
  page_pool pool(p.u("buf_base"), p.u("pool_pages"));
  std::vector<uint64_t> slot(ring);
  for (uint64_t &s : slot) s = pool.alloc();
  // Pages on their way back: (packet index at which they return, page, direct?).
  struct pending {
    uint64_t at, page;
    bool direct;
  };
  std::deque<pending> back_direct, back_held;
  std::vector<trace_record> out;
  out.reserve(n * 3);
  uint64_t next_gap = 0;
  for (uint64_t i = 0; i < n; i++) {
    while (!back_direct.empty() && back_direct.front().at <= i) {
      pool.recycle_direct(back_direct.front().page);
      back_direct.pop_front();
    }
    while (!back_held.empty() && back_held.front().at <= i) {
      pool.recycle_ring(back_held.front().page);
      back_held.pop_front();
    }
    const uint64_t s = i % ring;
    if (i % batch == 0) {  // descriptor prefetch, not past the ring's end
      const uint64_t cnt = std::min(batch, ring - s);
      emit(&out, gap, sid, p.u("ring_base") + s * 16, cnt * 16, false);
      next_gap = 0;
    } else {
      next_gap = gap;
    }
    emit(&out, next_gap, sid, slot[s] + headroom, size, true);
    emit(&out, 0, sid, p.u("cq_base") + s * 64, 64, true);
    // The stack takes the page; the driver refills the slot now.
    if (rng.unit() < hold) back_held.push_back({i + lag + hold_lag, slot[s], false});
    else back_direct.push_back({i + lag, slot[s], true});
    slot[s] = pool.alloc();
  }
  return out;
}

std::vector<trace_record> make_tx(const param_values &p) {
  const uint64_t n = p.u("packets"), size = p.u("packet_size"), ring = p.u("ring");
  const uint64_t batch = p.u("desc_batch"), cbatch = p.u("completion_batch"), hdr = p.u("header_bytes");
  const auto sid = static_cast<uint32_t>(p.u("stream_id"));
  if (size < 64 || size > 65536) throw std::invalid_argument("packet_size: must be 64 .. 65536");
  if (hdr == 0 || hdr > 256 || hdr >= size) throw std::invalid_argument("header_bytes: must be 1 .. 256 and below packet_size");
  if (ring == 0 || ring > 65536) throw std::invalid_argument("ring: must be 1 .. 65536");
  if (batch == 0 || batch > 256) throw std::invalid_argument("desc_batch: must be 1 .. 256");
  if (cbatch == 0) throw std::invalid_argument("completion_batch: must be at least 1");
  const uint64_t pages = p.u("pool_pages");
  if (pages == 0) throw std::invalid_argument("pool_pages: must be at least 1");
  const uint64_t gap = packet_gap(p);
  detail::rng rng(p.u("seed"));
  std::vector<trace_record> out;
  out.reserve(n * 4);
  // Headers: 256-byte slab objects in consecutive pages, reused round robin.
  const uint64_t hdr_base = p.u("buf_base"), frag_base = hdr_base + ring * 256 + 4096;
  for (uint64_t i = 0; i < n; i++) {
    const uint64_t s = i % ring;
    uint64_t g = gap;
    if (i % batch == 0) {
      emit(&out, g, sid, p.u("ring_base") + s * 16, std::min(batch, ring - s) * 16, false);
      g = 0;
    }
    emit(&out, g, sid, hdr_base + s * 256, hdr, false);
    // Payload: a page fragment of a random pool page (page_frag: 2 KiB halves).
    const uint64_t page = rng.below(pages);
    const uint64_t off = (size - hdr) <= 2048 ? 2048 * rng.below(2) : 0;
    emit(&out, 0, sid, frag_base + page * 4096 + off, size - hdr, false);
    if ((i + 1) % cbatch == 0) emit(&out, 0, sid, p.u("cq_base") + (s / cbatch) * 16, 16, true);
  }
  return out;
}

}  // namespace

generator nic_rx_generator() {
  generator g{"nic_rx",
              "NIC receive ring: descriptor prefetch, frame write into a page_pool page, 64 B CQE write",
              common_nic_params(), make_rx};
  g.params.push_back({"headroom", param_kind::integer, "256", "bytes before the frame in its page (XDP_PACKET_HEADROOM)", {}});
  g.params.push_back({"pool_pages", param_kind::integer, "2048", "pages the page_pool owns", {}});
  g.params.push_back({"stack_lag", param_kind::integer, "64", "packets until the stack frees a page", {}});
  g.params.push_back({"hold_fraction", param_kind::number, "0.05", "share of pages the stack holds longer", {}});
  g.params.push_back({"hold_lag", param_kind::integer, "4096", "extra packets a held page stays away", {}});
  return g;
}

generator nic_tx_generator() {
  generator g{"nic_tx",
              "NIC transmit ring: descriptor prefetch, header and payload reads, batched completions",
              common_nic_params(), make_tx};
  g.params.push_back({"header_bytes", param_kind::integer, "128", "bytes read from the skb's linear area", {}});
  g.params.push_back({"pool_pages", param_kind::integer, "8192", "pages payload fragments come from", {}});
  g.params.push_back({"completion_batch", param_kind::integer, "32", "packets per completion write", {}});
  return g;
}

}  // namespace iommusim::traces
