// SPDX-License-Identifier: MIT
#include "models/devices/trace_format.h"

#include <zstd.h>

#include <cerrno>
#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iterator>
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
    // The version header (traces/FORMAT.md), when the file has one.
    if (lineno == 1 && text.rfind("# iommusim-trace v", 0) == 0) {
      uint64_t ver = 0;
      std::string v = text.substr(18);
      while (!v.empty() && (v.back() == '\r' || v.back() == ' ')) v.pop_back();
      if (!parse_u64(v, &ver)) return fail("bad version header '" + text + "'");
      if (ver != kTraceVersion)
        return fail("unsupported trace version " + v + " (this build reads v" +
                    std::to_string(kTraceVersion) + ")");
      continue;
    }
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

namespace {

constexpr uint8_t kZstdMagic[4] = {0x28, 0xb5, 0x2f, 0xfd};

uint64_t get_le(const unsigned char *p, unsigned n) {
  uint64_t v = 0;
  for (unsigned i = 0; i < n; i++) v |= uint64_t{p[i]} << (8 * i);
  return v;
}

void put_le(std::string *s, uint64_t v, unsigned n) {
  for (unsigned i = 0; i < n; i++) s->push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}

// The binary form's record flags.
constexpr uint8_t kFlagWrite = 1, kFlagAts = 2, kFlagPri = 4, kFlagPasid = 8;

bool parse_binary_trace(const std::string &b, const std::string &source, std::vector<trace_record> *out,
                        std::string *error, unsigned *version) {
  out->clear();
  auto fail = [&](const std::string &where, const std::string &why) {
    *error = source + ":" + where + ": " + why;
    out->clear();
    return false;
  };
  const auto *p = reinterpret_cast<const unsigned char *>(b.data());
  if (b.size() < kTraceHeaderBytes) return fail("0", "truncated header (" + std::to_string(b.size()) + " bytes, need 32)");
  const uint64_t ver = get_le(p + 8, 2), hdr = get_le(p + 10, 2), flags = get_le(p + 12, 4);
  const uint64_t count = get_le(p + 16, 8), rec = get_le(p + 24, 4);
  *version = static_cast<unsigned>(ver);
  if (ver != kTraceVersion)
    return fail("0", "unsupported trace version " + std::to_string(ver) + " (this build reads v" +
                         std::to_string(kTraceVersion) + ")");
  if (hdr != kTraceHeaderBytes) return fail("0", "header size " + std::to_string(hdr) + " is not 32");
  if (flags != 0) return fail("0", "unknown header flags " + std::to_string(flags));
  if (rec != kTraceRecordBytes) return fail("0", "record size " + std::to_string(rec) + " is not 32");
  const uint64_t body = b.size() - kTraceHeaderBytes;
  if (body % kTraceRecordBytes != 0 || body / kTraceRecordBytes != count)
    return fail("0", "header says " + std::to_string(count) + " records but the file holds " +
                         std::to_string(body / kTraceRecordBytes) +
                         (body % kTraceRecordBytes ? " and a partial one" : ""));
  out->reserve(count);
  for (uint64_t i = 0; i < count; i++) {
    const unsigned char *q = p + kTraceHeaderBytes + i * kTraceRecordBytes;
    trace_record r;
    r.line = static_cast<unsigned>(i + 1);
    r.gap_cycles = get_le(q, 8);
    r.addr = get_le(q + 8, 8);
    r.stream_id = static_cast<uint32_t>(get_le(q + 16, 4));
    r.ssid = static_cast<uint32_t>(get_le(q + 20, 4));
    r.size = static_cast<uint32_t>(get_le(q + 24, 4));
    const uint8_t f = q[28];
    const std::string where = std::to_string(i + 1);
    if (f & ~(kFlagWrite | kFlagAts | kFlagPri | kFlagPasid)) return fail(where, "unknown record flags " + std::to_string(f));
    if (q[29] || q[30] || q[31]) return fail(where, "reserved bytes are not zero");
    r.write = f & kFlagWrite;
    r.ats = f & kFlagAts;
    r.pri = f & kFlagPri;
    r.ssid_valid = f & kFlagPasid;
    if (!r.ssid_valid && r.ssid != 0) return fail(where, "pasid field set without the PASID flag");
    if (const std::string why = check_trace_record(r); !why.empty()) return fail(where, why);
    out->push_back(r);
  }
  return true;
}

bool zstd_decompress(const std::string &in, std::string *out, std::string *why) {
  out->clear();
  ZSTD_DCtx *d = ZSTD_createDCtx();
  ZSTD_inBuffer ib{in.data(), in.size(), 0};
  std::string chunk(ZSTD_DStreamOutSize(), '\0');
  size_t ret = 0;
  for (;;) {
    ZSTD_outBuffer ob{chunk.data(), chunk.size(), 0};
    ret = ZSTD_decompressStream(d, &ob, &ib);
    if (ZSTD_isError(ret)) {
      *why = std::string("zstd: ") + ZSTD_getErrorName(ret);
      ZSTD_freeDCtx(d);
      return false;
    }
    out->append(chunk.data(), ob.pos);
    // All input taken and the output not full: nothing more is buffered.
    if (ib.pos == ib.size && ob.pos < ob.size) break;
  }
  ZSTD_freeDCtx(d);
  if (ret != 0) {
    *why = "zstd: truncated frame";
    return false;
  }
  return true;
}

}  // namespace

std::string check_trace_record(const trace_record &r) {
  if (r.size == 0 || r.size > 4096) return "size " + std::to_string(r.size) + " is not in 1..4096";
  if ((r.addr & 4095) + r.size > 4096) {
    char a[32];
    std::snprintf(a, sizeof a, "0x%" PRIx64, r.addr);
    return std::string("access [") + a + ", +" + std::to_string(r.size) + ") crosses a 4 KiB boundary";
  }
  if (r.ssid_valid && r.ssid >= (1u << 20)) return "pasid " + std::to_string(r.ssid) + " does not fit in 20 bits";
  return {};
}

bool parse_trace_bytes(const std::string &bytes, const std::string &source, std::vector<trace_record> *out,
                       std::string *error, trace_file_info *info) {
  trace_file_info fi;
  fi.file_bytes = bytes.size();
  const std::string *raw = &bytes;
  std::string plain;
  if (bytes.size() >= 4 && std::memcmp(bytes.data(), kZstdMagic, 4) == 0) {
    std::string why;
    if (!zstd_decompress(bytes, &plain, &why)) {
      *error = source + ":0: " + why;
      out->clear();
      return false;
    }
    fi.zstd = true;
    raw = &plain;
  }
  fi.raw_bytes = raw->size();
  bool ok;
  if (raw->size() >= 8 && std::memcmp(raw->data(), kTraceMagic, 8) == 0) {
    fi.encoding = trace_encoding::binary;
    ok = parse_binary_trace(*raw, source, out, error, &fi.version);
  } else {
    fi.encoding = trace_encoding::text;
    std::istringstream in(*raw);
    ok = parse_text_trace(in, source, out, error);
  }
  if (ok && info) *info = fi;
  return ok;
}

bool load_trace(const std::string &path, std::vector<trace_record> *out, std::string *error,
                trace_file_info *info) {
  std::ifstream f(path, std::ios::binary);
  if (!f) {
    *error = path + ": cannot open: " + std::strerror(errno);
    out->clear();
    return false;
  }
  std::string bytes((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  if (f.bad()) {
    *error = path + ": read error";
    out->clear();
    return false;
  }
  return parse_trace_bytes(bytes, path, out, error, info);
}

bool load_text_trace(const std::string &path, std::vector<trace_record> *out, std::string *error) {
  return load_trace(path, out, error);
}

std::string format_trace_record(const trace_record &r) {
  char buf[160];
  int n;
  if (r.ssid_valid)
    n = std::snprintf(buf, sizeof buf, "%" PRIu64 " 0x%x %u 0x%" PRIx64 " %u %c", r.gap_cycles, r.stream_id,
                      r.ssid, r.addr, r.size, r.write ? 'W' : 'R');
  else
    n = std::snprintf(buf, sizeof buf, "%" PRIu64 " 0x%x - 0x%" PRIx64 " %u %c", r.gap_cycles, r.stream_id,
                      r.addr, r.size, r.write ? 'W' : 'R');
  std::string s(buf, static_cast<size_t>(n));
  if (r.ats) s += " ats";
  if (r.pri) s += " pri";
  return s;
}

std::string encode_trace(const std::vector<trace_record> &records, trace_encoding enc) {
  std::string s;
  if (enc == trace_encoding::text) {
    s.reserve(records.size() * 32 + 32);
    s += kTraceTextHeader;
    s += '\n';
    for (const trace_record &r : records) {
      s += format_trace_record(r);
      s += '\n';
    }
    return s;
  }
  s.reserve(kTraceHeaderBytes + records.size() * kTraceRecordBytes);
  s.append(kTraceMagic, 8);
  put_le(&s, kTraceVersion, 2);
  put_le(&s, kTraceHeaderBytes, 2);
  put_le(&s, 0, 4);  // flags
  put_le(&s, records.size(), 8);
  put_le(&s, kTraceRecordBytes, 4);
  put_le(&s, 0, 4);
  for (const trace_record &r : records) {
    put_le(&s, r.gap_cycles, 8);
    put_le(&s, r.addr, 8);
    put_le(&s, r.stream_id, 4);
    put_le(&s, r.ssid_valid ? r.ssid : 0, 4);
    put_le(&s, r.size, 4);
    put_le(&s, (r.write ? kFlagWrite : 0) | (r.ats ? kFlagAts : 0) | (r.pri ? kFlagPri : 0) |
                   (r.ssid_valid ? kFlagPasid : 0), 1);
    put_le(&s, 0, 3);
  }
  return s;
}

bool write_trace(const std::string &path, const std::vector<trace_record> &records, trace_encoding enc,
                 bool zstd, std::string *error, int zstd_level) {
  std::string data = encode_trace(records, enc);
  if (zstd) {
    std::string z(ZSTD_compressBound(data.size()), '\0');
    const size_t n = ZSTD_compress(z.data(), z.size(), data.data(), data.size(), zstd_level);
    if (ZSTD_isError(n)) {
      *error = path + ": zstd: " + ZSTD_getErrorName(n);
      return false;
    }
    z.resize(n);
    data.swap(z);
  }
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  if (!f) {
    *error = path + ": cannot create: " + std::strerror(errno);
    return false;
  }
  f.write(data.data(), static_cast<std::streamsize>(data.size()));
  f.close();
  if (!f) {
    *error = path + ": write error: " + std::strerror(errno);
    return false;
  }
  return true;
}

}  // namespace iommusim::models
