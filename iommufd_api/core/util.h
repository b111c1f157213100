// SPDX-License-Identifier: MIT
// Small kernel-style helpers the iommufd core is written in terms of, so the
// code reads like the design it re-implements (Linux drivers/iommu/iommufd).
#pragma once

#include <atomic>
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <type_traits>

namespace iommusim::iommufd {

// The host CPU page size. iommusim targets x86-64 and AArch64 hosts with 4 KiB
// pages; core.cpp checks sysconf(_SC_PAGESIZE) against it at load time.
inline constexpr uint64_t PAGE_SHIFT = 12;
inline constexpr uint64_t PAGE_SIZE = 1ULL << PAGE_SHIFT;
inline constexpr uint64_t PAGE_MASK = ~(PAGE_SIZE - 1);
// Largest alignment the IOVA allocator prefers (a PMD huge page, as with THP).
inline constexpr uint64_t HPAGE_SIZE = 2ULL << 20;

inline constexpr uint64_t ULONG_MAX_ = UINT64_MAX;

template <typename T> constexpr T align_down(T x, T a) { return x & ~(a - 1); }
template <typename T> constexpr T align_up(T x, T a) { return (x + a - 1) & ~(a - 1); }
template <typename T> constexpr bool is_aligned(T x, T a) { return (x & (a - 1)) == 0; }
constexpr uint64_t div_round_up(uint64_t n, uint64_t d) { return (n + d - 1) / d; }

// Index of the least / most significant set bit; x must be non-zero.
constexpr unsigned ffs64(uint64_t x) { return static_cast<unsigned>(__builtin_ctzll(x)); }
constexpr unsigned fls64(uint64_t x) { return 63u - static_cast<unsigned>(__builtin_clzll(x)); }
// Bits [h:l] set, as the kernel's GENMASK.
constexpr uint64_t genmask(unsigned h, unsigned l) {
  return (~0ULL >> (63 - h)) & (~0ULL << l);
}
constexpr uint64_t roundup_pow_of_two(uint64_t x) {
  return x <= 1 ? 1 : 1ULL << (fls64(x - 1) + 1);
}

template <typename T> bool check_add_overflow(T a, T b, T *res) {
  return __builtin_add_overflow(a, b, res);
}
template <typename T> bool check_sub_overflow(T a, T b, T *res) {
  return __builtin_sub_overflow(a, b, res);
}

#define IOMMUSIM_OFFSETOFEND(type, member) \
  (offsetof(type, member) + sizeof(static_cast<type *>(nullptr)->member))

// A pointer or a negative errno, the C++ shape of the kernel's ERR_PTR idiom.
template <typename T> class [[nodiscard]] err_or {
 public:
  err_or(T *ptr) : ptr_(ptr) {}  // NOLINT: implicit on purpose, as "return ptr;"
  static err_or error(int err) { return err_or(nullptr, err); }
  bool is_err() const { return err_ != 0; }
  int err() const { return err_; }
  T *get() const { return ptr_; }
  T *operator->() const { return ptr_; }
  template <typename U> err_or<U> cast_err() const { return err_or<U>::error(err_); }

 private:
  err_or(T *ptr, int err) : ptr_(ptr), err_(err) {}
  T *ptr_ = nullptr;
  int err_ = 0;
};

// refcount_t semantics over std::atomic<int>.
inline bool refcount_inc_not_zero(std::atomic<int> &r) {
  int v = r.load(std::memory_order_relaxed);
  while (v != 0) {
    if (r.compare_exchange_weak(v, v + 1, std::memory_order_acquire)) return true;
  }
  return false;
}
inline bool refcount_dec_if_one(std::atomic<int> &r) {
  int one = 1;
  return r.compare_exchange_strong(one, 0, std::memory_order_acq_rel);
}
inline bool refcount_dec_and_test(std::atomic<int> &r) {
  return r.fetch_sub(1, std::memory_order_acq_rel) == 1;
}

}  // namespace iommusim::iommufd

namespace iommusim::iommufd {
// container_of(): the object that embeds member at ptr. The embedding types
// here have no virtual bases, for which GCC defines offsetof.
template <typename T, typename M> inline T *container_of_impl(M *ptr, size_t offset) {
  return reinterpret_cast<T *>(reinterpret_cast<char *>(ptr) - offset);
}
}  // namespace iommusim::iommufd
#define IOMMUSIM_CONTAINER_OF(ptr, type, member)                                      \
  ([](auto *p__) {                                                                    \
    _Pragma("GCC diagnostic push") _Pragma("GCC diagnostic ignored \"-Winvalid-offsetof\"") \
    constexpr size_t off__ = offsetof(type, member);                                  \
    _Pragma("GCC diagnostic pop") return ::iommusim::iommufd::container_of_impl<type>(p__, off__); \
  }(ptr))
