// SPDX-License-Identifier: MIT
#include "models/common/router.h"

#include <cstdio>
#include <stdexcept>

namespace iommusim::models {

namespace {
std::string hex(uint64_t v) {
  char buf[24];
  std::snprintf(buf, sizeof(buf), "0x%llx", static_cast<unsigned long long>(v));
  return buf;
}

std::string describe(const router_window &w) {
  return "'" + w.name + "' [" + hex(w.base) + ", " + hex(w.base + w.size) + ")";
}

// Why w cannot join `existing`, or empty.
std::string window_problem(const std::vector<router_window> &existing, const router_window &w) {
  if (w.size == 0) return "window " + describe(w) + " is empty";
  if (w.base + w.size < w.base && w.base + w.size != 0)
    return "window '" + w.name + "' at " + hex(w.base) + " wraps past the top of the address space";
  const uint64_t last = w.base + (w.size - 1);
  for (const router_window &o : existing) {
    const uint64_t olast = o.base + (o.size - 1);
    if (w.base <= olast && o.base <= last)
      return "window " + describe(w) + " overlaps window " + describe(o);
  }
  return {};
}
}  // namespace

std::string router_config::check() const {
  if (!(clock_mhz > 0)) return "router clock_mhz must be greater than 0";
  std::vector<router_window> seen;
  for (const router_window &w : windows) {
    if (std::string why = window_problem(seen, w); !why.empty()) return why;
    seen.push_back(w);
  }
  return {};
}

router::router(sc_core::sc_module_name name, const router_config &cfg, timing_mode mode)
    : sc_core::sc_module(name),
      target_socket("target_socket"),
      initiator_socket("initiator_socket"),
      cfg_(cfg) {
  if (const std::string why = cfg_.check(); !why.empty())
    throw std::invalid_argument(std::string(this->name()) + ": " + why);
  clk_ = clock_domain(cfg_.clock_mhz, mode);
  for (const router_window &w : cfg_.windows) add_window(w);
  target_socket.register_b_transport(this, &router::b_transport);
  target_socket.register_transport_dbg(this, &router::transport_dbg);
  stats_.set_name(this->name());
  stats_.counter("transactions");
  stats_.counter("decode_errors");
  stats_registry::get().add(&stats_);
}

router::~router() { stats_registry::get().remove(&stats_); }

void router::add_window(const router_window &w) {
  if (std::string why = window_problem(windows_, w); !why.empty())
    throw std::invalid_argument(std::string(name()) + ": " + why);
  by_base_[w.base] = windows_.size();
  windows_.push_back(w);
}

const router_window *router::decode(uint64_t addr, uint64_t len) const {
  auto it = by_base_.upper_bound(addr);
  if (it == by_base_.begin()) return nullptr;
  const router_window &w = windows_[std::prev(it)->second];
  const uint64_t off = addr - w.base;
  const uint64_t n = len ? len : 1;
  if (off > w.size - 1 || n - 1 > w.size - 1 - off) return nullptr;
  return &w;
}

// A window naming a target that was never bound is a wiring error of the
// platform, found before simulation starts.
void router::end_of_elaboration() {
  const unsigned bound = static_cast<unsigned>(initiator_socket.size());
  for (const router_window &w : windows_)
    if (w.target >= bound)
      SC_REPORT_ERROR(name(), ("window " + describe(w) + " leads to target " +
                               std::to_string(w.target) + " but only " + std::to_string(bound) +
                               " targets are bound")
                                  .c_str());
}

void router::b_transport(int, tlm::tlm_generic_payload &trans, sc_core::sc_time &delay) {
  timing_ctx t(clk_.mode(), delay);
  t.advance(cfg_.hop_cycles, clk_);
  const uint64_t addr = trans.get_address();
  const router_window *w = decode(addr, trans.get_data_length());
  if (!w || w->target >= initiator_socket.size()) {
    stats_.counter("decode_errors")++;
    trans.set_response_status(tlm::TLM_ADDRESS_ERROR_RESPONSE);
    return;
  }
  stats_.counter("transactions")++;
  if (w->relative) trans.set_address(addr - w->base);
  initiator_socket[w->target]->b_transport(trans, t.delay());
  trans.set_address(addr);  // the initiator may look at its payload again
}

unsigned router::transport_dbg(int, tlm::tlm_generic_payload &trans) {
  const uint64_t addr = trans.get_address();
  const router_window *w = decode(addr, trans.get_data_length());
  if (!w || w->target >= initiator_socket.size()) return 0;
  if (w->relative) trans.set_address(addr - w->base);
  const unsigned n = initiator_socket[w->target]->transport_dbg(trans);
  trans.set_address(addr);
  return n;
}

}  // namespace iommusim::models
