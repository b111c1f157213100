// SPDX-License-Identifier: MIT
// The DMA trace (traces/FORMAT.md). Its text form, one DMA a line:
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
// The same records have a binary form (a versioned 32-byte header, then
// fixed 32-byte little-endian records), and either form may be wrapped in one
// zstd frame; traces/FORMAT.md specifies all three. Text and binary convert
// into each other losslessly (comments aside). A text trace may start with
// the header comment "# iommusim-trace v1".
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
// A trace file in any form (text, binary, either zstd-compressed), told apart
// by its first bytes; a file that cannot be read is "<path>: cannot open: <why>".
// (The name predates the binary form; load_trace() is the same call.)
bool load_text_trace(const std::string &path, std::vector<trace_record> *out, std::string *error);

inline constexpr unsigned kTraceVersion = 1;
inline constexpr char kTraceMagic[8] = {'I', 'O', 'M', 'M', 'U', 'T', 'R', 'C'};
inline constexpr size_t kTraceHeaderBytes = 32, kTraceRecordBytes = 32;
inline constexpr const char *kTraceTextHeader = "# iommusim-trace v1";

enum class trace_encoding { text, binary };

// What a loaded file was.
struct trace_file_info {
  trace_encoding encoding = trace_encoding::text;
  bool zstd = false;
  unsigned version = kTraceVersion;
  uint64_t file_bytes = 0;  // on disk
  uint64_t raw_bytes = 0;   // after decompression
};

bool load_trace(const std::string &path, std::vector<trace_record> *out, std::string *error,
                trace_file_info *info = nullptr);
// The same for a file's bytes already in memory; source names it in errors.
bool parse_trace_bytes(const std::string &bytes, const std::string &source,
                       std::vector<trace_record> *out, std::string *error,
                       trace_file_info *info = nullptr);

// One record as a text line (no newline), the canonical spelling:
// "<gap> 0x<sid> <pasid|-> 0x<addr> <size> <R|W>[ ats][ pri]".
std::string format_trace_record(const trace_record &r);
// A whole trace in one form (text starts with kTraceTextHeader).
std::string encode_trace(const std::vector<trace_record> &records, trace_encoding enc);
// Writes records in one form, zstd-compressed at zstd_level (1..19) if zstd.
bool write_trace(const std::string &path, const std::vector<trace_record> &records,
                 trace_encoding enc, bool zstd, std::string *error, int zstd_level = 9);
// The record's own validity (size, 4 KiB crossing, PASID width); "" if valid.
std::string check_trace_record(const trace_record &r);

}  // namespace iommusim::models
