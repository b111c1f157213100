// SPDX-License-Identifier: MIT
// Device-TLBs (VT-d §4): an ATS translation request (AT = 01b) from an
// endpoint whose context allows it (legacy TT = 01b, scalable DTE) is
// translated like a DMA and answered in the completion: the translated page
// (4 KiB, 2 MiB or 1 GiB), R, W (W = 0 when NW was requested or the page is
// not writable), Priv/Exe as requested. Translation and permission faults are
// answered with R = W = 0 and not recorded (§4.2.3); a blocked request is an
// Unsupported Request (TLM error) with its fault recorded. Translated
// requests (AT = 10b) pass with their address (translate.cpp). Device-TLB
// invalidations and their completions are in qi.cpp.
#include "models/vtd/vtd.h"

namespace iommusim::models::vtd {

void vtd::ats_complete(tlm::tlm_generic_payload &tr, iommu_extension &ext, const txn &x,
                       const xl_result &r) {
  if (r.what == outcome::fault) {
    if (r.f.cls == fault_class::translation || r.f.cls == fault_class::permission) {
      count("ats_no_permission_completions");
      ext.status = iommu_status::ok;
      ext.output_addr = x.addr & ~0xfffull;
      ext.output_page_shift = 12;
      ext.out_read = ext.out_write = ext.out_exec = ext.out_priv = false;
      tr.set_response_status(tlm::TLM_OK_RESPONSE);
      return;
    }
    ext.status = iommu_status::fault;
    ext.fault_type = r.f.reason;
    ext.fault_cls = r.f.cls;
    tr.set_response_status(tlm::TLM_GENERIC_ERROR_RESPONSE);  // UR
    return;
  }
  count("ats_completions");
  ext.status = iommu_status::ok;
  if (r.what == outcome::passthrough) {
    ext.output_addr = x.addr & ~0xfffull;
    ext.output_page_shift = 12;
    ext.out_read = true;
    ext.out_write = !x.no_write;
    ext.out_exec = false;
  } else {
    const iotlb_entry &e = r.entry;
    ext.output_page_shift = static_cast<uint8_t>(e.page_shift);
    ext.output_addr = e.oa;
    ext.out_read = e.read;
    ext.out_write = x.write && e.write;
    ext.out_exec = ext.instruction && e.exec;
  }
  ext.out_priv = ext.privileged;
  tr.set_response_status(tlm::TLM_OK_RESPONSE);
}

}  // namespace iommusim::models::vtd
