// SPDX-License-Identifier: MIT
// A user-space dirty bitmap that covers an IOVA range (the kernel's
// iova_bitmap): bit n of the user's bytes at data stands for
// [iova + n * page_size, iova + (n + 1) * page_size). Bits are numbered as
// set_bit() numbers them on a little-endian machine: byte n / 8, bit n % 8, so
// any byte alignment of data works.
//
// The bitmap is walked in windows (up to 2 MiB of bitmap at a time, as the
// kernel pins 512 pages of it): each window is read from the user, bits are
// ORed into it, and the changed bytes are written back. A range recorded past
// the end of the current window is remembered and applied to later windows.
#pragma once

#include <cstdint>
#include <vector>

#include "util.h"

namespace iommusim::iommufd {

class mm_struct;

class iova_bitmap {
 public:
  // -ENOMEM (as the kernel returns for any allocation/pinning failure) when
  // the user bitmap is unreadable; -EINVAL for a zero page size.
  static err_or<iova_bitmap> alloc(mm_struct &mm, uint64_t iova, uint64_t length,
                                   uint64_t page_size, uint64_t data);
  ~iova_bitmap() = default;

  using window_fn = int (*)(iova_bitmap *bitmap, uint64_t iova, uint64_t length, void *opaque);
  // Call fn for each window's IOVA range; stops at the first error, returns it.
  int for_each(void *opaque, window_fn fn);
  // Mark [iova, iova + length) dirty.
  void set(uint64_t iova, uint64_t length);

 private:
  iova_bitmap(mm_struct &mm, uint64_t iova, uint64_t length, uint64_t page_size, uint64_t data);
  int load_window(uint64_t first_byte);
  int flush_window();
  void set_bits(uint64_t first_bit, uint64_t last_bit);

  mm_struct &mm_;
  uint64_t iova_;       // IOVA of bit 0
  uint64_t length_;     // bytes of IOVA covered
  unsigned pgshift_;    // log2(page_size)
  uint64_t data_;       // user address of the bitmap
  uint64_t total_bits_;
  // the window: bitmap bytes [win_first_byte_, win_first_byte_ + win_.size())
  uint64_t win_first_byte_ = 0;
  std::vector<uint8_t> win_;
  std::vector<uint8_t> win_orig_;
  bool win_loaded_ = false;
  // dirty ranges (in bits) that start beyond the loaded window
  std::vector<std::pair<uint64_t, uint64_t>> ahead_;
};

}  // namespace iommusim::iommufd
