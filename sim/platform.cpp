// SPDX-License-Identifier: MIT
// Building the platform from a validated configuration, probing the drivers,
// registering the devices, and the platform's life until process exit.
#include "sim/platform.h"

#include <unistd.h>

#include <systemc>
#include <tlm>
#include <tlm_utils/simple_initiator_socket.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <thread>

#include "core/iommu.h"
#include "core/mm.h"
#include "core/vfs.h"
#include "models/common/memory.h"
#include "models/common/router.h"
#include "models/devices/ats_endpoint.h"
#include "models/devices/dma_test.h"
#include "models/devices/pri_device.h"
#include "models/devices/trace_replayer.h"
#include "models/devices/traffic_gen.h"
#include "models/smmuv3/smmuv3.h"
#include "models/vtd/vtd.h"
#include "iommufd_api/drivers/vtd/vtd_driver.h"
#include "sim/dma_tap.h"
#include "sim/host_cpu.h"
#include "sim/irq_controller.h"
#include "sim/reg_probe.h"
#include "sim/sim_thread.h"
#include "vfio/vfio_device.h"

namespace iommusim::sim {

namespace {

std::atomic<platform *> g_platform{nullptr};
std::mutex g_load_lock;

std::string join_errors(const std::vector<config_error> &errors) {
  std::string s = format_errors(errors);
  if (!s.empty() && s.back() == '\n') s.pop_back();
  return s;
}

// A module whose constructor runs fn, so that what fn creates becomes its
// children ("upstream.dma0", "mmio.smmu0").
struct container : public sc_core::sc_module {
  container(sc_core::sc_module_name n, const std::function<void()> &fn) : sc_core::sc_module(n) { fn(); }
};

// SMMUv3 registers shown in waveforms: the queue pointers and the control
// registers software sees (SMMUv3 §6.3).
const std::pair<const char *, uint64_t> kSmmuTraceRegs[] = {
    {"cr0", 0x20},           {"cr0ack", 0x24},         {"gerror", 0x60},
    {"cmdq_prod", 0x98},     {"cmdq_cons", 0x9c},      {"eventq_prod", 0x100a8},
    {"eventq_cons", 0x100ac}, {"priq_prod", 0x100c8},  {"priq_cons", 0x100cc}};

// A DMA master that never issues, for an IOMMU's otherwise unbound upstream.
struct idle_master : sc_core::sc_module {
  tlm_utils::simple_initiator_socket<idle_master> socket;
  explicit idle_master(sc_core::sc_module_name n) : sc_core::sc_module(n), socket("socket") {}
};

// VT-d registers shown in waveforms: status, fault status and the queue
// pointers (VT-d §11.4).
const std::pair<const char *, uint64_t> kVtdTraceRegs[] = {
    {"gsts", 0x1c}, {"fsts", 0x34}, {"iqh", 0x80}, {"iqt", 0x88}, {"ics", 0x9c},
    {"pqh", 0xc0},  {"pqt", 0xc8},  {"prs", 0xdc}};

void at_exit_handler() {
  if (platform *p = g_platform.load()) p->shutdown();
}

}  // namespace

platform_error::platform_error(std::vector<config_error> errors)
    : std::runtime_error(join_errors(errors)), errors_(std::move(errors)) {}

// User frames as phys_memory sees them: a pinned page of the program, through
// iommufd's host_memory (pa -> frame and offset; an access may span frames).
struct platform::frames : public models::frame_backing {
  template <typename Op>
  static bool each_frame(uint64_t pa, size_t len, Op op) {
    size_t done = 0;
    while (done < len) {
      const uint64_t a = pa + done;
      const size_t off = a & (iommufd::PAGE_SIZE - 1);
      const size_t n = std::min<size_t>(len - done, iommufd::PAGE_SIZE - off);
      if (op(a >> iommufd::PAGE_SHIFT, off, done, n) != 0) return false;
      done += n;
    }
    return true;
  }
  bool read(uint64_t pa, void *dst, size_t len) override {
    auto *d = static_cast<uint8_t *>(dst);
    return each_frame(pa, len, [&](uint64_t pfn, size_t off, size_t at, size_t n) {
      return iommufd::host_memory::get().read_frame(pfn, off, d + at, n);
    });
  }
  bool write(uint64_t pa, const void *src, size_t len) override {
    auto *s = static_cast<const uint8_t *>(src);
    return each_frame(pa, len, [&](uint64_t pfn, size_t off, size_t at, size_t n) {
      return iommufd::host_memory::get().write_frame(pfn, off, s + at, n);
    });
  }
};

platform::platform(platform_config cfg)
    : cfg_(std::move(cfg)), frames_(std::make_unique<frames>()), owner_pid_(getpid()) {}

platform *platform::current() { return g_platform.load(); }

platform &platform::load(const std::string &path) {
  std::vector<config_error> errors;
  platform_config cfg;
  if (!load_config_file(path, &cfg, &errors)) throw platform_error(std::move(errors));
  return load_config(std::move(cfg));
}

platform &platform::load_string(const std::string &text, const std::string &format) {
  std::vector<config_error> errors;
  platform_config cfg;
  if (!load_config_string(text, format, &cfg, &errors)) throw platform_error(std::move(errors));
  return load_config(std::move(cfg));
}

platform &platform::load_config(platform_config cfg) {
  std::lock_guard<std::mutex> l(g_load_lock);
  if (g_platform.load())
    throw platform_error("a platform is already loaded in this process (SystemC elaborates once per "
                         "process; run each platform in its own process)");
  if (sim_thread::get().stopped() || sim_thread::get().running())
    throw platform_error("the simulation of this process has already run; a platform cannot be built again");

  // The simulated machine's user frames start where the memory model expects them.
  iommufd::host_memory &hm = iommufd::host_memory::get();
  iommufd::host_memory::layout lay = hm.get_layout();
  if (lay.user_phys_base != cfg.memory.user_base || lay.contig_bytes != cfg.user_contig) {
    lay.user_phys_base = cfg.memory.user_base;
    lay.contig_bytes = cfg.user_contig;
    lay.user_phys_size = std::min<uint64_t>(lay.user_phys_size, ~uint64_t{0} - cfg.memory.user_base + 1) &
                         ~(cfg.user_contig - 1);
    if (int rc = hm.set_layout(lay))
      throw platform_error(cfg.source + ": cannot apply memory.user_base/user_contig: " +
                           (rc == -EBUSY ? std::string("pages are already pinned")
                                         : std::string(std::strerror(-rc))));
  }
  // Statics that the exit handler and the threads use exist before it is
  // registered, so they are destroyed after it runs.
  models::stats_registry::get();
  iommufd::fd_table::get();
  (void)iommufd::vfio::is_cdev_path("");

  if (std::getenv("SYSTEMC_DISABLE_COPYRIGHT_MESSAGE") == nullptr)
    setenv("SYSTEMC_DISABLE_COPYRIGHT_MESSAGE", "1", 0);

  auto *p = new platform(std::move(cfg));  // lives until the process ends
  if (const std::string &k = p->cfg_.output.kernel_log; !k.empty()) {
    p->klog_file_ = k == "-" ? stderr : std::fopen(k.c_str(), "w");
    if (!p->klog_file_)
      throw platform_error(p->cfg_.source + ": output.kernel_log: cannot create " + k + ": " + std::strerror(errno));
  }
  if (!p->cfg_.output.txn_log.empty()) {
    try {
      p->log_ = std::make_unique<txn_log>(p->cfg_.output.txn_log);
    } catch (const std::exception &e) {
      throw platform_error(p->cfg_.source + ": output.txn_log: " + e.what());
    }
  }
  if (std::string err = sim_thread::get().start([p] { p->build(); }); !err.empty())
    throw platform_error(p->cfg_.source + ": building the platform failed: " + err);
  g_platform = p;
  static bool registered = [] { return std::atexit(at_exit_handler) == 0; }();
  (void)registered;
  p->irqs_->start_thread();
  // A program waiting on a fault fd or an eventfd is blocked, not runnable.
  iommufd::set_block_hook([] { sim_thread::get().agent_block(); });
  p->probe_drivers();
  p->register_devices();
  return *p;
}

iommufd::host_bus &platform::bus() { return *cpu_; }

platform::iommu *platform::find_iommu(const std::string &name) {
  for (iommu &i : iommus_)
    if (i.desc->name == name) return &i;
  return nullptr;
}

platform::device *platform::find_device(const std::string &name) {
  for (device &d : devices_)
    if (d.desc->name == name) return &d;
  return nullptr;
}

// ---------------------------------------------------------------------------
// Elaboration (simulation thread)

void platform::build() {
  using namespace models;
  const timing_mode mode = cfg_.timing;
  if (mode == timing_mode::fast)
    tlm::tlm_global_quantum::instance().set(
        sc_core::sc_time(static_cast<double>(cfg_.quantum_ns), sc_core::SC_NS));

  mem_ = new phys_memory("memory", cfg_.memory, mode, frames_.get());
  irqs_ = new irq_controller("irq", cfg_.interrupts.lines, cfg_.interrupts.msi_base);

  // IOMMUs -> memory: RAM and user frames at their own addresses, the MSI
  // doorbells relative to their window.
  router_config mb;
  mb.clock_mhz = cfg_.memory_bus.clock_mhz;
  mb.hop_cycles = cfg_.memory_bus.hop_cycles;
  mb.windows.push_back({cfg_.memory.ram_base, cfg_.memory.ram_size, 0, "ram", false});
  mb.windows.push_back({cfg_.memory.user_base, ~uint64_t{0} - cfg_.memory.user_base + 1, 0, "user", false});
  mb.windows.push_back({irqs_->msi_base(), irqs_->msi_size(), 1, "msi", true});
  memory_bus_ = new router("memory_bus", mb, mode);
  memory_bus_->initiator_socket.bind(mem_->socket);
  memory_bus_->initiator_socket.bind(irqs_->msi);

  // The host CPU's MMIO bus: target 0 the doorbells, then IOMMU register
  // windows and device BARs as they are bound.
  router_config rb;
  rb.clock_mhz = cfg_.mmio_bus.clock_mhz;
  rb.hop_cycles = cfg_.mmio_bus.hop_cycles;
  rb.windows.push_back({irqs_->msi_base(), irqs_->msi_size(), 0, "msi", true});
  mmio_bus_ = new router("mmio_bus", rb, mode);
  mmio_bus_->initiator_socket.bind(irqs_->msi);
  unsigned next_target = 1;

  cpu_ = new host_cpu("host_cpu", cfg_.host_cpu, mode, *mem_, *irqs_, sim_thread::get());
  cpu_->mmio.bind(mmio_bus_->target_socket);

  // IOMMUs.
  iommus_.reserve(cfg_.iommus.size());
  for (const iommu_desc &d : cfg_.iommus) {
    iommu io;
    io.desc = &d;
    if (d.type == "vtd") {
      io.vtd_model = new vtd::vtd(d.name.c_str(), d.vtd, mode);
      io.vtd_model->downstream.bind(memory_bus_->target_socket);
      io.module = io.vtd_model;
    } else {
      io.model = new smmuv3::smmuv3(d.name.c_str(), d.smmu, mode);
      io.model->downstream.bind(memory_bus_->target_socket);
      io.module = io.model;
    }
    iommus_.push_back(io);
  }
  devices_.reserve(cfg_.devices.size());
  for (const device_desc &d : cfg_.devices) {
    device dv;
    dv.desc = &d;
    dv.behind = find_iommu(d.iommu);
    devices_.push_back(dv);
  }

  // Register windows behind probes (waveforms see their registers).
  new container("mmio", [&] {
    for (iommu &io : iommus_) {
      io.regs = new reg_probe(io.desc->name.c_str());
      if (io.model)
        for (const auto &[n, off] : kSmmuTraceRegs) io.regs->watch(n, off);
      else
        for (const auto &[n, off] : kVtdTraceRegs) io.regs->watch(n, off);
    }
    for (device &dv : devices_)
      if (dv.desc->bar_size) dv.regs = new reg_probe(dv.desc->name.c_str());
  });
  for (iommu &io : iommus_) {
    mmio_bus_->initiator_socket.bind(io.regs->in);
    mmio_bus_->add_window({io.desc->base, io.desc->size, next_target++, io.desc->name, true});
    // The model's lines to the controller's lines the config chose.
    std::vector<unsigned> lines;
    std::vector<const char *> line_names;
    std::function<void(unsigned, bool)> *model_irq = nullptr;
    if (io.model) {
      io.regs->out.bind(io.model->regs);
      // Model lines: 0 event queue, 1 PRI queue, 2 CMD_SYNC, 3 GERROR.
      const iommufd::smmuv3::driver_config &dc = io.desc->driver;
      lines = {dc.irq_eventq, dc.irq_priq, dc.irq_cmd_sync, dc.irq_gerror};
      line_names = {"eventq", "priq", "cmd_sync", "gerror"};
      model_irq = &io.model->irq;
    } else {
      io.regs->out.bind(io.vtd_model->regs);
      // Model lines: 0 fault event, 1 page request event, 2 invalidation
      // completion event; used when the driver does not program MSIs.
      const iommufd::vtd::driver_config &dc = io.desc->vtd_driver;
      lines = {dc.irq_fault, dc.irq_prq, io.desc->irq_vtd_inv};
      line_names = {"fault", "page_request", "inv_complete"};
      model_irq = &io.vtd_model->irq;
    }
    for (unsigned k = 0; k < lines.size(); k++) irqs_->name_line(lines[k], io.desc->name + "_" + line_names[k]);
    irq_controller *irqs = irqs_;
    reg_probe *probe = io.regs;
    *model_irq = [irqs, probe, lines](unsigned line, bool asserted) {
      if (line < lines.size()) irqs->set_level(lines[line], asserted);
      probe->sample();
    };
  }

  // Devices: each behind a tap on its IOMMU's upstream socket. An IOMMU with
  // no device still needs its upstream socket bound (SystemC's E109): a
  // master that never issues stands in ("upstream.<iommu>_none").
  new container("upstream", [&] {
    for (device &dv : devices_) dv.tap = new dma_tap(dv.desc->name.c_str(), dv.desc->name, log_.get());
    for (iommu &io : iommus_) {
      bool used = false;
      for (const device &dv : devices_) used = used || dv.behind == &io;
      if (used) continue;
      auto *none = new idle_master((io.desc->name + "_none").c_str());
      if (io.model) none->socket.bind(io.model->upstream);
      else none->socket.bind(io.vtd_model->upstream);
    }
  });
  for (device &dv : devices_) {
    const device_desc &d = *dv.desc;
    smmuv3::smmuv3 *smmu = dv.behind->model;
    vtd::vtd *unit = dv.behind->vtd_model;
    if (smmu) dv.tap->downstream.bind(smmu->upstream);
    else dv.tap->downstream.bind(unit->upstream);
    reg_probe *smmu_probe = dv.behind->regs;
    endpoint_message_if *ep = nullptr;
    sc_core::sc_port<iommu_message_if, 1, sc_core::SC_ZERO_OR_MORE_BOUND> *msg = nullptr;
    std::function<void()> *on_done = nullptr;
    if (d.type == "dma_test") {
      auto *m = new dma_test(d.name.c_str(), d.dma_test, mode);
      m->dma.bind(dv.tap->upstream);
      dv.regs->out.bind(m->regs);
      dv.model = m, dv.dma_test = m, ep = m, msg = &m->iommu_msg, on_done = &m->on_done;
      dv.regs->watch("status", dma_test::STATUS);
      dv.regs->watch_bit("busy", dma_test::STATUS, 0);
    } else if (d.type == "traffic_gen") {
      auto *m = new traffic_gen(d.name.c_str(), d.traffic_gen, mode);
      m->dma.bind(dv.tap->upstream);
      dv.model = m, dv.traffic_gen = m, ep = m, msg = &m->iommu_msg, on_done = &m->on_done;
    } else if (d.type == "trace_replayer") {
      auto *m = new trace_replayer(d.name.c_str(), d.trace_replayer, mode, d.records);
      m->dma.bind(dv.tap->upstream);
      dv.model = m, dv.trace_replayer = m, ep = m, msg = &m->iommu_msg, on_done = &m->on_done;
    } else if (d.type == "pri_device") {
      auto *m = new pri_device(d.name.c_str(), d.pri_device, mode);
      m->dma.bind(dv.tap->upstream);
      dv.model = m, dv.pri_device = m, ep = m, msg = &m->iommu_msg, on_done = &m->on_done;
    } else if (d.type == "ats_endpoint") {
      auto *m = new ats_endpoint(d.name.c_str(), d.ats_endpoint, mode);
      m->dma.bind(dv.tap->upstream);
      dv.model = m, dv.ats_endpoint = m, ep = m, msg = &m->iommu_msg, on_done = &m->on_done;
    }
    if (dv.regs) {
      mmio_bus_->initiator_socket.bind(dv.regs->in);
      mmio_bus_->add_window({d.bar, d.bar_size, next_target++, d.name, true});
      dv.bar = d.bar;
    }
    // Page requests and ATC-invalidation completions go up only from a
    // device with the capability; responses and invalidations come down to
    // every device.
    if (msg && (d.pri || d.ats)) msg->bind(smmu ? smmu->messages : unit->messages);
    if (ep && smmu) smmu->bind_endpoint(d.stream_id, ep);
    if (ep && unit) unit->bind_endpoint(d.stream_id, ep);
    irqs_->name_line(d.irq, d.name + "_done");
    if (on_done) {
      irq_controller *irqs = irqs_;
      reg_probe *probe = dv.regs;
      const unsigned line = d.irq;
      *on_done = [irqs, probe, line] {
        irqs->pulse(line);
        if (probe) probe->sample();
      };
    }
    // A DMA seen at the IOMMU may have moved its queue pointers.
    dv.tap->after = [smmu_probe] { smmu_probe->sample(); };
  }

  // Waveforms.
  const std::string &vcd = cfg_.output.vcd;
  const std::string &fst = cfg_.output.fst;
  if (!vcd.empty() || !fst.empty()) {
    std::string want = !vcd.empty() ? vcd : fst + ".vcd";
    // sc_create_vcd_trace_file() appends ".vcd" itself.
    std::string stem = want;
    if (stem.size() > 4 && stem.compare(stem.size() - 4, 4, ".vcd") == 0) stem.resize(stem.size() - 4);
    vcd_path_ = stem + ".vcd";
    sc_core::sc_trace_file *tf = sc_core::sc_create_vcd_trace_file(stem.c_str());
    if (!tf) throw std::runtime_error("cannot create " + vcd_path_);
    tf->set_time_unit(1, sc_core::SC_PS);
    irqs_->trace(tf, "irq.");
    for (iommu &io : iommus_) io.regs->trace(tf, io.desc->name + ".");
    for (device &dv : devices_)
      if (dv.regs) dv.regs->trace(tf, dv.desc->name + ".");
    sim_thread::get().at_sim_end([tf] { sc_core::sc_close_vcd_trace_file(tf); });
  }
}

// ---------------------------------------------------------------------------
// Drivers and devices (the loading thread, with the simulation running)

namespace {
constexpr size_t kKernelLogLines = 1024;
}

void platform::kernel_log_line(const std::string &line) {
  std::lock_guard<std::mutex> l(klog_lock_);
  klog_.push_back(line);
  if (klog_.size() > kKernelLogLines) klog_.pop_front();
  if (klog_file_) {
    std::fprintf(klog_file_, "%s\n", line.c_str());
    std::fflush(klog_file_);
  }
}

std::vector<std::string> platform::kernel_log() {
  std::lock_guard<std::mutex> l(klog_lock_);
  return {klog_.begin(), klog_.end()};
}

void platform::probe_drivers() {
  for (iommu &io : iommus_) {
    auto sink = [this](const std::string &line) { kernel_log_line(line); };
    int rc = 0;
    if (io.model) {
      io.driver = new iommufd::smmuv3::smmuv3_driver(*cpu_, io.desc->driver);
      io.driver->set_log_sink(sink);
      io.ops = io.driver;
      rc = io.driver->probe();
    } else {
      io.vtd_driver = new iommufd::vtd::vtd_driver(*cpu_, io.desc->vtd_driver);
      io.vtd_driver->set_log_sink(sink);
      io.ops = io.vtd_driver;
      rc = io.vtd_driver->probe();
    }
    if (rc)
      throw platform_error(io.desc->loc.str() + ": iommus: " + io.desc->name + ": the " +
                           (io.model ? "SMMUv3" : "VT-d") + " driver's probe failed: " + std::strerror(-rc) + " (" +
                           std::to_string(rc) + ")");
  }
}

void platform::register_devices() {
  for (device &dv : devices_) {
    const device_desc &d = *dv.desc;
    auto *cd = new iommufd::device(d.name);  // lives until the process ends
    cd->ids = {d.stream_id};
    cd->is_pci = true;
    cd->ats_capable = d.ats;
    cd->pri_capable = d.pri;
    cd->max_pasids = d.ssid_bits ? (1u << d.ssid_bits) : 0;
    dv.dev = cd;
    const int added = dv.behind->driver ? dv.behind->driver->add_device(*cd) : dv.behind->vtd_driver->add_device(*cd);
    if (added)
      throw platform_error(d.loc.str() + ": devices: " + d.name + ": the IOMMU driver refused the device: " +
                           std::strerror(-added));
    if (int rc = iommufd::iommu_probe_device(*cd, *dv.behind->ops))
      throw platform_error(d.loc.str() + ": devices: " + d.name + ": iommu_probe_device failed: " +
                           std::strerror(-rc));
    if (!d.vfio) continue;
    iommufd::vfio::device_desc vd;
    vd.name = d.name;
    vd.dev = cd;
    vd.bus = cpu_;
    if (d.bar_size) vd.regions.push_back(iommufd::vfio::region{d.bar_size, d.bar, true, true});
    vd.num_irqs = 1;
    vd.pci = true;
    unsigned index = 0;
    if (int rc = iommufd::vfio::register_device(vd, &index))
      throw platform_error(d.loc.str() + ": devices: " + d.name + ": cannot register the VFIO cdev: " +
                           std::strerror(-rc));
    dv.vfio_index = static_cast<int>(index);
    // Its done interrupt is VFIO IRQ 0: the program's eventfd.
    irqs_->request_irq(d.irq, [index] { iommufd::vfio::signal_irq(index, 0); });
  }
}

bool platform::start_device(const std::string &name) {
  device *dv = find_device(name);
  if (!dv || (!dv->traffic_gen && !dv->trace_replayer)) return false;
  return sim_thread::get().run_in_process([dv] {
    if (dv->traffic_gen) dv->traffic_gen->start();
    if (dv->trace_replayer) dv->trace_replayer->start();
  });
}

// ---------------------------------------------------------------------------
// Running

void platform::run_until_idle() {
  sim_thread &sim = sim_thread::get();
  int quiet_rounds = 0;
  while (sim.running()) {
    bool idle = false;
    host_cpu *cpu = cpu_;
    if (!sim.run_in_process([&] {
          // The executor runs in the evaluation phase: anything else runnable
          // now, or any timed notification, is pending activity.
          idle = !sc_core::sc_pending_activity_at_current_time() &&
                 !sc_core::sc_pending_activity_at_future_time() && cpu->busy() == 0;
        }))
      return;
    if (idle && irqs_->quiet()) {
      // Twice in a row: a handler that just finished may have posted work.
      if (++quiet_rounds >= 2) return;
      continue;
    }
    quiet_rounds = 0;
    // Waiting for the simulation: this thread is blocked, not runnable.
    sim.agent_block();
    if (idle) irqs_->wait_quiet();
    else std::this_thread::sleep_for(std::chrono::microseconds(200));
  }
}

uint64_t platform::now_ps() { return cpu_->now_ps(); }

// ---------------------------------------------------------------------------
// Shutdown

void platform::shutdown() {
  static std::mutex m;
  std::lock_guard<std::mutex> l(m);
  if (shut_down_) return;
  // A forked child has a copy of the platform but none of its threads: the
  // parent owns the simulation and its outputs.
  if (getpid() != owner_pid_) return;
  sim_thread &sim = sim_thread::get();
  if (sim.on_sim_thread()) {
    std::fprintf(stderr, "iommusim: the platform cannot be shut down from the simulation thread\n");
    return;
  }
  shut_down_ = true;
  // Handlers in flight finish first (they need the simulation), then the
  // simulation stops (trace files are closed on its thread).
  irqs_->stop_thread();
  sim.stop();
  write_outputs();
}

}  // namespace iommusim::sim
