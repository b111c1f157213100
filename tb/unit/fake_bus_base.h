// SPDX-License-Identifier: MIT
// What every driver's fake host_bus shares (smmuv3_fake_bus.h,
// vtd_driver_fake_bus.h): a sparse memory for dma_alloc with leak tracking
// and injectable allocation failure, a clock that delays and polls advance,
// interrupt handlers a test fires, and one recursive lock every call holds,
// so the concurrency tests can share a fake between threads. The register
// file and the queue consumers are the derived fake's: they are per spec.
#pragma once

#include <gtest/gtest.h>

#include <cerrno>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <vector>

#include "drivers/hostbus.h"

namespace iommusim::test {

class FakeBusBase : public iommufd::host_bus {
 public:
  using guard = std::lock_guard<std::recursive_mutex>;

  // doorbell: where the MSI of interrupt line 0 goes (msi_doorbell()).
  explicit FakeBusBase(uint64_t doorbell) : doorbell_(doorbell) {}

  // --- configuration ---
  int fail_alloc_at = -1;  // the n-th dma_alloc (from 0) fails

  // --- observation ---
  std::map<uint64_t, uint64_t> allocs;  // pa -> bytes, live
  std::map<unsigned, std::function<void()>> irqs;
  uint64_t now = 0;  // ns
  int nallocs = 0;
  // The driver's memory accesses (host_bus cost); the fake's own and the
  // tests' (rd/wr, mem64, set_mem64) are not counted.
  uint64_t mem_reads = 0, mem_writes = 0;

  // --- host_bus: memory, time, interrupts ---
  void mem_read(uint64_t pa, void *dst, size_t len) override {
    guard g(mu);
    mem_reads++;
    rd(pa, dst, len);
  }
  void mem_write(uint64_t pa, const void *src, size_t len) override {
    guard g(mu);
    mem_writes++;
    wr(pa, src, len);
  }
  uint64_t dma_alloc(uint64_t bytes, uint64_t align) override {
    guard g(mu);
    EXPECT_GE(align, 4096u);
    EXPECT_EQ(0u, align & (align - 1));
    if (nallocs++ == fail_alloc_at) return 0;
    const uint64_t pa = (next_ + align - 1) & ~(align - 1);
    next_ = pa + bytes;
    allocs[pa] = bytes;
    for (uint64_t p = pa; p < pa + bytes; p += 4096) pages_.erase(p & ~4095ULL);  // zeroed
    return pa;
  }
  void dma_free(uint64_t pa, uint64_t bytes) override {
    guard g(mu);
    auto it = allocs.find(pa);
    EXPECT_NE(it, allocs.end()) << "free of " << std::hex << pa;
    if (it != allocs.end()) {
      EXPECT_EQ(it->second, bytes);
      allocs.erase(it);
    }
    freed(pa, bytes);
  }
  void delay_ns(uint64_t ns) override {
    guard g(mu);
    now += ns;
  }
  uint64_t now_ps() override {
    guard g(mu);
    return now * 1000;
  }
  int request_irq(unsigned line, std::function<void()> fn) override {
    guard g(mu);
    if (irqs.count(line)) return -EBUSY;
    irqs[line] = std::move(fn);
    return 0;
  }
  void free_irq(unsigned line) override {
    guard g(mu);
    irqs.erase(line);
  }
  uint64_t msi_doorbell(unsigned line) override { return doorbell_ + line * 4; }

  // --- test helpers ---
  void rd(uint64_t pa, void *dst, size_t len) {
    guard g(mu);
    auto *d = static_cast<uint8_t *>(dst);
    for (size_t i = 0; i < len; i++) d[i] = byte(pa + i);
  }
  void wr(uint64_t pa, const void *src, size_t len) {
    guard g(mu);
    const auto *s = static_cast<const uint8_t *>(src);
    for (size_t i = 0; i < len; i++) page(pa + i)[(pa + i) & 4095] = s[i];
  }
  uint64_t mem64(uint64_t pa) {
    uint64_t v;
    rd(pa, &v, 8);
    return v;
  }
  void set_mem64(uint64_t pa, uint64_t v) { wr(pa, &v, 8); }
  // Run the handler of line as the platform's IRQ thread does (not under
  // the bus lock: the handler makes bus calls of its own).
  void fire(unsigned line) {
    std::function<void()> fn;
    {
      guard g(mu);
      auto it = irqs.find(line);
      ASSERT_NE(it, irqs.end()) << "no handler on line " << line;
      fn = it->second;
    }
    fn();
  }

  mutable std::recursive_mutex mu;

 protected:
  // After a good or bad dma_free, under the lock: a fake may record it.
  virtual void freed(uint64_t, uint64_t) {}

 private:
  std::vector<uint8_t> &page(uint64_t pa) {
    auto &p = pages_[pa & ~4095ULL];
    if (p.empty()) p.assign(4096, 0);
    return p;
  }
  uint8_t byte(uint64_t pa) const {
    auto it = pages_.find(pa & ~4095ULL);
    return it == pages_.end() ? 0 : it->second[pa & 4095];
  }
  const uint64_t doorbell_;
  std::map<uint64_t, std::vector<uint8_t>> pages_;
  uint64_t next_ = 0x80000000;
};

}  // namespace iommusim::test
