// SPDX-License-Identifier: MIT
// The simulated platform (docs/platform.md): a validated configuration turned
// into a SystemC top — physical memory over iommufd's host_memory, the MMIO
// and memory routers, the IOMMUs and their drivers, the devices (registered
// with the iommufd core, some as VFIO cdevs), the interrupt controller and
// the host CPU — running on the simulation thread.
//
//   auto &p = iommusim::sim::platform::load("sim/configs/smmuv3_default.yaml");
//   iommusim::iommufd::host_bus &bus = p.bus();
//   ...
//   p.run_until_idle();
//
// One platform per process (SystemC elaborates once): a second load() fails.
// load() returns once the drivers have probed. At process exit (or
// shutdown()) the simulation stops and the outputs of the config's `output`
// section are written.
#pragma once

#include <cstdio>
#include <deque>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <vector>

#include "sim/config.h"

namespace sc_core {
class sc_module;
}

namespace iommusim::models {
class phys_memory;
class router;
class dma_test;
class traffic_gen;
class trace_replayer;
class ats_endpoint;
class pri_device;
namespace smmuv3 {
class smmuv3;
}
namespace vtd {
class vtd;
}
}  // namespace iommusim::models

namespace iommusim::iommufd {
class host_bus;
class device;
class iommu_driver;
namespace smmuv3 {
class smmuv3_driver;
}
namespace vtd {
class vtd_driver;
}
}  // namespace iommusim::iommufd

namespace iommusim::sim {

class host_cpu;
class irq_controller;
class dma_tap;
class reg_probe;
class txn_log;

// A failed load: what() is every error, one a line ("FILE:LINE:COL: reason").
class platform_error : public std::runtime_error {
 public:
  explicit platform_error(std::vector<config_error> errors);
  explicit platform_error(const std::string &what) : std::runtime_error(what) {}
  const std::vector<config_error> &errors() const { return errors_; }

 private:
  std::vector<config_error> errors_;
};

class platform {
 public:
  struct iommu {
    const iommu_desc *desc = nullptr;
    // type smmuv3
    models::smmuv3::smmuv3 *model = nullptr;
    iommufd::smmuv3::smmuv3_driver *driver = nullptr;
    // type vtd
    models::vtd::vtd *vtd_model = nullptr;
    iommufd::vtd::vtd_driver *vtd_driver = nullptr;
    // either: the model as a module and the driver as iommufd sees it
    sc_core::sc_module *module = nullptr;
    iommufd::iommu_driver *ops = nullptr;
    reg_probe *regs = nullptr;  // the register window on the MMIO bus
  };
  struct device {
    const device_desc *desc = nullptr;
    sc_core::sc_module *model = nullptr;     // whatever its type
    models::dma_test *dma_test = nullptr;    // the typed model (one of these)
    models::traffic_gen *traffic_gen = nullptr;
    models::trace_replayer *trace_replayer = nullptr;
    models::ats_endpoint *ats_endpoint = nullptr;
    models::pri_device *pri_device = nullptr;
    iommufd::device *dev = nullptr;          // the iommufd core's device
    iommu *behind = nullptr;
    dma_tap *tap = nullptr;                  // between it and its IOMMU
    reg_probe *regs = nullptr;               // its BAR0, if any
    int vfio_index = -1;                     // N of /dev/vfio/devices/vfioN, or -1
    uint64_t bar = 0;                        // BAR0 on the host MMIO bus (0: none)
  };

  // Build and start the platform of a file / of YAML or JSON text. Throws
  // platform_error (every config error, or what failed while building or
  // probing). Once per process.
  static platform &load(const std::string &path);
  static platform &load_string(const std::string &text, const std::string &format = "yaml");
  static platform &load_config(platform_config cfg);
  // The platform of this process, or nullptr.
  static platform *current();

  const platform_config &config() const { return cfg_; }
  iommufd::host_bus &bus();
  host_cpu &cpu() { return *cpu_; }
  irq_controller &irqs() { return *irqs_; }
  models::phys_memory &memory() { return *mem_; }

  std::vector<iommu> &iommus() { return iommus_; }
  std::vector<device> &devices() { return devices_; }
  iommu *find_iommu(const std::string &name);
  device *find_device(const std::string &name);

  // Start a device that runs on its own (traffic_gen, trace_replayer) in
  // simulated time now. False if it has nothing to start.
  bool start_device(const std::string &name);

  // Block until the platform is idle: no simulated activity pending (no
  // timed or delta notification), the host CPU has nothing queued, and no
  // interrupt is pending or being handled.
  void run_until_idle();
  // Simulated time now, in picoseconds.
  uint64_t now_ps();

  // Statistics: every registered stats_group (models, routers, host CPU,
  // taps, interrupt controller) plus each driver's counters ("<iommu>.driver").
  std::string stats_json();
  std::string stats_table();
  // Write stats_json() to path; false with *error on failure.
  bool write_stats_json(const std::string &path, std::string *error);

  // The drivers' most recent log lines (what dmesg would show), oldest first.
  std::vector<std::string> kernel_log();

  // Stop the simulation and write the configured outputs (stats, waveforms,
  // transaction log). Idempotent; also runs at process exit.
  void shutdown();
  bool is_shut_down() const { return shut_down_; }

 private:
  explicit platform(platform_config cfg);
  void build();        // on the simulation thread
  void probe_drivers();  // after the simulation runs
  void register_devices();
  void write_outputs();
  // Snapshot of stats as (JSON, table) taken where reading them is safe.
  void snapshot_stats(std::string *json, std::string *table);

  platform_config cfg_;
  struct frames;
  std::unique_ptr<frames> frames_;
  models::phys_memory *mem_ = nullptr;
  models::router *mmio_bus_ = nullptr;
  models::router *memory_bus_ = nullptr;
  irq_controller *irqs_ = nullptr;
  host_cpu *cpu_ = nullptr;
  std::vector<iommu> iommus_;
  std::vector<device> devices_;
  std::unique_ptr<txn_log> log_;
  void kernel_log_line(const std::string &line);
  std::mutex klog_lock_;
  std::deque<std::string> klog_;  // the last kKernelLogLines lines
  std::FILE *klog_file_ = nullptr;
  std::string vcd_path_;       // what SystemC writes (".vcd" appended by it)
  bool shut_down_ = false;
  int owner_pid_ = 0;          // the process that built it (not a forked child)
};

}  // namespace iommusim::sim
