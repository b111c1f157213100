// SPDX-License-Identifier: MIT
#include "sim/irq_controller.h"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <chrono>
#include <exception>

namespace iommusim::sim {

irq_controller::irq_controller(sc_core::sc_module_name name, unsigned lines, uint64_t msi_base)
    : sc_core::sc_module(name),
      msi("msi"),
      lines_(lines),
      msi_base_(msi_base),
      level_(new bool[lines]()),
      shown_(new bool[lines]()),
      until_(lines),
      line_names_(lines),
      state_(lines) {
  SC_METHOD(drop_pulses);
  sensitive << drop_ev_;
  dont_initialize();
  msi.register_b_transport(this, &irq_controller::b_transport);
  msi.register_transport_dbg(this, &irq_controller::transport_dbg);
  for (unsigned i = 0; i < lines_; i++) line_names_[i] = "line" + std::to_string(i);
  stats_.set_name(this->name());
  stats_.counter("irqs_raised");
  stats_.counter("irqs_handled");
  stats_.counter("irqs_unhandled");
  stats_.counter("msi_writes");
  stats_.counter("msi_errors");
  models::stats_registry::get().add(&stats_);
}

irq_controller::~irq_controller() { models::stats_registry::get().remove(&stats_); }

void irq_controller::sync_stats() {
  stats_.counter("irqs_handled") = handled_.load();
  stats_.counter("irqs_unhandled") = unhandled_.load();
}

void irq_controller::name_line(unsigned line, const std::string &name) {
  if (line < lines_) line_names_[line] = name;
}

void irq_controller::trace(sc_core::sc_trace_file *tf, const std::string &prefix) {
  for (unsigned i = 0; i < lines_; i++) sc_core::sc_trace(tf, shown_[i], prefix + line_names_[i]);
}

void irq_controller::set_level(unsigned line, bool level) {
  if (line >= lines_) return;
  const bool was = level_[line];
  level_[line] = level;
  const sc_core::sc_time now = sc_core::sc_time_stamp();
  if (level && !was) {
    shown_[line] = true;
    until_[line] = now + sc_core::sc_time(kPulseNs, sc_core::SC_NS);
    drop_ev_.notify(sc_core::sc_time(kPulseNs, sc_core::SC_NS));
    queue_line(line);
  } else if (!level && now >= until_[line]) {
    shown_[line] = false;
  }
}

void irq_controller::pulse(unsigned line) {
  if (line >= lines_) return;
  set_level(line, true);
  set_level(line, false);
}

void irq_controller::drop_pulses() {
  const sc_core::sc_time now = sc_core::sc_time_stamp();
  bool more = false;
  sc_core::sc_time next;
  for (unsigned i = 0; i < lines_; i++) {
    if (!shown_[i] || level_[i]) continue;
    if (now >= until_[i]) {
      shown_[i] = false;
    } else if (!more || until_[i] < next) {
      // An edge later than the one this wake-up was for (a pending
      // notification keeps the earlier time).
      more = true;
      next = until_[i];
    }
  }
  if (more) drop_ev_.notify(next - now);
}

void irq_controller::queue_line(unsigned line) {
  stats_.counter("irqs_raised")++;
  {
    std::lock_guard<std::mutex> l(m_);
    line_state &s = state_[line];
    s.raised++;
    if (s.pending) return;  // coalesce with the edge not yet handled
    s.pending = true;
    queue_.push_back(line);
    if (irq_idle_ && irq_agent_) {
      sim_thread::get().grant(*irq_agent_);
      irq_idle_ = false;
    }
  }
  cv_.notify_all();
}

void irq_controller::b_transport(int, tlm::tlm_generic_payload &trans, sc_core::sc_time &) {
  const uint64_t off = trans.get_address();
  const unsigned line = static_cast<unsigned>(off / kDoorbellStride);
  if (line >= lines_) {
    stats_.counter("msi_errors")++;
    trans.set_response_status(tlm::TLM_ADDRESS_ERROR_RESPONSE);
    return;
  }
  if (trans.is_write()) {
    stats_.counter("msi_writes")++;
    pulse(line);
  } else if (trans.is_read()) {
    std::memset(trans.get_data_ptr(), 0, trans.get_data_length());
  }
  trans.set_response_status(tlm::TLM_OK_RESPONSE);
}

unsigned irq_controller::transport_dbg(int, tlm::tlm_generic_payload &trans) {
  // Debug accesses never ring a doorbell; reads see zero.
  if (trans.is_read()) std::memset(trans.get_data_ptr(), 0, trans.get_data_length());
  return trans.get_data_length();
}

int irq_controller::request_irq(unsigned line, std::function<void()> handler) {
  if (line >= lines_ || !handler) return -EINVAL;
  std::lock_guard<std::mutex> l(m_);
  if (state_[line].handler) return -EBUSY;
  state_[line].handler = std::make_shared<std::function<void()>>(std::move(handler));
  return 0;
}

void irq_controller::free_irq(unsigned line) {
  if (line >= lines_) return;
  std::unique_lock<std::mutex> l(m_);
  state_[line].handler.reset();
  // synchronize_irq(): let a running handler finish, unless we are it.
  if (std::this_thread::get_id() != irq_thread_id_) {
    sim_thread::get().agent_block();  // the handler may need simulated time
    cv_.wait(l, [&] { return !state_[line].running; });
  }
}

void irq_controller::start_thread() {
  std::lock_guard<std::mutex> l(m_);
  if (thread_.joinable()) return;
  stopping_ = false;
  thread_ = std::thread([this] { irq_main(); });
  irq_thread_id_ = thread_.get_id();
}

void irq_controller::stop_thread() {
  sim_thread::get().agent_block();
  std::unique_lock<std::mutex> l(m_);
  stopping_ = true;
  cv_.notify_all();
  if (!thread_.joinable() || std::this_thread::get_id() == thread_.get_id()) return;
  // A handler still running gets a while to finish (its HostBus calls still
  // work); one that hangs is left behind rather than hang the process's exit.
  const bool ended = cv_.wait_for(l, std::chrono::seconds(5), [&] { return thread_done_; });
  l.unlock();
  if (ended) thread_.join();
  else thread_.detach();
}

bool irq_controller::quiet() {
  std::lock_guard<std::mutex> l(m_);
  if (!queue_.empty()) return false;
  for (const line_state &s : state_)
    if (s.running) return false;
  return true;
}

void irq_controller::wait_quiet() {
  sim_thread::get().agent_block();
  std::unique_lock<std::mutex> l(m_);
  cv_.wait(l, [&] {
    if (stopping_) return true;
    if (!queue_.empty()) return false;
    for (const line_state &s : state_)
      if (s.running) return false;
    return true;
  });
}

void irq_controller::irq_main() {
  std::shared_ptr<host_agent> me = sim_thread::get().current_agent();
  std::unique_lock<std::mutex> l(m_);
  irq_agent_ = me;
  for (;;) {
    if (queue_.empty() && !stopping_) {
      // Nothing to do: not runnable until queue_line() grants a token.
      irq_idle_ = true;
      sim_thread::get().agent_block();
    }
    cv_.wait(l, [&] { return stopping_ || !queue_.empty(); });
    irq_idle_ = false;
    if (stopping_) {
      thread_done_ = true;
      cv_.notify_all();
      return;
    }
    const unsigned line = queue_.front();
    queue_.pop_front();
    line_state &s = state_[line];
    s.pending = false;
    auto handler = s.handler;
    if (!handler) {
      // Nobody asked for this line (yet): dropped, as a spurious interrupt.
      unhandled_++;
      cv_.notify_all();
      continue;
    }
    s.running = true;
    l.unlock();
    try {
      (*handler)();
    } catch (const std::exception &e) {
      std::fprintf(stderr, "iommusim: IRQ %u handler threw: %s\n", line, e.what());
    }
    l.lock();
    s.running = false;
    s.handled++;
    handled_++;
    cv_.notify_all();
  }
}

}  // namespace iommusim::sim
