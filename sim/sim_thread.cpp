// SPDX-License-Identifier: MIT
// The simulation OS thread: one elaboration, sc_start() that suspends when
// idle, work posted from other threads through an async primitive channel.
#include "sim/sim_thread.h"

#include <pthread.h>

#include <systemc>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <exception>
#include <new>

namespace iommusim::sim {

// Lives on the simulation thread; created in main(), never destroyed.
struct sim_thread::kernel_side : public sc_core::sc_module {
  // The async channel: other threads push callbacks; update() runs them on
  // the simulation thread.
  struct mailbox : public sc_core::sc_prim_channel {
    mailbox() : sc_core::sc_prim_channel("mailbox") { async_attach_suspending(); }
    void push(std::function<void()> fn) {
      {
        std::lock_guard<std::mutex> l(m);
        incoming.push_back(std::move(fn));
      }
      async_request_update();
    }
    // While the gate is pending, posts wait for it (gate() drains them), so
    // a holder's next request lands at the same delta however fast it came.
    void update() override {
      if (*defer) return;
      drain();
    }
    void drain() {
      std::deque<std::function<void()>> batch;
      {
        std::lock_guard<std::mutex> l(m);
        batch.swap(incoming);
      }
      for (auto &fn : batch) fn();
    }
    std::mutex m;
    std::deque<std::function<void()>> incoming;
    const bool *defer = nullptr;
  };

  SC_HAS_PROCESS(kernel_side);
  kernel_side(sc_core::sc_module_name n, sim_thread &t) : sc_core::sc_module(n), owner(t) {
    box.defer = &gate_pending;
    SC_THREAD(executor);
    SC_METHOD(gate);
    sensitive << gate_ev;
    dont_initialize();
  }

  // One delta after a grant: hold the simulation until every holder has
  // posted or blocked, then run what was posted meanwhile.
  void gate() {
    owner.gate_wait();
    gate_pending = false;
    box.drain();
  }

  // Runs run_in_process() work and the stop request, in arrival order.
  void executor() {
    for (;;) {
      while (work.empty() && !stop_requested) sc_core::wait(work_ev);
      if (stop_requested) {
        sc_core::sc_stop();
        return;
      }
      auto fn = std::move(work.front());
      work.pop_front();
      fn();
    }
  }

  sim_thread &owner;
  mailbox box;
  std::deque<std::function<void()>> work;  // simulation thread only
  sc_core::sc_event work_ev;
  bool stop_requested = false;
  bool gate_pending = false;               // simulation thread only
  sc_core::sc_event gate_ev;
};

namespace {
// The calling thread's agent; its token goes when the thread ends.
struct agent_slot {
  std::shared_ptr<host_agent> a;
  ~agent_slot() {
    if (a) sim_thread::get().agent_block();
  }
};
thread_local agent_slot t_agent;
}  // namespace

std::shared_ptr<host_agent> sim_thread::current_agent() {
  if (!t_agent.a) t_agent.a = std::make_shared<host_agent>();
  return t_agent.a;
}

void sim_thread::release(host_agent &a) {
  if (!a.holds) return;
  a.holds = false;
  holders_.erase(std::find(holders_.begin(), holders_.end(), &a));
  if (holders_.empty()) gate_cv_.notify_all();
}

void sim_thread::agent_block() {
  if (!t_agent.a) return;
  std::lock_guard<std::mutex> l(gate_m_);
  release(*t_agent.a);
}

void sim_thread::grant(host_agent &a) {
  if (!host_sync_) return;
  {
    std::lock_guard<std::mutex> l(gate_m_);
    if (a.holds) return;
    a.holds = true;
    holders_.push_back(&a);
  }
  if (ks_ && !ks_->gate_pending) {
    ks_->gate_pending = true;
    ks_->gate_ev.notify(sc_core::SC_ZERO_TIME);
  }
}

void sim_thread::gate_wait() {
  std::unique_lock<std::mutex> l(gate_m_);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(kGraceMs);
  while (!holders_.empty()) {
    if (gate_cv_.wait_until(l, deadline) == std::cv_status::timeout && !holders_.empty()) {
      // A holder blocked where the simulation cannot see it: go on without it.
      for (host_agent *a : holders_) a->holds = false;
      lapses_ += holders_.size();
      holders_.clear();
    }
  }
}

void completion::complete() {
  // The requester is runnable before it can run (simulation thread only: the
  // grant must precede the wake-up).
  std::shared_ptr<host_agent> a;
  sim_thread *owner = nullptr;
  {
    std::lock_guard<std::mutex> l(m_);
    if (st_ != open) return;
    a = agent_;
    owner = owner_;
  }
  if (a && owner && owner->on_sim_thread()) owner->grant(*a);
  finish(done);
}

bool completion::wait() {
  // Posted: the simulation may run on without this thread until it completes.
  sim_thread::get().agent_block();
  std::unique_lock<std::mutex> l(m_);
  cv_.wait(l, [&] { return st_ != open; });
  return st_ == done;
}

void completion::finish(status s) {
  sim_thread *owner = nullptr;
  {
    std::lock_guard<std::mutex> l(m_);
    if (st_ != open) return;
    st_ = s;
    owner = owner_;
    owner_ = nullptr;
  }
  cv_.notify_all();
  if (owner) owner->untrack(this);
}

sim_thread &sim_thread::get() {
  static sim_thread *t = new sim_thread();  // never destroyed: see the header
  return *t;
}

std::shared_ptr<completion> sim_thread::new_request() {
  auto c = std::make_shared<completion>();
  std::lock_guard<std::mutex> l(lock_);
  if (state_.load() != state::running && state_.load() != state::starting) {
    c->st_ = completion::aborted;
    return c;
  }
  c->owner_ = this;
  c->agent_ = current_agent();
  open_[c.get()] = c;
  return c;
}

void sim_thread::untrack(completion *c) {
  std::lock_guard<std::mutex> l(lock_);
  open_.erase(c);
}

std::string sim_thread::start(std::function<void()> build) {
  // A child forked after the start has no simulation thread: there the
  // simulation counts as stopped, so HostBus calls fail at once instead of
  // waiting forever, and nothing tries to join a thread it does not have.
  static const bool atfork = [] {
    pthread_atfork(nullptr, nullptr, [] {
      sim_thread &t = sim_thread::get();
      // Another thread of the parent may have held the lock at the fork.
      new (&t.lock_) std::mutex();
      t.forked_ = true;
      t.state_ = state::stopped;
      t.open_.clear();
    });
    return true;
  }();
  (void)atfork;
  std::unique_lock<std::mutex> l(lock_);
  if (state_.load() != state::idle) return "the simulation was already started (SystemC elaborates once per process)";
  state_ = state::starting;
  build_done_ = false;
  // IOMMUSIM_HOST_SYNC=0: no tokens (the simulation runs on while host agents
  // compute; not repeatable). For measurements only.
  const char *hs = std::getenv("IOMMUSIM_HOST_SYNC");
  host_sync_ = !(hs && std::string(hs) == "0");
  thread_ = std::thread([this, b = std::move(build)]() mutable { main(std::move(b)); });
  cv_.wait(l, [&] { return build_done_; });
  if (!build_error_.empty()) {
    l.unlock();
    if (thread_.joinable()) thread_.join();
    return build_error_;
  }
  return {};
}

void sim_thread::main(std::function<void()> build) {
  sim_id_ = std::this_thread::get_id();
  std::string err;
  // Report SystemC's own complaints (an unbound port, ...) as exceptions
  // here, not as a message and an exit.
  sc_core::sc_report_handler::set_actions(sc_core::SC_ERROR, sc_core::SC_THROW);
  // Informational messages of the kernel (the trace time unit, "simulation
  // stopped by user" at our normal end) are not news.
  sc_core::sc_report_handler::set_actions("/OSCI/SystemC", sc_core::SC_INFO, sc_core::SC_DO_NOTHING);
  sc_core::sc_report_handler::set_actions("tracing timescale unit set", sc_core::SC_DO_NOTHING);
  try {
    ks_ = new kernel_side("iommusim_kernel", *this);
    build();
    // Elaboration and initialisation happen here, so binding errors are
    // the builder's errors.
    sc_core::sc_start(sc_core::SC_ZERO_TIME);
  } catch (const std::exception &e) {
    err = e.what();
  } catch (...) {
    err = "elaboration failed";
  }
  {
    std::lock_guard<std::mutex> l(lock_);
    build_error_ = err;
    build_done_ = true;
    state_ = err.empty() ? state::running : state::stopped;
  }
  cv_.notify_all();
  if (!err.empty()) return;

  try {
    sc_core::sc_start();
  } catch (const std::exception &e) {
    std::fprintf(stderr, "iommusim: simulation ended with an error: %s\n", e.what());
  }
  std::vector<std::function<void()>> at_end;
  {
    std::lock_guard<std::mutex> l(lock_);
    state_ = state::stopped;
    at_end.swap(at_end_);
  }
  for (auto &fn : at_end) {
    try {
      fn();
    } catch (const std::exception &e) {
      std::fprintf(stderr, "iommusim: at simulation end: %s\n", e.what());
    }
  }
  // Whoever still waits for the simulation gets a failure, not a hang.
  std::vector<std::shared_ptr<completion>> open;
  {
    std::lock_guard<std::mutex> l(lock_);
    for (auto &[p, w] : open_)
      if (auto c = w.lock()) open.push_back(c);
  }
  for (auto &c : open) c->abort();
}

bool sim_thread::post(std::function<void()> fn) {
  std::lock_guard<std::mutex> l(lock_);
  const state s = state_.load();
  if (s != state::running && s != state::starting) return false;
  if (s == state::starting && !on_sim_thread()) return false;
  ks_->box.push(std::move(fn));
  return true;
}

bool sim_thread::run_in_process(const std::function<void()> &fn) {
  if (on_sim_thread()) {
    std::fprintf(stderr, "iommusim: run_in_process called on the simulation thread\n");
    std::abort();
  }
  auto c = new_request();
  kernel_side *ks = ks_;
  const bool posted = post([ks, c, &fn] {
    ks->work.push_back([c, &fn] {
      fn();
      c->complete();
    });
    ks->work_ev.notify(sc_core::SC_ZERO_TIME);
  });
  if (!posted) c->abort();
  return c->wait();
}

void sim_thread::at_sim_end(std::function<void()> fn) {
  std::lock_guard<std::mutex> l(lock_);
  at_end_.push_back(std::move(fn));
}

void sim_thread::stop() {
  if (on_sim_thread()) {
    std::fprintf(stderr, "iommusim: sim_thread::stop() called on the simulation thread\n");
    return;
  }
  if (forked_) return;
  agent_block();  // the simulation must not wait for its stopper
  std::lock_guard<std::mutex> g(stop_lock_);
  {
    std::lock_guard<std::mutex> l(lock_);
    if (state_.load() == state::running) {
      state_ = state::stopping;
      kernel_side *ks = ks_;
      ks_->box.push([ks] {
        ks->stop_requested = true;
        ks->work_ev.notify(sc_core::SC_ZERO_TIME);
      });
    }
  }
  if (thread_.joinable()) thread_.join();
}

}  // namespace iommusim::sim
