// SPDX-License-Identifier: MIT
// Physical memory: sparse RAM, user frames, the port/latency/bandwidth timing
// model, compare-and-swap, and the page allocator behind dma_alloc.
#include "models/common/memory.h"

#include <algorithm>
#include <bit>
#include <cstring>
#include <stdexcept>
#include <vector>

#include "models/common/iommu_extension.h"

namespace iommusim::models {

namespace {
constexpr uint64_t kPageShift = 12;
constexpr uint64_t kPage = uint64_t{1} << kPageShift;
constexpr uint64_t kPageMask = kPage - 1;

uint64_t ceil_div(uint64_t a, uint64_t b) { return (a + b - 1) / b; }
}  // namespace

std::string memory_config::check() const {
  if (!(clock_mhz > 0)) return "memory clock_mhz must be greater than 0";
  if (ram_size == 0) return "memory ram_size must not be 0";
  if ((ram_base & kPageMask) || (ram_size & kPageMask))
    return "memory ram_base and ram_size must be multiples of 4 KiB";
  // 0 is what alloc() returns when RAM is exhausted.
  if (ram_base == 0) return "memory ram_base must not be 0";
  if (ram_base + ram_size < ram_base) return "memory RAM range wraps past the top of the address space";
  // User frames run from user_base to the top of the address space.
  if (user_base < ram_base + ram_size) return "memory user_base must lie above the end of RAM";
  if (bytes_per_cycle == 0) return "memory bytes_per_cycle must be at least 1";
  if (ports == 0) return "memory ports must be at least 1";
  return {};
}

phys_memory::phys_memory(sc_core::sc_module_name name, const memory_config &cfg, timing_mode mode,
                         frame_backing *user_frames)
    : sc_core::sc_module(name), socket("socket"), cfg_(cfg), user_(user_frames) {
  if (const std::string why = cfg_.check(); !why.empty())
    throw std::invalid_argument(std::string(this->name()) + ": " + why);
  clk_ = clock_domain(cfg_.clock_mhz, mode);
  ports_.resize(cfg_.ports);
  free_[cfg_.ram_base] = cfg_.ram_size;
  socket.register_b_transport(this, &phys_memory::b_transport);
  socket.register_transport_dbg(this, &phys_memory::transport_dbg);
  stats_.set_name(this->name());
  // Counters exist from the start, so a report lists them even when zero.
  for (const char *c : {"reads", "writes", "read_bytes", "write_bytes", "atomics", "atomic_failures",
                        "port_wait_cycles", "address_errors"})
    stats_.counter(c);
  stats_registry::get().add(&stats_);
}

phys_memory::~phys_memory() { stats_registry::get().remove(&stats_); }

// --- address decode and the byte store --------------------------------------

namespace {
enum class region { none, ram, user };
}

static region decode(const memory_config &c, bool have_user, uint64_t pa, uint64_t len) {
  const uint64_t n = std::max<uint64_t>(len, 1);
  if (pa >= c.ram_base && pa - c.ram_base < c.ram_size && n <= c.ram_size - (pa - c.ram_base))
    return region::ram;
  if (have_user && pa >= c.user_base && pa + (n - 1) >= pa) return region::user;
  return region::none;
}

// The RAM helpers below run with lock_ held; they are free functions on the
// page map so that the header need not declare them.
using page_map = std::map<uint64_t, std::unique_ptr<uint8_t[]>>;

static void ram_read(const page_map &pages, uint64_t pa, uint8_t *dst, uint64_t len) {
  while (len) {
    const uint64_t page = pa & ~kPageMask, off = pa & kPageMask;
    const uint64_t n = std::min(len, kPage - off);
    auto it = pages.find(page);
    if (it == pages.end())
      std::memset(dst, 0, n);  // never written: reads zero
    else
      std::memcpy(dst, it->second.get() + off, n);
    pa += n;
    dst += n;
    len -= n;
  }
}

// be/be_len: TLM byte enables (nullptr: all bytes), repeating every be_len bytes.
static void ram_write(page_map &pages, uint64_t pa, const uint8_t *src, uint64_t len,
                      const uint8_t *be = nullptr, uint64_t be_len = 0) {
  uint64_t done = 0;
  while (done < len) {
    const uint64_t page = pa & ~kPageMask, off = pa & kPageMask;
    const uint64_t n = std::min(len - done, kPage - off);
    auto &p = pages[page];
    if (!p) p = std::make_unique<uint8_t[]>(kPage);  // value-initialised: zero
    if (!be) {
      std::memcpy(p.get() + off, src + done, n);
    } else {
      for (uint64_t i = 0; i < n; i++)
        if (be[(done + i) % be_len] == TLM_BYTE_ENABLED) p[off + i] = src[done + i];
    }
    pa += n;
    done += n;
  }
}

bool phys_memory::read(uint64_t pa, void *dst, size_t len) {
  switch (decode(cfg_, user_ != nullptr, pa, len)) {
    case region::ram: {
      std::lock_guard<std::mutex> l(lock_);
      ram_read(pages_, pa, static_cast<uint8_t *>(dst), len);
      return true;
    }
    case region::user:
      return len == 0 || user_->read(pa, dst, len);
    case region::none:
      break;
  }
  return false;
}

bool phys_memory::write(uint64_t pa, const void *src, size_t len) {
  switch (decode(cfg_, user_ != nullptr, pa, len)) {
    case region::ram: {
      std::lock_guard<std::mutex> l(lock_);
      ram_write(pages_, pa, static_cast<const uint8_t *>(src), len);
      return true;
    }
    case region::user:
      return len == 0 || user_->write(pa, src, len);
    case region::none:
      break;
  }
  return false;
}

size_t phys_memory::resident_pages() const {
  std::lock_guard<std::mutex> l(lock_);
  return pages_.size();
}

// --- allocator ----------------------------------------------------------------

uint64_t phys_memory::alloc(uint64_t bytes, uint64_t align) {
  if (bytes == 0 || bytes > cfg_.ram_size) return 0;
  bytes = (bytes + kPageMask) & ~kPageMask;
  align = std::max(align, kPage);
  if (align > (uint64_t{1} << 62)) return 0;
  align = std::bit_ceil(align);
  std::lock_guard<std::mutex> l(lock_);
  // First fit by address: deterministic placement for a given call sequence.
  for (auto it = free_.begin(); it != free_.end(); ++it) {
    const uint64_t start = it->first, len = it->second;
    const uint64_t a = (start + align - 1) & ~(align - 1);
    if (a < start || a - start >= len || len - (a - start) < bytes) continue;
    free_.erase(it);
    if (a > start) free_[start] = a - start;
    if (a + bytes < start + len) free_[a + bytes] = start + len - (a + bytes);
    // A new allocation reads zero, whatever was written there before.
    pages_.erase(pages_.lower_bound(a), pages_.lower_bound(a + bytes));
    return a;
  }
  return 0;
}

void phys_memory::free(uint64_t pa, uint64_t bytes) {
  if (bytes == 0) return;
  uint64_t start = pa & ~kPageMask;
  uint64_t end = (pa + bytes + kPageMask) & ~kPageMask;
  // Clip to RAM; an address outside it was never allocated.
  start = std::max(start, cfg_.ram_base);
  end = std::min(end, cfg_.ram_base + cfg_.ram_size);
  if (end <= start) return;
  std::lock_guard<std::mutex> l(lock_);
  pages_.erase(pages_.lower_bound(start), pages_.lower_bound(end));
  // Union with the free runs it touches or overlaps, so a double free is harmless.
  auto it = free_.upper_bound(start);
  if (it != free_.begin()) {
    auto prev = std::prev(it);
    if (prev->first + prev->second >= start) it = prev;
  }
  while (it != free_.end() && it->first <= end) {
    start = std::min(start, it->first);
    end = std::max(end, it->first + it->second);
    it = free_.erase(it);
  }
  free_[start] = end - start;
}

// --- TLM ------------------------------------------------------------------------

void phys_memory::b_transport(int, tlm::tlm_generic_payload &trans, sc_core::sc_time &delay) {
  timing_ctx t(clk_.mode(), delay);
  const tlm::tlm_command cmd = trans.get_command();
  const uint64_t pa = trans.get_address();
  const uint64_t len = trans.get_data_length();
  uint8_t *data = trans.get_data_ptr();
  if (cmd == tlm::TLM_IGNORE_COMMAND) {
    trans.set_response_status(tlm::TLM_OK_RESPONSE);
    return;
  }
  if (trans.get_streaming_width() < len) {  // streaming (FIFO) bursts: not memory-like
    trans.set_response_status(tlm::TLM_BURST_ERROR_RESPONSE);
    return;
  }
  const region r = decode(cfg_, user_ != nullptr, pa, len);
  if (r == region::none) {
    stats_.counter("address_errors")++;
    trans.set_response_status(tlm::TLM_ADDRESS_ERROR_RESPONSE);
    return;
  }
  atomic_extension *atomic = trans.get_extension<atomic_extension>();
  if (atomic) {
    if (cmd != tlm::TLM_WRITE_COMMAND || len != 8 || trans.get_byte_enable_ptr()) {
      trans.set_response_status(tlm::TLM_COMMAND_ERROR_RESPONSE);
      return;
    }
    if (pa & 7) {  // an atomic must not straddle words
      stats_.counter("address_errors")++;
      trans.set_response_status(tlm::TLM_ADDRESS_ERROR_RESPONSE);
      return;
    }
  }

  const bool is_read = cmd == tlm::TLM_READ_COMMAND;
  const uint64_t transfer = std::max<uint64_t>(1, ceil_div(len, cfg_.bytes_per_cycle));
  const sc_core::sc_time arrived = t.now();

  // Phase 1: get a port; the data moves when the transfer starts, so accesses
  // take effect in port-grant order.
  unsigned port = ports_.acquire(t);
  uint64_t waited = clk_.to_cycles(t.now() - arrived);
  bool ok = true;
  if (atomic) {
    uint64_t cur = 0;
    if (r == region::ram) {
      std::lock_guard<std::mutex> l(lock_);
      ram_read(pages_, pa, reinterpret_cast<uint8_t *>(&cur), 8);
      atomic->success = cur == atomic->expected;
      if (atomic->success) ram_write(pages_, pa, data, 8);
    } else {
      ok = user_->read(pa, &cur, 8);
      atomic->success = ok && cur == atomic->expected;
      if (atomic->success) ok = user_->write(pa, data, 8);
    }
    atomic->observed = cur;
  } else if (is_read) {
    if (r == region::ram) {
      std::lock_guard<std::mutex> l(lock_);
      ram_read(pages_, pa, data, len);
    } else {
      ok = user_->read(pa, data, len);
    }
  } else {
    const uint8_t *be = trans.get_byte_enable_ptr();
    const uint64_t be_len = trans.get_byte_enable_length();
    if (be && be_len == 0) be = nullptr;
    if (r == region::ram) {
      std::lock_guard<std::mutex> l(lock_);
      ram_write(pages_, pa, data, len, be, be_len);
    } else if (!be) {
      ok = user_->write(pa, data, len);
    } else {
      // Byte enables on a user frame: read, merge, write back.
      std::vector<uint8_t> buf(len);
      ok = user_->read(pa, buf.data(), len);
      for (uint64_t i = 0; ok && i < len; i++)
        if (be[i % be_len] == TLM_BYTE_ENABLED) buf[i] = data[i];
      if (ok) ok = user_->write(pa, buf.data(), len);
    }
  }
  if (!ok) {  // a user frame that is not (or no longer) backed
    ports_.release(port, t);
    stats_.counter("address_errors")++;
    trans.set_response_status(tlm::TLM_ADDRESS_ERROR_RESPONSE);
    return;
  }
  t.advance(transfer, clk_);
  ports_.release(port, t);
  t.advance((is_read || atomic) ? cfg_.read_latency : cfg_.write_latency, clk_);

  if (atomic) {
    // Phase 2 of the read-modify-write: the write beat.
    const sc_core::sc_time before = t.now();
    port = ports_.acquire(t);
    waited += clk_.to_cycles(t.now() - before);
    t.advance(transfer, clk_);
    ports_.release(port, t);
    t.advance(cfg_.write_latency, clk_);
    stats_.counter("atomics")++;
    if (!atomic->success) stats_.counter("atomic_failures")++;
  } else if (is_read) {
    stats_.counter("reads")++;
    stats_.counter("read_bytes") += len;
  } else {
    stats_.counter("writes")++;
    stats_.counter("write_bytes") += len;
  }
  stats_.counter("port_wait_cycles") += waited;
  stats_.histogram("latency_cycles").add(clk_.to_cycles(t.now() - arrived));
  trans.set_response_status(tlm::TLM_OK_RESPONSE);
}

// Debug access: no time, no statistics, byte enables ignored (TLM-2.0 debug
// transport carries none).
unsigned phys_memory::transport_dbg(int, tlm::tlm_generic_payload &trans) {
  const uint64_t len = trans.get_data_length();
  bool ok = false;
  if (trans.get_command() == tlm::TLM_READ_COMMAND)
    ok = read(trans.get_address(), trans.get_data_ptr(), len);
  else if (trans.get_command() == tlm::TLM_WRITE_COMMAND)
    ok = write(trans.get_address(), trans.get_data_ptr(), len);
  return ok ? static_cast<unsigned>(len) : 0;
}

}  // namespace iommusim::models
