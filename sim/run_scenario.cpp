// SPDX-License-Identifier: MIT
#include "run_scenario.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <memory>
#include <set>
#include <sstream>

#include "iommusim/iommufd.h"
#include "iommusim/iommufd_sim.h"
#include "iommusim/vfio.h"
#include "models/devices/trace_replayer.h"
#include "run_report.h"
#include "sim/config.h"
#include "sim/platform.h"
#include "traces/generators/generator.h"

namespace iommusim::run {

namespace fs = std::filesystem;
using nlohmann::ordered_json;

// MMU-600 r2p1-like (Arm CoreLink MMU-600 TRM: a 32-entry fully associative
// micro TLB per TBU, a 2048-entry 4-way main TLB (here 'main_tlb', the TCU's
// TLB), per-level walk caches), memory of a server socket: ~100 ns, 32 B/cycle.
const char *default_platform_yaml() {
  return R"(timing: cycle
memory: {clock_mhz: 1000, read_latency: 100, write_latency: 100, bytes_per_cycle: 32, ports: 4}
iommus:
  - name: smmu0
    type: smmuv3
    clock_mhz: 1000
    idr: {oas: 48, sid_bits: 16, ssid_bits: 20, ats: true, pri: true, httu: 2}
    micro_tlb: {entries: 32, ways: 0, policy: lru, lookup: 1}
    main_tlb: {entries: 2048, ways: 4, policy: plru, lookup: 3}
    config_cache: {entries: 64, ways: 0, policy: lru, lookup: 2}
    walk_cache:
      s1:
        - {level: 0, entries: 16}
        - {level: 1, entries: 32}
        - {level: 2, entries: 128, ways: 4, policy: plru}
    slots: {translation: 16, walk: 4}
devices: []
)";
}

namespace {

// A Xeon-like Intel VT-d unit (the IOTLB reach of sim/configs/vtd_default.yaml:
// 64 entries; per-level paging-structure caches), the same memory.
const char *vtd_platform_yaml() {
  return R"(timing: cycle
memory: {clock_mhz: 1000, read_latency: 100, write_latency: 100, bytes_per_cycle: 32, ports: 4}
iommus:
  - name: dmar0
    type: vtd
    clock_mhz: 1000
    cap: {sagaw: 0b00100, mgaw: 48, sllps: 0b11, psi: true, mamv: 18, nfr: 8}
    ecap: {smts: true, pasid: true, pss: 19, prs: true, dt: true, ssads: true, nest: true}
    iotlb: {entries: 64, ways: 0, policy: lru, lookup: 2}
    context_cache: {entries: 32, ways: 0, policy: lru, lookup: 2}
    pasid_cache: {entries: 32, ways: 0, policy: lru, lookup: 2}
    pwc:
      ss: [{level: 1, entries: 8}, {level: 2, entries: 16}, {level: 3, entries: 32}]
      fs: [{level: 1, entries: 8}, {level: 2, entries: 16}, {level: 3, entries: 32}]
    slots: {translation: 16, walk: 4}
devices: []
)";
}

}  // namespace

std::vector<std::string> builtin_models() { return {"smmuv3", "vtd"}; }

bool builtin_platform(const std::string &model, YAML::Node *out, std::string *source) {
  if (model == "smmuv3") {
    *out = YAML::Load(default_platform_yaml());
    *source = "<built-in smmuv3 (MMU-600-like)>";
  } else if (model == "vtd") {
    *out = YAML::Load(vtd_platform_yaml());
    *source = "<built-in vtd (Xeon-like)>";
  } else {
    return false;
  }
  return true;
}

const char *iotlb_cache_name(const std::string &model) {
  return model == "smmuv3" ? "main_tlb" : "iotlb";
}

scenario default_scenario() {
  scenario sc;
  sc.name = "nic_rx_100g";
  sc.description =
      "100 Gb/s-class NIC receive: 1500 B frames at line rate into recycled 4 KiB page_pool pages, "
      "descriptor prefetch and 64 B completions";
  sc.platform = YAML::Load(default_platform_yaml());
  workload w;
  w.generator = "nic_rx";
  w.where = "<built-in>";
  sc.workloads.push_back(w);
  return sc;
}

bool parse_page_size(const std::string &text, uint64_t *out) {
  uint64_t v = 0;
  if (!traces::parse_size(text, &v)) return false;
  static const std::set<uint64_t> ok = {4096, 16384, 65536, 2ULL << 20, 32ULL << 20, 512ULL << 20, 1ULL << 30};
  if (!ok.count(v)) return false;
  *out = v;
  return true;
}

namespace {

std::string at(const std::string &file, const YAML::Node &n) {
  const YAML::Mark m = n.Mark();
  return file + ":" + std::to_string(m.line + 1) + ":" + std::to_string(m.column + 1);
}

std::string scalar_text(const YAML::Node &n) { return n.IsScalar() ? n.Scalar() : YAML::Dump(n); }

}  // namespace

bool apply_set(YAML::Node root, const std::string &key, const std::string &value, std::string *error) {
  // Split "a.b[2].c" / "a.b.2.c" into parts.
  std::vector<std::string> parts;
  std::string cur;
  for (char c : key) {
    if (c == '.' || c == '[' || c == ']') {
      if (!cur.empty()) parts.push_back(cur);
      cur.clear();
    } else {
      cur += c;
    }
  }
  if (!cur.empty()) parts.push_back(cur);
  if (parts.empty()) {
    *error = "--set " + key + ": empty key";
    return false;
  }
  YAML::Node val;
  try {
    val = YAML::Load(value);
  } catch (const YAML::Exception &e) {
    *error = "--set " + key + ": bad value '" + value + "': " + e.msg;
    return false;
  }
  std::vector<YAML::Node> chain{root};
  for (size_t i = 0; i < parts.size(); i++) {
    YAML::Node n = chain.back();
    const std::string &p = parts[i];
    const bool last = i + 1 == parts.size();
    const bool index = std::all_of(p.begin(), p.end(), ::isdigit);
    if (index) {
      if (!n.IsSequence()) {
        *error = "--set " + key + ": '" + p + "' indexes something that is not a list";
        return false;
      }
      const size_t k = std::stoul(p);
      if (k >= n.size()) {
        *error = "--set " + key + ": index " + p + " is past the list's " + std::to_string(n.size()) + " entries";
        return false;
      }
      if (last) {
        n[k] = val;
        return true;
      }
      chain.push_back(n[k]);
    } else {
      if (!n.IsMap() && !n.IsNull()) {
        *error = "--set " + key + ": '" + p + "' names a key inside something that is not a mapping";
        return false;
      }
      if (last) {
        n[p] = val;
        return true;
      }
      if (!n[p]) n[p] = YAML::Node(YAML::NodeType::Map);
      chain.push_back(n[p]);
    }
  }
  return true;
}

bool load_scenario(const std::string &path, scenario *out, std::string *error) {
  YAML::Node doc;
  try {
    doc = YAML::LoadFile(path);
  } catch (const YAML::BadFile &) {
    *error = path + ": cannot open: " + std::strerror(errno ? errno : ENOENT);
    return false;
  } catch (const YAML::ParserException &e) {
    *error = path + ":" + std::to_string(e.mark.line + 1) + ":" + std::to_string(e.mark.column + 1) + ": " + e.msg;
    return false;
  }
  if (!doc.IsMap()) {
    *error = path + ":1:1: a scenario is a mapping (name, platform, workloads, page_size, set)";
    return false;
  }
  scenario sc = default_scenario();
  sc.source = path;
  sc.workloads.clear();
  sc.description.clear();
  const fs::path dir = fs::absolute(path).parent_path();
  auto rel = [&](const std::string &p) { return fs::path(p).is_absolute() ? p : (dir / p).lexically_normal().string(); };
  static const std::set<std::string> keys = {"name",      "description", "platform", "iommu",
                                             "page_size", "outstanding", "workloads", "set"};
  for (auto it = doc.begin(); it != doc.end(); ++it) {
    const std::string k = it->first.as<std::string>();
    const YAML::Node v = it->second;
    if (!keys.count(k)) {
      *error = at(path, it->first) + ": unknown key '" + k +
               "' (keys: name, description, platform, iommu, page_size, outstanding, workloads, set)";
      return false;
    }
    if (k == "name" || k == "description" || k == "iommu") {
      if (!v.IsScalar()) {
        *error = at(path, v) + ": " + k + ": expected a string";
        return false;
      }
      (k == "name" ? sc.name : k == "description" ? sc.description : sc.iommu) = v.Scalar();
    } else if (k == "platform") {
      if (v.IsScalar()) {
        const std::string p = rel(v.Scalar());
        try {
          sc.platform = YAML::LoadFile(p);
        } catch (const YAML::BadFile &) {
          *error = at(path, v) + ": platform: cannot open '" + p + "'";
          return false;
        } catch (const YAML::ParserException &e) {
          *error = p + ":" + std::to_string(e.mark.line + 1) + ":" + std::to_string(e.mark.column + 1) + ": " + e.msg;
          return false;
        }
        sc.platform_source = p;
      } else if (v.IsMap()) {
        sc.platform = YAML::Clone(v);
        sc.platform_source = path + " (inline platform)";
      } else {
        *error = at(path, v) + ": platform: expected a file name or a mapping";
        return false;
      }
    } else if (k == "page_size") {
      if (!v.IsScalar() || !parse_page_size(v.Scalar(), &sc.page_size)) {
        *error = at(path, v) + ": page_size: '" + scalar_text(v) + "' is not one of 4K, 16K, 64K, 2M, 32M, 512M, 1G";
        return false;
      }
    } else if (k == "outstanding") {
      uint64_t n = 0;
      if (!v.IsScalar() || !traces::parse_size(v.Scalar(), &n) || n < 1 || n > 1024) {
        *error = at(path, v) + ": outstanding: '" + scalar_text(v) + "' is not 1 .. 1024";
        return false;
      }
      sc.outstanding = static_cast<unsigned>(n);
    } else if (k == "set") {
      if (!v.IsMap()) {
        *error = at(path, v) + ": set: expected a mapping of KEY: VALUE";
        return false;
      }
      for (auto s = v.begin(); s != v.end(); ++s) sc.sets.emplace_back(s->first.as<std::string>(), scalar_text(s->second));
    } else if (k == "workloads") {
      if (!v.IsSequence() || v.size() == 0) {
        *error = at(path, v) + ": workloads: expected a non-empty list";
        return false;
      }
      for (const YAML::Node &w : v) {
        workload wl;
        wl.where = at(path, w);
        if (!w.IsMap()) {
          *error = wl.where + ": a workload is {trace: FILE} or {generate: NAME, params: {...}}";
          return false;
        }
        for (auto f = w.begin(); f != w.end(); ++f) {
          const std::string fk = f->first.as<std::string>();
          if (fk == "trace" && f->second.IsScalar()) wl.trace = rel(f->second.Scalar());
          else if (fk == "generate" && f->second.IsScalar()) wl.generator = f->second.Scalar();
          else if (fk == "params" && f->second.IsMap()) {
            for (auto q = f->second.begin(); q != f->second.end(); ++q)
              wl.params[q->first.as<std::string>()] = scalar_text(q->second);
          } else {
            *error = at(path, f->first) + ": workloads: unknown or malformed key '" + fk +
                     "' (keys: trace, generate, params)";
            return false;
          }
        }
        if (wl.trace.empty() == wl.generator.empty()) {
          *error = wl.where + ": a workload needs exactly one of trace and generate";
          return false;
        }
        if (!wl.trace.empty() && !wl.params.empty()) {
          *error = wl.where + ": params go with generate, not trace";
          return false;
        }
        sc.workloads.push_back(wl);
      }
    }
  }
  if (sc.workloads.empty()) {
    *error = path + ":1:1: workloads: the scenario needs at least one";
    return false;
  }
  *out = sc;
  return true;
}

namespace {

// Anonymous memory aligned to `align`, the IOVA chunk a program maps.
struct user_chunk {
  void *base = MAP_FAILED;
  size_t reserved = 0;
  uint8_t *p = nullptr;
  size_t len = 0;
  ~user_chunk() {
    if (base != MAP_FAILED) munmap(base, reserved);
  }
};

struct replay_dev {
  std::string name;
  uint32_t stream_id = 0;
  std::string trace_path;
  size_t records = 0;
  int vfio_fd = -1;
};

class temp_dir {
 public:
  explicit temp_dir(const std::string &keep) {
    if (!keep.empty()) {
      fs::create_directories(keep);
      path_ = keep;
      keep_ = true;
      return;
    }
    std::string tmpl = (fs::temp_directory_path() / "iommusim-run-XXXXXX").string();
    if (mkdtemp(tmpl.data())) path_ = tmpl;
  }
  ~temp_dir() {
    std::error_code ec;
    if (!keep_ && !path_.empty()) fs::remove_all(path_, ec);
  }
  const std::string &path() const { return path_; }

 private:
  std::string path_;
  bool keep_ = false;
};

}  // namespace

bool run_scenario(const scenario &sc, const options &opt, ordered_json *result, std::string *error, int *exit_code) {
  using clock = std::chrono::steady_clock;
  const auto t0 = clock::now();
  *exit_code = 2;
  // 1. The workloads' records.
  std::vector<models::trace_record> all;
  ordered_json wl_json = ordered_json::array();
  for (const workload &w : sc.workloads) {
    std::vector<models::trace_record> rs;
    if (!w.trace.empty()) {
      if (!models::load_trace(w.trace, &rs, error)) return false;
      wl_json.push_back({{"trace", w.trace}, {"records", rs.size()}});
    } else {
      std::string why;
      if (!traces::generate(w.generator, w.params, &rs, &why)) {
        *error = w.where + ": " + w.generator + ": " + why;
        return false;
      }
      ordered_json params = ordered_json::object();
      for (const auto &[k, v] : w.params) params[k] = v;
      wl_json.push_back({{"generate", w.generator}, {"params", params}, {"records", rs.size()}});
    }
    for (const models::trace_record &r : rs) {
      if (r.ssid_valid) {
        *error = (w.trace.empty() ? w.where : w.trace) + ":" + std::to_string(r.line) +
                 ": PASID records are not supported by `iommusim run` yet (the scenario attaches one IOAS per device)";
        return false;
      }
    }
    all.insert(all.end(), rs.begin(), rs.end());
  }
  if (all.empty()) {
    *error = sc.source + ": the workloads have no records";
    return false;
  }
  // 2. One replayer per StreamID, gaps recomputed from absolute issue times.
  temp_dir tmp(opt.keep_dir);
  if (tmp.path().empty()) {
    *error = std::string("cannot create a temporary directory: ") + std::strerror(errno);
    *exit_code = 1;
    return false;
  }
  std::map<uint32_t, std::vector<models::trace_record>> per_sid;
  std::map<uint32_t, uint64_t> last_issue;
  std::map<uint32_t, bool> ats, pri;
  uint64_t now = 0;
  for (const models::trace_record &r : all) {
    now += r.gap_cycles;
    models::trace_record x = r;
    auto it = last_issue.find(r.stream_id);
    x.gap_cycles = it == last_issue.end() ? now : now - it->second;
    last_issue[r.stream_id] = now;
    per_sid[r.stream_id].push_back(x);
    ats[r.stream_id] = ats[r.stream_id] || r.ats;
    pri[r.stream_id] = pri[r.stream_id] || r.pri;
  }
  YAML::Node plat = YAML::Clone(sc.platform);
  if (!plat || plat.IsNull()) plat = YAML::Node(YAML::NodeType::Map);
  if (!plat.IsMap()) {
    *error = sc.platform_source + ": the platform is not a mapping";
    return false;
  }
  for (const auto &[k, v] : sc.sets)
    if (!apply_set(plat, k, v, error)) return false;
  std::string iommu = sc.iommu;
  if (iommu.empty()) {
    if (!plat["iommus"] || !plat["iommus"].IsSequence() || plat["iommus"].size() == 0) {
      *error = sc.platform_source + ": the platform has no IOMMU to run the workloads through";
      return false;
    }
    const YAML::Node first = plat["iommus"][0];
    iommu = first["name"] ? first["name"].as<std::string>() : "smmu0";
  }
  plat["memory"]["user_contig"] = sc.page_size;
  if (!plat["devices"] || !plat["devices"].IsSequence()) plat["devices"] = YAML::Node(YAML::NodeType::Sequence);
  // The platform's own devices stay, unless one has a StreamID the workload
  // uses behind this IOMMU: the workload's replayer takes that StreamID.
  std::vector<std::string> dropped;
  {
    YAML::Node kept(YAML::NodeType::Sequence);
    for (const YAML::Node &d : plat["devices"]) {
      uint64_t sid = 0;
      const bool here = !d["iommu"] || (d["iommu"].IsScalar() && d["iommu"].Scalar() == iommu);
      if (here && d["stream_id"] && d["stream_id"].IsScalar() && traces::parse_size(d["stream_id"].Scalar(), &sid) &&
          per_sid.count(static_cast<uint32_t>(sid))) {
        dropped.push_back(d["name"] ? d["name"].Scalar() : "(unnamed)");
        continue;
      }
      kept.push_back(d);
    }
    plat["devices"] = kept;
  }
  std::vector<replay_dev> devs;
  for (const auto &[sid, rs] : per_sid) {
    replay_dev d;
    d.name = "replay" + std::to_string(devs.size());
    d.stream_id = sid;
    d.records = rs.size();
    d.trace_path = tmp.path() + "/" + d.name + ".itrc";
    std::string why;
    if (!models::write_trace(d.trace_path, rs, models::trace_encoding::binary, false, &why)) {
      *error = why;
      *exit_code = 1;
      return false;
    }
    YAML::Node n(YAML::NodeType::Map);
    n["name"] = d.name;
    n["type"] = "trace_replayer";
    n["iommu"] = iommu;
    n["stream_id"] = sid;
    n["trace"] = d.trace_path;
    n["vfio"] = true;
    if (ats[sid]) n["ats"] = true;
    if (pri[sid]) n["pri"] = true;
    plat["devices"].push_back(n);
    devs.push_back(d);
  }
  // 3. The platform.
  YAML::Emitter em;
  em << plat;
  sim::platform_config cfg;
  std::vector<sim::config_error> cerrs;
  const std::string pname = sc.platform_source + " (as run)";
  if (!sim::load_config_string(em.c_str(), "yaml", &cfg, &cerrs, pname)) {
    std::string text;
    for (const sim::config_error &e : cerrs) text += (text.empty() ? "" : "\n") + e.str();
    *error = text;
    return false;
  }
  for (sim::device_desc &d : cfg.devices)
    for (const replay_dev &rd : devs)
      if (d.name == rd.name) d.trace_replayer.outstanding = sc.outstanding;
  const auto t_built = clock::now();
  sim::platform *pp = nullptr;
  try {
    pp = &sim::platform::load_config(cfg);
  } catch (const std::exception &e) {
    *error = std::string("the platform failed to start: ") + e.what();
    *exit_code = 1;
    return false;
  }
  sim::platform &p = *pp;
  const auto t_loaded = clock::now();
  // 4. The program side: /dev/iommu, an IOAS, the mappings, the devices.
  *exit_code = 1;
  const int fd = iommusim_open();
  if (fd < 0) {
    *error = std::string("open /dev/iommu: ") + std::strerror(errno);
    return false;
  }
  iommu_ioas_alloc ia{};
  ia.size = sizeof ia;
  if (iommusim_ioctl(fd, IOMMU_IOAS_ALLOC, &ia)) {
    *error = std::string("IOMMU_IOAS_ALLOC: ") + std::strerror(errno);
    return false;
  }
  for (replay_dev &d : devs) {
    sim::platform::device *pd = p.find_device(d.name);
    if (!pd || pd->vfio_index < 0) {
      *error = d.name + ": not a VFIO device of the platform";
      return false;
    }
    const std::string path = "/dev/vfio/devices/vfio" + std::to_string(pd->vfio_index);
    d.vfio_fd = iommusim_open_path(path.c_str(), O_RDWR);
    if (d.vfio_fd < 0) {
      *error = path + ": " + std::strerror(errno);
      return false;
    }
    vfio_device_bind_iommufd b{};
    b.argsz = sizeof b;
    b.iommufd = fd;
    vfio_device_attach_iommufd_pt a{};
    a.argsz = sizeof a;
    a.pt_id = ia.out_ioas_id;
    if (iommusim_ioctl(d.vfio_fd, VFIO_DEVICE_BIND_IOMMUFD, &b) ||
        iommusim_ioctl(d.vfio_fd, VFIO_DEVICE_ATTACH_IOMMUFD_PT, &a)) {
      *error = d.name + " (" + path + "): bind/attach: " + std::strerror(errno);
      return false;
    }
  }
  // The IOVA ranges the attached domains allow (reserved regions such as the
  // MSI window are holes): a chunk is mapped minus the holes, so a large page
  // size never asks for a reserved IOVA (EADDRINUSE, as Linux).
  std::vector<std::pair<uint64_t, uint64_t>> allowed;  // [start, last]
  {
    iommu_ioas_iova_ranges q{};
    q.size = sizeof q;
    q.ioas_id = ia.out_ioas_id;
    iommusim_ioctl(fd, IOMMU_IOAS_IOVA_RANGES, &q);  // EMSGSIZE: num_iovas says how many
    std::vector<iommu_iova_range> rg(q.num_iovas);
    q.num_iovas = static_cast<uint32_t>(rg.size());
    q.allowed_iovas = reinterpret_cast<uint64_t>(rg.data());
    if (iommusim_ioctl(fd, IOMMU_IOAS_IOVA_RANGES, &q)) {
      *error = std::string("IOMMU_IOAS_IOVA_RANGES: ") + std::strerror(errno);
      return false;
    }
    for (const iommu_iova_range &x : rg) allowed.emplace_back(x.start, x.last);
  }
  for (const models::trace_record &r : all) {
    bool ok = false;
    for (const auto &[lo, hi] : allowed) ok |= r.addr >= lo && r.addr + r.size - 1 <= hi;
    if (!ok) {
      char b[96];
      std::snprintf(b, sizeof b, "address 0x%llx is outside the IOVA ranges the IOMMU allows",
                    static_cast<unsigned long long>(r.addr));
      *error = "workload record " + std::to_string(r.line) + ": " + b + " (a reserved region such as the MSI window)";
      *exit_code = 2;
      return false;
    }
  }
  const uint64_t ps = sc.page_size;
  std::set<uint64_t> chunks;
  for (const models::trace_record &r : all) {
    chunks.insert(r.addr / ps);
    chunks.insert((r.addr + r.size - 1) / ps);
  }
  std::vector<std::unique_ptr<user_chunk>> mem;
  uint64_t mapped = 0, mappings = 0;
  for (auto it = chunks.begin(); it != chunks.end();) {
    const uint64_t first = *it;
    uint64_t last = first;
    for (++it; it != chunks.end() && *it == last + 1; ++it) last = *it;
    auto c = std::make_unique<user_chunk>();
    c->len = (last - first + 1) * ps;
    c->reserved = c->len + ps;
    c->base = mmap(nullptr, c->reserved, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (c->base == MAP_FAILED) {
      *error = std::string("mmap: ") + std::strerror(errno);
      return false;
    }
    c->p = reinterpret_cast<uint8_t *>((reinterpret_cast<uintptr_t>(c->base) + ps - 1) & ~(ps - 1));
    const uint64_t c_lo = first * ps, c_hi = c_lo + c->len - 1;
    for (const auto &[lo, hi] : allowed) {
      // The chunk's part in this allowed range, in whole 4 KiB pages.
      const uint64_t s_lo = (std::max(c_lo, lo) + 4095) & ~4095ULL;
      const uint64_t s_end = (std::min(c_hi, hi) + 1) & ~4095ULL;
      if (std::max(c_lo, lo) > std::min(c_hi, hi) || s_end <= s_lo) continue;
      iommu_ioas_map m{};
      m.size = sizeof m;
      m.flags = IOMMU_IOAS_MAP_FIXED_IOVA | IOMMU_IOAS_MAP_READABLE | IOMMU_IOAS_MAP_WRITEABLE;
      m.ioas_id = ia.out_ioas_id;
      m.user_va = reinterpret_cast<uint64_t>(c->p) + (s_lo - c_lo);
      m.length = s_end - s_lo;
      m.iova = s_lo;
      if (iommusim_ioctl(fd, IOMMU_IOAS_MAP, &m)) {
        char b[128];
        std::snprintf(b, sizeof b, "IOMMU_IOAS_MAP iova 0x%llx length 0x%llx: ",
                      static_cast<unsigned long long>(m.iova), static_cast<unsigned long long>(m.length));
        *error = b + std::string(std::strerror(errno));
        return false;
      }
      mapped += m.length;
      mappings++;
    }
    mem.push_back(std::move(c));
  }
  p.run_until_idle();
  const uint64_t start_ps = p.now_ps();
  const auto t_start = clock::now();
  for (const replay_dev &d : devs) p.start_device(d.name);
  p.run_until_idle();
  const auto t_done = clock::now();
  const uint64_t end_ps = p.now_ps();
  // 5. The numbers.
  run_inputs in;
  in.sc = &sc;
  in.iommu = iommu;
  in.iommu_clock_mhz = 1000;
  in.model = "smmuv3";
  for (const YAML::Node &n : plat["iommus"]) {
    if (!n["name"] || n["name"].as<std::string>() != iommu) continue;
    if (n["clock_mhz"]) in.iommu_clock_mhz = n["clock_mhz"].as<double>();
    if (n["type"] && n["type"].IsScalar()) in.model = n["type"].Scalar();
  }
  in.sim_ps = end_ps - start_ps;
  in.host_setup_s = std::chrono::duration<double>(t_start - t0).count();
  in.host_platform_s = std::chrono::duration<double>(t_loaded - t_built).count();
  in.host_replay_s = std::chrono::duration<double>(t_done - t_start).count();
  in.mapped_bytes = mapped;
  in.mappings = mappings;
  in.workloads = wl_json;
  in.dropped_devices = dropped;
  in.stats = ordered_json::parse(p.stats_json());
  for (const replay_dev &d : devs) {
    sim::platform::device *pd = p.find_device(d.name);
    models::trace_replayer *tr = pd->trace_replayer;
    if (!tr || !tr->finished()) {
      *error = d.name + ": the replay did not finish (the platform went idle first)";
      return false;
    }
    replay_stream s;
    s.device = d.name;
    s.stream_id = d.stream_id;
    s.clock_mhz = pd->desc->clock_mhz;
    const std::vector<models::trace_record> &rs = per_sid[d.stream_id];
    for (size_t i = 0; i < tr->results().size(); i++) {
      const auto &lr = tr->results()[i];
      s.lines.push_back({lr.issue_cycle, lr.latency_cycles, rs[i].size, rs[i].write, lr.ok});
    }
    in.streams.push_back(std::move(s));
  }
  for (const replay_dev &d : devs) iommusim_close(d.vfio_fd);
  iommusim_close(fd);
  *result = build_result(in);
  if (!opt.plot.empty()) {
    std::string why;
    if (!write_plot_svg(opt.plot, *result, in, &why)) {
      *error = why;
      return false;
    }
    (*result)["plot"] = opt.plot;
  }
  p.shutdown();
  *exit_code = 0;
  return true;
}

}  // namespace iommusim::run
