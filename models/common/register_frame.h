// SPDX-License-Identifier: MIT
// A register frame on a TLM target socket, as both IOMMUs' are: 32- and
// 64-bit accesses, naturally aligned, inside the frame, no byte enables
// (SMMUv3 §6.1, VT-d §10.2). What the registers do is the model's: it
// passes its reg_read(off, len) and reg_write(off, len, value).
#pragma once

#include <tlm>

#include <cstdint>
#include <cstring>

namespace iommusim::models {

// Whether tr's size and place suit a frame of frame_bytes.
inline bool register_access_fits(const tlm::tlm_generic_payload &tr, uint64_t frame_bytes) {
  const uint64_t off = tr.get_address();
  const unsigned len = tr.get_data_length();
  return (len == 4 || len == 8) && off % len == 0 && off + len <= frame_bytes;
}

// Whether tr is an access the frame of frame_bytes takes.
inline bool register_access_ok(const tlm::tlm_generic_payload &tr, uint64_t frame_bytes) {
  return register_access_fits(tr, frame_bytes) && !tr.get_byte_enable_ptr();
}

// Performs an access register_access_ok() took; the response is OK.
template <class Read, class Write>
void register_access(tlm::tlm_generic_payload &tr, Read &&read, Write &&write) {
  const auto off = static_cast<uint32_t>(tr.get_address());
  const unsigned len = tr.get_data_length();
  if (tr.is_read()) {
    const uint64_t v = read(off, len);
    std::memcpy(tr.get_data_ptr(), &v, len);
  } else if (tr.is_write()) {
    uint64_t v = 0;
    std::memcpy(&v, tr.get_data_ptr(), len);
    write(off, len, v);
  }
  tr.set_response_status(tlm::TLM_OK_RESPONSE);
}

// transport_dbg of the frame: reads without side effects; the bytes read, or 0.
template <class Read>
unsigned register_peek(tlm::tlm_generic_payload &tr, uint64_t frame_bytes, Read &&read) {
  if (!tr.is_read() || !register_access_fits(tr, frame_bytes)) return 0;
  const unsigned len = tr.get_data_length();
  const uint64_t v = read(static_cast<uint32_t>(tr.get_address()), len);
  std::memcpy(tr.get_data_ptr(), &v, len);
  return len;
}

}  // namespace iommusim::models
