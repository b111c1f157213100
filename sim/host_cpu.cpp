// SPDX-License-Identifier: MIT
#include "sim/host_cpu.h"

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>

namespace iommusim::sim {

namespace {
constexpr uint64_t kLine = 64;

uint64_t lines_touched(uint64_t pa, size_t len) {
  if (len == 0) return 0;
  return (pa + len - 1) / kLine - pa / kLine + 1;
}
}  // namespace

std::string host_cpu_config::check() const {
  if (!(clock_mhz > 0)) return "clock_mhz must be greater than 0";
  if (cores == 0) return "cores must be at least 1";
  return {};
}

host_cpu::host_cpu(sc_core::sc_module_name name, const host_cpu_config &cfg,
                   models::timing_mode mode, models::phys_memory &mem, irq_controller &irqs,
                   sim_thread &sim)
    : sc_core::sc_module(name),
      mmio("mmio"),
      cfg_(cfg),
      clk_(cfg.clock_mhz, mode),
      mem_(mem),
      irqs_(irqs),
      sim_(sim) {
  for (unsigned i = 0; i < std::max(1u, cfg_.cores); i++)
    sc_core::sc_spawn(sc_bind(&host_cpu::core_main, this),
                      sc_core::sc_gen_unique_name("core"));
  stats_.set_name(this->name());
  for (const char *c : {"requests", "mmio_reads", "mmio_writes", "mmio_errors", "mem_reads",
                        "mem_writes", "mem_read_bytes", "mem_write_bytes", "mem_errors", "polls",
                        "poll_reads", "poll_timeouts", "delays", "busy_cycles", "agent_lapses"})
    stats_.counter(c);
  models::stats_registry::get().add(&stats_);
}

host_cpu::~host_cpu() { models::stats_registry::get().remove(&stats_); }

// ---------------------------------------------------------------------------
// Marshalling: OS thread -> simulation thread -> a core's SC_THREAD.

bool host_cpu::call(std::function<void()> op) {
  if (sim_.on_sim_thread()) {
    std::fprintf(stderr,
                 "iommusim: a HostBus call was made on the simulation thread (it would wait for "
                 "itself); host_bus is for driver and program threads only\n");
    std::abort();
  }
  auto c = sim_.new_request();
  const bool posted = sim_.post([this, c, op = std::move(op)]() mutable {
    queue_.push_back(request{std::move(op), c, sc_core::sc_time_stamp()});
    queued_.notify(sc_core::SC_ZERO_TIME);
  });
  if (!posted) c->abort();
  return c->wait();
}

void host_cpu::core_main() {
  for (;;) {
    while (queue_.empty()) sc_core::wait(queued_);
    request r = std::move(queue_.front());
    queue_.pop_front();
    running_++;
    stats_.counter("requests")++;
    const sc_core::sc_time start = sc_core::sc_time_stamp();
    r.op();
    const uint64_t busy = clk_.to_cycles(sc_core::sc_time_stamp() - start);
    stats_.counter("busy_cycles") += busy;
    stats_.histogram("request_cycles").add(clk_.to_cycles(sc_core::sc_time_stamp() - r.arrived));
    running_--;
    r.done->complete();
  }
}

void host_cpu::spend(uint64_t cycles) {
  if (cycles) sc_core::wait(clk_.cycles(cycles));
}

bool host_cpu::mmio_access(bool write, uint64_t pa, void *data, unsigned len) {
  tlm::tlm_generic_payload p;
  p.set_command(write ? tlm::TLM_WRITE_COMMAND : tlm::TLM_READ_COMMAND);
  p.set_address(pa);
  p.set_data_ptr(static_cast<unsigned char *>(data));
  p.set_data_length(len);
  p.set_streaming_width(len);
  p.set_byte_enable_ptr(nullptr);
  p.set_dmi_allowed(false);
  p.set_response_status(tlm::TLM_INCOMPLETE_RESPONSE);
  // The CPU's own cost comes first (issue), then the bus and the target. In
  // cycle mode it is waited out; in fast mode it is annotated and the
  // remainder is waited after the transport returns.
  sc_core::sc_time delay = clk_.cycles(write ? cfg_.mmio_write : cfg_.mmio_read);
  if (clk_.mode() == models::timing_mode::cycle) {
    sc_core::wait(delay);
    delay = sc_core::SC_ZERO_TIME;
  }
  mmio->b_transport(p, delay);
  if (delay != sc_core::SC_ZERO_TIME) sc_core::wait(delay);
  stats_.counter(write ? "mmio_writes" : "mmio_reads")++;
  if (p.get_response_status() != tlm::TLM_OK_RESPONSE) {
    stats_.counter("mmio_errors")++;
    if (!write) std::memset(data, 0xff, len);  // a dead register reads all-ones
    return false;
  }
  return true;
}

void host_cpu::mem_access(bool write, uint64_t pa, void *data, size_t len) {
  spend(lines_touched(pa, len) * (write ? cfg_.mem_write_line : cfg_.mem_read_line));
  const bool ok = write ? mem_.write(pa, data, len) : mem_.read(pa, data, len);
  stats_.counter(write ? "mem_writes" : "mem_reads")++;
  stats_.counter(write ? "mem_write_bytes" : "mem_read_bytes") += len;
  if (!ok) {
    stats_.counter("mem_errors")++;
    if (!write) std::memset(data, 0xff, len);
    if (!bad_mem_reported_) {
      bad_mem_reported_ = true;
      std::fprintf(stderr,
                   "iommusim: host CPU %s of %zu bytes at 0x%llx: no memory there (reported once; "
                   "see %s.mem_errors)\n",
                   write ? "write" : "read", len, static_cast<unsigned long long>(pa), name());
    }
  }
}

// ---------------------------------------------------------------------------
// host_bus

uint32_t host_cpu::readl(uint64_t pa) {
  uint32_t v = 0xffffffffu;
  call([&] { mmio_access(false, pa, &v, 4); });
  return v;
}

uint64_t host_cpu::readq(uint64_t pa) {
  uint64_t v = ~uint64_t{0};
  call([&] { mmio_access(false, pa, &v, 8); });
  return v;
}

void host_cpu::writel(uint64_t pa, uint32_t value) {
  call([&] { mmio_access(true, pa, &value, 4); });
}

void host_cpu::writeq(uint64_t pa, uint64_t value) {
  call([&] { mmio_access(true, pa, &value, 8); });
}

void host_cpu::mem_read(uint64_t pa, void *dst, size_t len) {
  if (!call([&] { mem_access(false, pa, dst, len); })) std::memset(dst, 0xff, len);
}

void host_cpu::mem_write(uint64_t pa, const void *src, size_t len) {
  call([&] { mem_access(true, pa, const_cast<void *>(src), len); });
}

uint64_t host_cpu::dma_alloc(uint64_t bytes, uint64_t align) { return mem_.alloc(bytes, align); }

void host_cpu::dma_free(uint64_t pa, uint64_t bytes) { mem_.free(pa, bytes); }

bool host_cpu::poll32(uint64_t pa, uint32_t mask, uint32_t want, uint64_t interval_ns,
                      uint64_t timeout_ns) {
  bool met = false;
  call([&] {
    stats_.counter("polls")++;
    const sc_core::sc_time end = sc_core::sc_time_stamp() + sc_core::sc_time(static_cast<double>(timeout_ns), sc_core::SC_NS);
    for (;;) {
      uint32_t v = 0;
      stats_.counter("poll_reads")++;
      if (mmio_access(false, pa, &v, 4) && (v & mask) == want) {
        met = true;
        return;
      }
      if (sc_core::sc_time_stamp() >= end) break;
      sc_core::wait(std::max(sc_core::sc_time(static_cast<double>(interval_ns), sc_core::SC_NS),
                             clk_.period()));
    }
    stats_.counter("poll_timeouts")++;
  });
  return met;
}

bool host_cpu::poll_mem32(uint64_t pa, uint32_t mask, uint32_t want, uint64_t interval_ns,
                          uint64_t timeout_ns) {
  bool met = false;
  call([&] {
    stats_.counter("polls")++;
    const sc_core::sc_time end = sc_core::sc_time_stamp() + sc_core::sc_time(static_cast<double>(timeout_ns), sc_core::SC_NS);
    for (;;) {
      uint32_t v = 0;
      stats_.counter("poll_reads")++;
      mem_access(false, pa, &v, 4);
      if ((v & mask) == want) {
        met = true;
        return;
      }
      if (sc_core::sc_time_stamp() >= end) break;
      sc_core::wait(std::max(sc_core::sc_time(static_cast<double>(interval_ns), sc_core::SC_NS),
                             clk_.period()));
    }
    stats_.counter("poll_timeouts")++;
  });
  return met;
}

void host_cpu::delay_ns(uint64_t ns) {
  call([&] {
    stats_.counter("delays")++;
    if (ns) sc_core::wait(sc_core::sc_time(static_cast<double>(ns), sc_core::SC_NS));
  });
}

uint64_t host_cpu::now_ps() {
  // Read on the simulation thread, without queueing behind the cores. Once the
  // simulation is over, time stands still and may be read from anywhere.
  if (sim_.stopped()) return static_cast<uint64_t>(sc_core::sc_time_stamp() / sc_core::sc_time(1, sc_core::SC_PS));
  auto t = std::make_shared<std::atomic<uint64_t>>(0);
  auto c = sim_.new_request();
  if (!sim_.post([t, c] {
        t->store(static_cast<uint64_t>(sc_core::sc_time_stamp() / sc_core::sc_time(1, sc_core::SC_PS)));
        c->complete();
      }))
    c->abort();
  c->wait();
  return t->load();
}

int host_cpu::request_irq(unsigned line, std::function<void()> handler) {
  return irqs_.request_irq(line, std::move(handler));
}

void host_cpu::free_irq(unsigned line) { irqs_.free_irq(line); }

uint64_t host_cpu::msi_doorbell(unsigned line) {
  return line < irqs_.lines() ? irqs_.msi_doorbell(line) : 0;
}

}  // namespace iommusim::sim
