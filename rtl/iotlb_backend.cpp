// SPDX-License-Identifier: MIT
// The RTL IOTLB behind sa_cache (iotlb_backend.h).
#include "rtl/iotlb_backend.h"

#include <bit>
#include <stdexcept>

namespace iommusim::rtl {

using models::cache_config;
using models::replacement_policy;

std::string iotlb_check(const cache_config &cfg) {
  const std::string who = (cfg.name.empty() ? std::string("cache") : cfg.name) + ": tlb_impl rtl: ";
  if (const std::string why = cfg.check(); !why.empty()) return why;
  if (cfg.assoc() != iotlb_ways)
    return who + "the RTL IOTLB has " + std::to_string(iotlb_ways) + " ways, not " +
           std::to_string(cfg.assoc());
  if (cfg.sets() > iotlb_max_sets)
    return who + std::to_string(cfg.sets()) + " sets exceed the RTL's " +
           std::to_string(iotlb_max_sets) + " (at most " +
           std::to_string(iotlb_max_sets * iotlb_ways) + " entries)";
  if (cfg.policy != replacement_policy::plru && cfg.policy != replacement_policy::round_robin)
    return who + "policy " + models::to_string(cfg.policy) +
           " is not in the RTL (plru or round_robin)";
  if (!cfg.parallel_probes) return who + "the RTL probes every page size in parallel";
  if (cfg.lookup_cycles < 1 || cfg.lookup_cycles > iotlb_max_latency)
    return who + "lookup must be 1.." + std::to_string(iotlb_max_latency) + " cycles, not " +
           std::to_string(cfg.lookup_cycles);
  if (cfg.fill_cycles != 0)
    return who + "the RTL writes a fill in its request cycle (fill must be 0)";
  if (cfg.invalidate_cycles_per_set < 1 || cfg.invalidate_cycles_per_set > 255)
    return who + "invalidate_per_set must be 1..255, not " +
           std::to_string(cfg.invalidate_cycles_per_set);
  return {};
}

iotlb_params iotlb_params_of(const cache_config &cfg, const std::string &trace_path) {
  iotlb_params p;
  p.sets = cfg.sets();
  p.round_robin = cfg.policy == replacement_policy::round_robin;
  p.lookup_latency = cfg.lookup_cycles;
  p.inv_cycles_per_set = cfg.invalidate_cycles_per_set;
  p.flash = cfg.flash_invalidate;
  p.trace_path = trace_path;
  return p;
}

iotlb_backend::lookup_reply iotlb_backend::lookup(const models::hw_key &key,
                                                  const uint32_t *probe_sets, unsigned nprobes) {
  // The request cycle, then the pipeline: the response shows lookup_latency
  // cycles after the request.
  if (nprobes < 1 || nprobes > iotlb_probes)
    throw std::logic_error("iotlb: a key needs 1..8 probes");
  iotlb_rtl::lookup_req q;
  q.valid = true;
  q.id = ++next_id_;
  q.key = key;
  q.nprobes = nprobes;
  for (unsigned p = 0; p < nprobes; p++) q.sets[p] = probe_sets[p];
  rtl_.drive_lookup(q);
  lookup_reply r;
  rtl_.step();
  rtl_.idle();
  r.cycles = 1;
  iotlb_rtl::lookup_rsp rsp = rtl_.response();
  while (!rsp.valid) {
    if (r.cycles > iotlb_max_latency) throw std::logic_error("iotlb: no lookup response");
    rtl_.step();
    r.cycles++;
    rsp = rtl_.response();
  }
  if (rsp.id != q.id) throw std::logic_error("iotlb: response of another lookup");
  r.hit = rsp.hit;
  r.set = rsp.set;
  r.way = rsp.way;
  r.size_class = rsp.size_class;
  r.data = rsp.data;
  return r;
}

iotlb_backend::fill_reply iotlb_backend::fill(uint32_t set, const models::hw_tag &tag,
                                              const models::hw_data &data) {
  // The way is chosen in the request cycle and written at its end: no wait.
  iotlb_rtl::fill_req q;
  q.valid = true;
  q.set = set;
  q.tag = tag;
  q.data = data;
  rtl_.drive_fill(q);
  rtl_.eval();
  const iotlb_rtl::fill_rsp f = rtl_.fill_result();
  rtl_.step();
  rtl_.idle();
  rtl_.eval();
  return fill_reply{f.way, f.evicted, f.in_place, 0};
}

iotlb_backend::invalidate_reply iotlb_backend::run_invalidation(
    iotlb_rtl::inv_req req, const std::function<uint64_t(uint32_t)> *kill) {
  // The request cycle is the first of the operation; it completes when
  // inv_done shows (a sweep: sets * cycles a set later; a flash clear: 1).
  req.valid = true;
  rtl_.drive_invalidate(req);
  invalidate_reply r;
  uint32_t asked = ~0u;
  uint64_t mask = 0;
  const uint64_t limit = uint64_t{iotlb_max_sets} * 256 + 2;
  for (;;) {
    if (kill) {
      rtl_.eval();
      const uint32_t s = rtl_.sweep_set();
      if (s != asked) {  // the first cycle of a set's slot: ask the comparator once
        asked = s;
        mask = (*kill)(s);
      }
      rtl_.drive_ext_kill(mask);
    }
    rtl_.step();
    r.cycles++;
    if (r.cycles == 1) {
      rtl_.idle();
    }
    rtl_.eval();
    if (rtl_.inv_done()) break;
    if (r.cycles > limit) throw std::logic_error("iotlb: invalidation never completed");
  }
  rtl_.drive_ext_kill(0);
  r.count = rtl_.inv_count();
  return r;
}

iotlb_backend::invalidate_reply iotlb_backend::invalidate_sweep(
    const std::function<uint64_t(uint32_t)> &kill) {
  iotlb_rtl::inv_req q;
  q.op = inv_op::ext;
  return run_invalidation(q, &kill);
}

iotlb_backend::invalidate_reply iotlb_backend::invalidate_all() {
  iotlb_rtl::inv_req q;
  q.op = inv_op::all;
  return run_invalidation(q, nullptr);
}

iotlb_backend::invalidate_reply iotlb_backend::invalidate(const iotlb_rtl::inv_req &req) {
  return run_invalidation(req, nullptr);
}

models::cache_backend_factory iotlb_backend_factory(std::string trace_path) {
  return [trace_path](const cache_config &cfg) -> std::unique_ptr<models::cache_backend> {
    if (const std::string why = iotlb_check(cfg); !why.empty()) throw std::invalid_argument(why);
    return std::make_unique<iotlb_backend>(iotlb_params_of(cfg, trace_path));
  };
}

}  // namespace iommusim::rtl
