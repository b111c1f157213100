// SPDX-License-Identifier: MIT
// The simulation OS thread (docs/platform.md, "Threads").
//
// SystemC elaborates once per process, so there is one simulation thread per
// process. start() launches it; on that thread the platform's build function
// elaborates the modules, then the thread calls sc_start() and stays in it
// until stop(). A primitive channel attached with async_attach_suspending()
// receives work from other OS threads (post()): when nothing is scheduled the
// kernel suspends — simulated time stands still and the thread sleeps — until
// a post arrives. There is no free-running clock.
//
// post() runs a callback on the simulation thread in the kernel's update phase:
// it may queue data and notify events (delta or timed), never wait(). Work that
// must consume simulated time is handed to an SC_THREAD through an event (the
// host CPU does that). run_in_process() runs a callback inside an SC_THREAD of
// the thread's own executor, where wait() is allowed, and blocks until it
// returns.
//
// Determinism (docs/platform.md, "Determinism"): every OS thread that talks
// to the simulation is a host agent. An agent whose blocking request just
// completed is *runnable* and holds a token; so is the IRQ thread once an
// interrupt is queued for it. While any token is held the simulation goes no
// further than the next delta cycle: the gate process waits (on the OS) until
// every holder has posted its next request or declared itself blocked
// (agent_block(): waiting for the simulation to go idle, on an fd, ...), then
// runs the posts it collected. So where a request lands in simulated time
// depends on the program, not on host scheduling. A holder that neither posts
// nor blocks within kGraceMs of wall-clock time (it waits for another thread,
// say) forfeits its token: the simulation goes on, and lapses() counts it.
//
// Shutdown: stop() (idempotent; also run at process exit) makes the executor
// call sc_stop(), joins the thread, then runs the on-stop callbacks on the
// calling thread (trace files are closed on the simulation thread before
// sc_start's caller returns). No SystemC object is destroyed: modules live until
// the process ends, so no static destructor can touch a dead kernel.
#pragma once

#include <atomic>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <map>
#include <string>
#include <thread>
#include <vector>

namespace iommusim::sim {

// An OS thread as the simulation sees it (see "Determinism" above).
struct host_agent {
  bool holds = false;  // runnable: holds a token (under sim_thread's gate lock)
};

// One blocking request of an OS thread to the simulation: the simulation side
// calls complete(); the requester wait()s. Waiting releases the requester's
// token; completing on the simulation thread grants it a new one. A request still open when the
// simulation stops is aborted (wait() returns false), so nobody hangs at exit.
class completion {
 public:
  void complete();
  void abort() { finish(aborted); }
  // True if completed, false if aborted. Call after the request was posted.
  bool wait();

 private:
  enum status { open, done, aborted };
  void finish(status s);
  friend class sim_thread;
  std::mutex m_;
  std::condition_variable cv_;
  status st_ = open;
  class sim_thread *owner_ = nullptr;
  std::shared_ptr<host_agent> agent_;  // the requester
};

class sim_thread {
 public:
  // The process's simulation thread (created on first use, never destroyed).
  static sim_thread &get();

  // Start the thread: build() runs on it (elaboration: create modules, bind
  // sockets, open trace files), then sc_start(). Returns once build() has
  // returned: an empty string, or the error build() threw (std::exception
  // what()); after an error the thread exits without simulating. A second
  // start() fails (SystemC elaborates once per process).
  std::string start(std::function<void()> build);

  // Queue fn to run on the simulation thread during the update phase (no
  // wait(); notify events with SC_ZERO_TIME or a delay). False, and fn is not
  // run, once the simulation has stopped or before start().
  bool post(std::function<void()> fn);

  // Run fn inside an SC_THREAD (wait() allowed) and block until it returns.
  // False if the simulation is not running (then fn is not run, or was cut
  // short by a stop). Must not be called from the simulation thread.
  bool run_in_process(const std::function<void()> &fn);

  // Stop the simulation and join the thread. Safe from any thread but the
  // simulation thread itself; idempotent. Callbacks registered with
  // at_sim_end() run on the simulation thread after sc_start() returns.
  void stop();
  // fn runs on the simulation thread after sc_start() returned (close trace
  // files). Register during build().
  void at_sim_end(std::function<void()> fn);

  // A tracked request: aborted at stop if still open; born aborted if the
  // simulation is not running.
  std::shared_ptr<completion> new_request();

  // Host agents. The calling thread's agent (created on first use).
  std::shared_ptr<host_agent> current_agent();
  // The calling thread blocks outside the simulation: release its token.
  void agent_block();
  // Simulation thread: make `a` runnable (it holds a token) now.
  void grant(host_agent &a);
  // Tokens forfeited after kGraceMs (a run with lapses may not be repeatable).
  uint64_t lapses() const { return lapses_.load(); }
  static constexpr int kGraceMs = 500;

  bool running() const { return state_.load() == state::running; }
  bool stopped() const { return state_.load() == state::stopped; }
  bool on_sim_thread() const { return std::this_thread::get_id() == sim_id_.load(); }

  // Forward declaration of the channel/executor (SystemC types stay out of
  // this header).
  struct kernel_side;

 private:
  sim_thread() = default;
  void main(std::function<void()> build);

  enum class state { idle, starting, running, stopping, stopped };
  std::atomic<state> state_{state::idle};
  std::atomic<std::thread::id> sim_id_{};
  std::thread thread_;
  std::mutex lock_;               // start/stop, and the post queue
  std::condition_variable cv_;
  std::string build_error_;
  bool build_done_ = false;
  kernel_side *ks_ = nullptr;     // created on the simulation thread, never freed
  std::vector<std::function<void()>> at_end_;
  std::mutex stop_lock_;          // serialises stop() callers
  bool forked_ = false;           // this process is a child forked after start()
  friend class completion;
  void untrack(completion *c);
  std::map<completion *, std::weak_ptr<completion>> open_;  // under lock_

  // The gate (simulation thread): wait until no agent holds a token.
  friend struct kernel_side;
  void gate_wait();
  void release(host_agent &a);  // under gate_m_
  std::mutex gate_m_;
  std::condition_variable gate_cv_;
  std::vector<host_agent *> holders_;  // under gate_m_
  std::atomic<uint64_t> lapses_{0};
  bool host_sync_ = true;  // set before the simulation starts
};

}  // namespace iommusim::sim
