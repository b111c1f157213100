// SPDX-License-Identifier: MIT
// The text DMA trace the trace_replayer plays: one DMA a line,
//
//   <gap_cycles> <stream_id> <pasid|-> <addr> <size> <R|W> [ats] [pri]
//
// numbers decimal or 0x-hex; '#' starts a comment; blank lines are skipped.
// gap_cycles: device cycles from the previous line's issue to this one's.
// size: 1 .. 4096, and the access must not cross a 4 KiB boundary (a PCIe
// request never does, PCIe 6.0 §2.2.7). pasid: up to 20 bits (PCIe PASID).
// ats: translate through ATS first; pri: on a translation fault, send a page
// request and retry after a successful response.
//
// The parser is kept apart from the replayer so a fuller format (issue 5:
// traces/FORMAT.md, with a binary form) can replace it.
#pragma once

#include <cstdint>
#include <istream>
#include <string>
#include <vector>

namespace iommusim::models {

struct trace_record {
  uint64_t gap_cycles = 0;
  uint32_t stream_id = 0;
  bool ssid_valid = false;
  uint32_t ssid = 0;
  uint64_t addr = 0;
  uint32_t size = 0;
  bool write = false;
  bool ats = false;
  bool pri = false;
  unsigned line = 0;  // source line, for reports
};

// Parses a whole trace. On error returns false and sets *error to
// "<source>:<line>: <reason>"; *out is then left empty.
bool parse_text_trace(std::istream &in, const std::string &source, std::vector<trace_record> *out,
                      std::string *error);
// The same from a file; a file that cannot be read is "<path>: cannot open: <why>".
bool load_text_trace(const std::string &path, std::vector<trace_record> *out, std::string *error);

}  // namespace iommusim::models
