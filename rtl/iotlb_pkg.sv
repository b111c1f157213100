// SPDX-License-Identifier: MIT
// Types of the IOTLB (iotlb.sv): the tag and data of one way, the operation
// codes of the invalidation port. Widths cover both IOMMUs: SMMUv3 StreamID
// (32 bits), ASID (16) or PASID/SubstreamID (20), VMID (16); VT-d domain id
// (16) and PASID (20).
package iotlb_pkg;

  localparam int CTX_W   = 32;  // stream id, or domain id, or a regime code
  localparam int ASID_W  = 20;  // ASID or PASID
  localparam int VMID_W  = 16;  // VMID (SMMUv3) or domain id (VT-d)
  localparam int VA_W    = 64;  // input address
  localparam int PAGE_W  = 52;  // VA_W - 12: page numbers at 4 KiB and above
  localparam int SIZE_W  = 3;   // size-class index (up to 8 classes)
  localparam int PERM_W  = 4;   // R, W, X, privileged-only
  localparam int ATTR_W  = 8;   // memory attributes (MAIR-style index/encoding)

  // The tag of a way. vpage = VA >> shift(size); global entries match any ASID.
  typedef struct packed {
    logic [CTX_W-1:0]  ctx;
    logic [ASID_W-1:0] asid;
    logic [VMID_W-1:0] vmid;
    logic              global_;
    logic [SIZE_W-1:0] size;
    logic [PAGE_W-1:0] vpage;
  } tag_t;

  // The data of a way: the output page (PA >> 12), permissions, attributes.
  typedef struct packed {
    logic [PAGE_W-1:0] opage;
    logic [PERM_W-1:0] perm;
    logic [ATTR_W-1:0] attr;
  } data_t;

  // Invalidation operations. Each one but a flash ALL is a sweep of every set.
  typedef enum logic [2:0] {
    INV_ALL   = 3'd0,  // everything (1 cycle when cfg_flash)
    INV_ASID  = 3'd1,  // by ASID/PASID (+ VMID/context when their enables are set)
    INV_VMID  = 3'd2,  // by VMID/domain
    INV_RANGE = 3'd3,  // by input-address range (+ ASID/VMID/context enables)
    INV_EXT   = 3'd4   // by a per-way kill mask from an external comparator
  } inv_op_t;

endpackage
