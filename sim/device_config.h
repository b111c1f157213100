// SPDX-License-Identifier: MIT
// How the platform configuration describes a DMA master (docs/platform_config.md,
// "devices"): the keys every device has, and each type's model parameters.
#pragma once

#include <cstdint>
#include <string>

#include <vector>

#include "models/devices/ats_endpoint.h"
#include "models/devices/dma_test.h"
#include "models/devices/pri_device.h"
#include "models/devices/trace_format.h"
#include "models/devices/trace_replayer.h"
#include "models/devices/traffic_gen.h"
#include "sim/config_error.h"

namespace iommusim::sim {

struct device_desc {
  std::string name;
  std::string type;            // dma_test, traffic_gen, trace_replayer, ats_endpoint, pri_device
  std::string iommu;           // name of the IOMMU it sits behind
  uint32_t stream_id = 0;
  uint32_t ssid_bits = 0;      // PASID width the device supports (0: no PASID)
  bool bar_auto = true;        // BAR placed by the platform
  uint64_t bar = 0;            // BAR0 base on the host MMIO bus
  uint64_t bar_size = 0;       // from the type
  bool irq_auto = true;        // line chosen by the platform
  unsigned irq = 0;            // its done/completion interrupt line
  bool vfio = false;           // expose as /dev/vfio/devices/vfioN
  bool ats = false;            // PCIe ATS capability (an ATC)
  bool pri = false;            // PCIe PRI capability
  double clock_mhz = 1000;

  // The type's model parameters (only the one of `type` is used).
  models::dma_test_config dma_test;
  models::traffic_config traffic_gen;
  models::trace_replayer_config trace_replayer;
  std::string trace;                         // trace_replayer: the trace file (resolved path)
  std::vector<models::trace_record> records;  // trace_replayer: its records, parsed
  models::ats_endpoint_config ats_endpoint;
  models::pri_device_config pri_device;

  // Where things were written, for errors found after parsing.
  source_loc loc, name_loc, iommu_loc, stream_id_loc, bar_loc, irq_loc;
};

}  // namespace iommusim::sim
