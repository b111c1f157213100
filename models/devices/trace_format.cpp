// SPDX-License-Identifier: MIT
#include "models/devices/trace_format.h"

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

namespace iommusim::models {

namespace {

// A whole token as an unsigned number (decimal or 0x-hex); no sign, no junk.
bool parse_u64(const std::string &tok, uint64_t *out) {
  if (tok.empty() || tok[0] == '-' || tok[0] == '+') return false;
  const bool hex = tok.size() > 2 && tok[0] == '0' && (tok[1] == 'x' || tok[1] == 'X');
  uint64_t v = 0;
  const size_t start = hex ? 2 : 0;
  const uint64_t base = hex ? 16 : 10;
  for (size_t i = start; i < tok.size(); i++) {
    const char c = tok[i];
    uint64_t d;
    if (c >= '0' && c <= '9') d = static_cast<uint64_t>(c - '0');
    else if (hex && c >= 'a' && c <= 'f') d = static_cast<uint64_t>(c - 'a' + 10);
    else if (hex && c >= 'A' && c <= 'F') d = static_cast<uint64_t>(c - 'A' + 10);
    else return false;
    if (v > (UINT64_MAX - d) / base) return false;  // overflow
    v = v * base + d;
  }
  *out = v;
  return true;
}

}  // namespace

bool parse_text_trace(std::istream &in, const std::string &source, std::vector<trace_record> *out,
                      std::string *error) {
  out->clear();
  std::string text;
  unsigned lineno = 0;
  auto fail = [&](const std::string &why) {
    *error = source + ":" + std::to_string(lineno) + ": " + why;
    out->clear();
    return false;
  };
  while (std::getline(in, text)) {
    lineno++;
    if (const size_t hash = text.find('#'); hash != std::string::npos) text.resize(hash);
    std::istringstream ls(text);
    std::vector<std::string> tok;
    for (std::string t; ls >> t;) tok.push_back(t);
    if (tok.empty()) continue;
    if (tok.size() < 6)
      return fail("expected '<gap_cycles> <stream_id> <pasid|-> <addr> <size> <R|W> [ats] [pri]', got " +
                  std::to_string(tok.size()) + " fields");
    trace_record r;
    r.line = lineno;
    uint64_t v = 0;
    if (!parse_u64(tok[0], &r.gap_cycles)) return fail("bad gap_cycles '" + tok[0] + "'");
    if (!parse_u64(tok[1], &v) || v > UINT32_MAX) return fail("bad stream_id '" + tok[1] + "'");
    r.stream_id = static_cast<uint32_t>(v);
    if (tok[2] != "-") {
      if (!parse_u64(tok[2], &v)) return fail("bad pasid '" + tok[2] + "' (a number or '-')");
      if (v >= (1u << 20)) return fail("pasid " + tok[2] + " does not fit in 20 bits");
      r.ssid_valid = true;
      r.ssid = static_cast<uint32_t>(v);
    }
    if (!parse_u64(tok[3], &r.addr)) return fail("bad addr '" + tok[3] + "'");
    if (!parse_u64(tok[4], &v)) return fail("bad size '" + tok[4] + "'");
    if (v == 0 || v > 4096) return fail("size " + tok[4] + " is not in 1..4096");
    r.size = static_cast<uint32_t>(v);
    if ((r.addr & 4095) + r.size > 4096)
      return fail("access [" + tok[3] + ", +" + tok[4] + ") crosses a 4 KiB boundary");
    if (tok[5] == "R" || tok[5] == "r") r.write = false;
    else if (tok[5] == "W" || tok[5] == "w") r.write = true;
    else return fail("direction must be R or W, got '" + tok[5] + "'");
    for (size_t i = 6; i < tok.size(); i++) {
      bool *flag = tok[i] == "ats" ? &r.ats : tok[i] == "pri" ? &r.pri : nullptr;
      if (!flag) return fail("unknown flag '" + tok[i] + "' (expected ats or pri)");
      if (*flag) return fail("flag '" + tok[i] + "' given twice");
      *flag = true;
    }
    out->push_back(r);
  }
  if (in.bad()) return fail("read error");
  return true;
}

bool load_text_trace(const std::string &path, std::vector<trace_record> *out, std::string *error) {
  std::ifstream f(path);
  if (!f) {
    *error = path + ": cannot open: " + std::strerror(errno);
    out->clear();
    return false;
  }
  return parse_text_trace(f, path, out, error);
}

}  // namespace iommusim::models
