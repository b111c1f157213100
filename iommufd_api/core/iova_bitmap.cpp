// SPDX-License-Identifier: MIT
// The user's dirty bitmap, walked in windows; see iova_bitmap.h.
#include "iova_bitmap.h"

#include <algorithm>

#include "mm.h"

namespace iommusim::iommufd {

namespace {
constexpr uint64_t kWindowBytes = 2ULL << 20;  // 512 pages of bitmap, as the kernel pins
}

iova_bitmap::iova_bitmap(mm_struct &mm, uint64_t iova, uint64_t length, uint64_t page_size,
                         uint64_t data)
    : mm_(mm),
      iova_(iova),
      length_(length),
      pgshift_(ffs64(page_size)),
      data_(data),
      total_bits_(((length - 1) >> ffs64(page_size)) + 1) {}

err_or<iova_bitmap> iova_bitmap::alloc(mm_struct &mm, uint64_t iova, uint64_t length,
                                       uint64_t page_size, uint64_t data) {
  if (!page_size || !length) return err_or<iova_bitmap>::error(-EINVAL);
  auto *b = new iova_bitmap(mm, iova, length, page_size, data);
  // The kernel pins the first window here; an unreadable bitmap fails now.
  if (int rc = b->load_window(0)) {
    delete b;
    return err_or<iova_bitmap>::error(rc);
  }
  return b;
}

int iova_bitmap::load_window(uint64_t first_byte) {
  const uint64_t total_bytes = div_round_up(total_bits_, 8);
  uint64_t n = std::min(kWindowBytes, total_bytes - first_byte);
  win_first_byte_ = first_byte;
  win_.assign(n, 0);
  if (mm_.copy_from_user(win_.data(), data_ + first_byte, n)) {
    win_loaded_ = false;
    return -EFAULT;
  }
  win_orig_ = win_;
  win_loaded_ = true;
  // Apply what was recorded ahead of this window.
  const uint64_t wfirst = first_byte * 8, wlast = (first_byte + n) * 8 - 1;
  std::vector<std::pair<uint64_t, uint64_t>> still_ahead;
  for (auto [f, l] : ahead_) {
    uint64_t a = std::max(f, wfirst), b = std::min(l, wlast);
    if (a <= b) set_bits(a, b);
    if (l > wlast) still_ahead.emplace_back(std::max(f, wlast + 1), l);
  }
  ahead_ = std::move(still_ahead);
  return 0;
}

int iova_bitmap::flush_window() {
  if (!win_loaded_) return 0;
  // Write back only the runs of bytes that changed.
  size_t i = 0;
  while (i < win_.size()) {
    if (win_[i] == win_orig_[i]) {
      i++;
      continue;
    }
    size_t j = i + 1;
    while (j < win_.size() && win_[j] != win_orig_[j]) j++;
    if (mm_.copy_to_user(data_ + win_first_byte_ + i, win_.data() + i, j - i)) return -EFAULT;
    i = j;
  }
  win_orig_ = win_;
  return 0;
}

void iova_bitmap::set_bits(uint64_t first_bit, uint64_t last_bit) {
  // bits are relative to the whole bitmap and inside the loaded window
  for (uint64_t bit = first_bit; bit <= last_bit; bit++) {
    uint64_t byte = bit / 8 - win_first_byte_;
    if ((bit % 8) == 0 && bit + 7 <= last_bit) {
      win_[byte] = 0xff;
      bit += 7;
      continue;
    }
    win_[byte] |= static_cast<uint8_t>(1u << (bit % 8));
  }
}

void iova_bitmap::set(uint64_t iova, uint64_t length) {
  if (!length || iova + length - 1 < iova_ || iova > iova_ + length_ - 1) return;
  uint64_t first = iova < iova_ ? 0 : (iova - iova_) >> pgshift_;
  uint64_t last = (std::min(iova + length - 1, iova_ + length_ - 1) - iova_) >> pgshift_;
  if (last >= total_bits_) last = total_bits_ - 1;
  const uint64_t wfirst = win_first_byte_ * 8;
  const uint64_t wlast = wfirst + win_.size() * 8 - 1;
  if (first < wfirst) {
    // Behind the window (already written back): update the user bytes directly.
    uint64_t behind_last = std::min(last, wfirst - 1);
    for (uint64_t bit = first; bit <= behind_last; bit++) {
      uint8_t byte;
      if (mm_.copy_from_user(&byte, data_ + bit / 8, 1)) return;
      byte |= static_cast<uint8_t>(1u << (bit % 8));
      if (mm_.copy_to_user(data_ + bit / 8, &byte, 1)) return;
    }
    first = wfirst;
    if (first > last) return;
  }
  if (first <= wlast) set_bits(first, std::min(last, wlast));
  if (last > wlast) ahead_.emplace_back(std::max(first, wlast + 1), last);
}

int iova_bitmap::for_each(void *opaque, window_fn fn) {
  const uint64_t total_bytes = div_round_up(total_bits_, 8);
  uint64_t first_byte = 0;
  for (;;) {
    if (!win_loaded_ || win_first_byte_ != first_byte) {
      if (int rc = load_window(first_byte)) return rc;
    }
    uint64_t first_bit = first_byte * 8;
    uint64_t last_bit = std::min((first_byte + win_.size()) * 8, total_bits_) - 1;
    uint64_t iova = iova_ + (first_bit << pgshift_);
    uint64_t last_iova = std::min(iova_ + length_ - 1, iova_ + (((last_bit + 1) << pgshift_) - 1));
    int rc = fn(this, iova, last_iova - iova + 1, opaque);
    int frc = flush_window();
    if (rc) return rc;
    if (frc) return frc;
    first_byte += win_.size();
    if (first_byte >= total_bytes) return 0;
  }
}

}  // namespace iommusim::iommufd
