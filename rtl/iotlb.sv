// SPDX-License-Identifier: MIT
// A set-associative IOTLB: SETS x WAYS entries of mixed page sizes, tree-PLRU
// or round-robin replacement, a pipelined lookup port (one lookup a cycle,
// cfg_lat cycles to the response), a fill port (victim chosen and entry
// written in the request cycle), and an invalidation port that sweeps the
// sets (cfg_inv_cps cycles a set) or flash-clears the valid bits.
//
// It reproduces the cache template of models/common/cache.h cycle for cycle
// (docs/rtl.md; the lock-step test in tb/rtl proves it on random streams):
//  - a lookup probes the sets given on lk_sets in probe order; the first probe
//    whose set holds a match hits, at the lowest matching way of that set;
//    a miss reports the first probe's set and way 0;
//  - a fill overwrites a valid way with the same tag in place, else takes the
//    lowest invalid way, else the policy's victim;
//  - a sweep costs sets * cfg_inv_cps cycles whatever it finds; a flash
//    invalidate-all costs 1; replacement state survives invalidation.
// The set index function (a hash of the page, size class and tag) sits in the
// requester's index stage, so one block serves every tag layout.
module iotlb
  import iotlb_pkg::*;
#(
    parameter int WAYS = 4,           // a power of two, at least 2
    parameter int SETS_LOG2 = 9,      // storage for up to 2^SETS_LOG2 sets
    parameter int NPROBES = 8,        // size classes (one probe each)
    // Shift of each size class, 8 bits each, class 0 in the low byte:
    // 4K 16K 64K 2M 32M 512M 1G 4T (the VMSAv8-64 leaf sizes; VT-d uses 4K 2M 1G).
    parameter logic [NPROBES*8-1:0] SIZE_SHIFTS = 64'h2A_1E_1D_19_15_10_0E_0C,
    parameter int MAX_LAT = 8,        // deepest lookup pipeline cfg_lat may select
    parameter int ID_W = 16
) (
    input logic clk,
    input logic rst_n,

    // Static configuration (straps; change only in reset).
    input logic [3:0] cfg_sets_log2,  // sets in use = 2^cfg_sets_log2 <= 2^SETS_LOG2
    input logic       cfg_policy,     // 0: tree-PLRU, 1: round-robin
    input logic [3:0] cfg_lat,        // lookup latency, 1..MAX_LAT
    input logic [7:0] cfg_inv_cps,    // sweep cycles per set, >= 1
    input logic       cfg_flash,      // INV_ALL clears every valid bit in 1 cycle

    // Lookup port.
    input  logic                         lk_valid,
    output logic                         lk_ready,
    input  logic [ID_W-1:0]              lk_id,
    input  logic [CTX_W-1:0]             lk_ctx,
    input  logic [ASID_W-1:0]            lk_asid,
    input  logic [VMID_W-1:0]            lk_vmid,
    input  logic [VA_W-1:0]              lk_va,
    input  logic [3:0]                   lk_nprobes,  // probes of this key, 1..NPROBES
    input  logic [NPROBES*SETS_LOG2-1:0] lk_sets,     // set of probe p at [p*SETS_LOG2 +: SETS_LOG2]
    output logic                         rsp_valid,
    output logic [ID_W-1:0]              rsp_id,
    output logic                         rsp_hit,
    output logic [SETS_LOG2-1:0]         rsp_set,
    output logic [$clog2(WAYS)-1:0]      rsp_way,
    output logic [3:0]                   rsp_probe,
    output logic [SIZE_W-1:0]            rsp_size,
    output logic [PAGE_W-1:0]            rsp_opage,
    output logic [PERM_W-1:0]            rsp_perm,
    output logic [ATTR_W-1:0]            rsp_attr,

    // Fill port: the result is valid in the request cycle.
    input  logic                    fl_valid,
    output logic                    fl_ready,
    input  logic [SETS_LOG2-1:0]    fl_set,
    input  logic [CTX_W-1:0]        fl_ctx,
    input  logic [ASID_W-1:0]       fl_asid,
    input  logic [VMID_W-1:0]       fl_vmid,
    input  logic                    fl_global,
    input  logic [SIZE_W-1:0]       fl_size,
    input  logic [PAGE_W-1:0]       fl_vpage,
    input  logic [PAGE_W-1:0]       fl_opage,
    input  logic [PERM_W-1:0]       fl_perm,
    input  logic [ATTR_W-1:0]       fl_attr,
    output logic [$clog2(WAYS)-1:0] fl_way,
    output logic                    fl_evict,    // a valid entry of another tag is replaced
    output logic                    fl_inplace,  // the same tag was overwritten

    // Invalidation port.
    input  logic                    inv_valid,
    output logic                    inv_ready,
    input  inv_op_t                 inv_op,
    input  logic                    inv_ctx_en,
    input  logic [CTX_W-1:0]        inv_ctx,
    input  logic                    inv_asid_en,
    input  logic [ASID_W-1:0]       inv_asid,
    input  logic                    inv_global,  // with inv_asid_en: global entries match too
    input  logic                    inv_vmid_en,
    input  logic [VMID_W-1:0]       inv_vmid,
    input  logic [VA_W-1:0]         inv_lo,      // INV_RANGE: first and last address
    input  logic [VA_W-1:0]         inv_hi,
    output logic                    inv_busy,
    output logic [SETS_LOG2-1:0]    inv_sweep_set,  // INV_EXT: the set whose kill mask is sampled
    input  logic [WAYS-1:0]         inv_ext_kill,
    output logic                    inv_done,    // one-cycle pulse when the operation completes
    output logic [31:0]             inv_count    // entries it invalidated (held until the next)
);

  localparam int WAY_W = $clog2(WAYS);
  localparam int SETS = 1 << SETS_LOG2;
  localparam int CNT_W = SETS_LOG2 + WAY_W + 1;

  // ------------------------------------------------------------------ storage
  // Valid bits and replacement state are flops, kept as flat vectors so a
  // reset or flash clear is one assignment: set s owns bits [s*WAYS +: WAYS]
  // of valid_v and plru_v (tree node n at bit n; bit 0 unused) and
  // [s*WAY_W +: WAY_W] of rr_v.
  tag_t                   tags  [SETS][WAYS];
  data_t                  datas [SETS][WAYS];
  logic [SETS*WAYS-1:0]   valid_v;
  logic [SETS*WAYS-1:0]   plru_v;
  logic [SETS*WAY_W-1:0]  rr_v;
  logic [CNT_W-1:0]       nvalid;   // occupancy (the flash clear's count)

  function automatic logic [WAYS-1:0] valid_of(input logic [SETS_LOG2-1:0] s);
    return valid_v[{s, {WAY_W{1'b0}}}+:WAYS];
  endfunction
  function automatic logic [WAYS-1:0] plru_of(input logic [SETS_LOG2-1:0] s);
    return plru_v[{s, {WAY_W{1'b0}}}+:WAYS];
  endfunction
  function automatic logic [WAY_W-1:0] rr_of(input logic [SETS_LOG2-1:0] s);
    return rr_v[32'(s)*WAY_W+:WAY_W];
  endfunction

  // ---------------------------------------------------------------- helpers
  function automatic logic [WAY_W-1:0] lowest(input logic [WAYS-1:0] v);
    lowest = '0;
    for (int w = WAYS - 1; w >= 0; w--) if (v[w]) lowest = WAY_W'(w);
  endfunction

  function automatic logic [7:0] shift_of(input logic [SIZE_W-1:0] s);
    shift_of = 8'd12;
    for (int i = 0; i < NPROBES; i++) if (32'(s) == i) shift_of = SIZE_SHIFTS[8*i+:8];
  endfunction

  // Tree-PLRU (cache.h): touching way w points every node on its path away
  // from w (1 where the path goes left, 0 where it goes right).
  function automatic logic [WAYS-1:0] plru_touch(input logic [WAYS-1:0] b,
                                                 input logic [WAY_W-1:0] w);
    logic [WAY_W:0] n;
    n = {1'b1, w};  // leaf node WAYS + w
    for (int l = 0; l < WAY_W; l++) begin
      b[n[WAY_W:1]] = ~n[0];
      n = {1'b0, n[WAY_W:1]};
    end
    return b;
  endfunction

  // The victim follows the bits from the root: next = 2n + bit(n).
  function automatic logic [WAY_W-1:0] plru_victim(input logic [WAYS-1:0] b);
    logic [WAY_W:0] n;
    n = {{WAY_W{1'b0}}, 1'b1};
    for (int l = 0; l < WAY_W; l++) n = {n[WAY_W-1:0], b[n[WAY_W-1:0]]};
    return WAY_W'(n - (WAY_W + 1)'(WAYS));  // leaf node WAYS + w is way w
  endfunction

  function automatic logic [31:0] popcount(input logic [WAYS-1:0] v);
    popcount = '0;
    for (int w = 0; w < WAYS; w++) popcount = popcount + 32'(v[w]);
  endfunction

  // ------------------------------------------------------------------ lookup
  logic inv_active;  // a sweep is under way (ports other than lookup wait)
  assign lk_ready = !inv_busy;
  wire lk_fire = lk_valid && lk_ready;

  logic [PAGE_W-1:0] kpage[NPROBES];  // the key's page number at each size class
  logic [WAYS-1:0] pmatch[NPROBES];
  logic [SETS_LOG2-1:0] pset[NPROBES];
  logic lk_hit;
  logic [SETS_LOG2-1:0] lk_hset;
  logic [WAY_W-1:0] lk_hway;
  logic [3:0] lk_hprobe;

  always_comb begin
    for (int i = 0; i < NPROBES; i++) kpage[i] = PAGE_W'(lk_va >> SIZE_SHIFTS[8*i+:8]);
    // The comparators work only for a request (and idle cycles cost the
    // simulation nothing).
    for (int p = 0; p < NPROBES; p++) begin
      pset[p] = lk_sets[p*SETS_LOG2+:SETS_LOG2];
      pmatch[p] = '0;
      for (int w = 0; w < WAYS && lk_valid; w++) begin
        tag_t t;
        t = tags[pset[p]][w];
        pmatch[p][w] = valid_v[{pset[p], WAY_W'(w)}] && 32'(lk_nprobes) > p &&
                       t.ctx == lk_ctx && t.vmid == lk_vmid &&
                       (t.global_ || t.asid == lk_asid) && kpage[t.size] == t.vpage;
      end
    end
    // The first probe with a match wins; a miss names probe 0's set, way 0.
    lk_hit = 1'b0;
    lk_hset = pset[0];
    lk_hway = '0;
    lk_hprobe = '0;
    for (int p = NPROBES - 1; p >= 0; p--) begin
      if (|pmatch[p]) begin
        lk_hit = 1'b1;
        lk_hset = pset[p];
        lk_hway = lowest(pmatch[p]);
        lk_hprobe = 4'(p);
      end
    end
  end

  typedef struct packed {
    logic                 v;
    logic [ID_W-1:0]      id;
    logic                 hit;
    logic [SETS_LOG2-1:0] hset;
    logic [WAY_W-1:0]     way;
    logic [3:0]           probe;
    logic [SIZE_W-1:0]    size;
    data_t                data;
  } rsp_t;

  rsp_t pipe[MAX_LAT];
  rsp_t stage0;
  rsp_t rsp;

  always_comb begin
    stage0 = '0;
    stage0.v = lk_fire;
    stage0.id = lk_id;
    stage0.hit = lk_hit;
    stage0.hset = lk_hset;
    stage0.way = lk_hway;
    stage0.probe = lk_hprobe;
    if (lk_hit) begin
      stage0.size = tags[lk_hset][lk_hway].size;
      stage0.data = datas[lk_hset][lk_hway];
    end
    rsp = pipe[0];
    for (int i = 1; i < MAX_LAT; i++) if (32'(cfg_lat) == i + 1) rsp = pipe[i];
  end

  always_ff @(posedge clk or negedge rst_n) begin
    if (!rst_n) begin
      for (int i = 0; i < MAX_LAT; i++) pipe[i] <= '0;
    end else begin
      pipe[0] <= stage0;
      for (int i = 1; i < MAX_LAT; i++) pipe[i] <= pipe[i-1];
    end
  end

  assign rsp_valid = rsp.v;
  assign rsp_id = rsp.id;
  assign rsp_hit = rsp.hit;
  assign rsp_set = rsp.hset;
  assign rsp_way = rsp.way;
  assign rsp_probe = rsp.probe;
  assign rsp_size = rsp.size;
  assign rsp_opage = rsp.data.opage;
  assign rsp_perm = rsp.data.perm;
  assign rsp_attr = rsp.data.attr;

  // -------------------------------------------------------------------- fill
  assign fl_ready = !inv_busy;
  wire fl_fire = fl_valid && fl_ready;

  tag_t fl_tag;
  logic [WAYS-1:0] fl_same, fl_free;
  logic [WAYS-1:0] fl_plru_view;  // PLRU bits after a same-cycle lookup's touch

  always_comb begin
    fl_tag = '{ctx: fl_ctx, asid: fl_asid, vmid: fl_vmid, global_: fl_global, size: fl_size,
               vpage: fl_vpage};
    fl_same = '0;
    fl_free = '0;
    fl_plru_view = '0;
    fl_inplace = 1'b0;
    fl_evict = 1'b0;
    fl_way = '0;
    if (fl_valid) begin
      for (int w = 0; w < WAYS; w++) begin
        fl_same[w] = valid_v[{fl_set, WAY_W'(w)}] && tags[fl_set][w] == fl_tag;
        fl_free[w] = !valid_v[{fl_set, WAY_W'(w)}];
      end
      fl_plru_view = plru_of(fl_set);
      if (lk_fire && lk_hit && lk_hset == fl_set) fl_plru_view = plru_touch(fl_plru_view, lk_hway);
      fl_inplace = |fl_same;
      if (|fl_same) fl_way = lowest(fl_same);
      else if (|fl_free) fl_way = lowest(fl_free);
      else begin
        fl_evict = 1'b1;
        fl_way = cfg_policy ? rr_of(fl_set) : plru_victim(fl_plru_view);
      end
    end
  end

  // ------------------------------------------------------------ invalidation
  // A request is taken when no sweep runs and no fill shares its cycle. The
  // request cycle is the first cycle of set 0's slot, so a sweep of S sets at
  // C cycles a set completes (inv_done) S * C cycles after the request.
  logic                 busy_q;
  logic [SETS_LOG2-1:0] cur_set_q;
  logic [7:0]           sub_q;
  inv_op_t              op_q;
  logic                 ctx_en_q, asid_en_q, global_q, vmid_en_q;
  logic [CTX_W-1:0]     ctx_q;
  logic [ASID_W-1:0]    asid_q;
  logic [VMID_W-1:0]    vmid_q;
  logic [VA_W-1:0]      lo_q, hi_q;
  logic [31:0]          count_q;
  logic                 done_q;

  assign inv_busy = busy_q;
  assign inv_ready = !busy_q && !fl_valid;
  wire inv_fire = inv_valid && inv_ready;
  wire flash = inv_fire && inv_op == INV_ALL && cfg_flash;

  // The operation in effect: the registered one during a sweep, else the request.
  inv_op_t              e_op;
  logic                 e_ctx_en, e_asid_en, e_global, e_vmid_en;
  logic [CTX_W-1:0]     e_ctx;
  logic [ASID_W-1:0]    e_asid;
  logic [VMID_W-1:0]    e_vmid;
  logic [VA_W-1:0]      e_lo, e_hi;
  logic [SETS_LOG2-1:0] e_set;
  logic [7:0]           e_sub;
  logic                 slot_end, last_set;
  logic [WAYS-1:0]      kill;
  logic [SETS_LOG2-1:0] last_set_index;

  always_comb begin
    inv_active = busy_q || (inv_fire && !flash);
    e_op = busy_q ? op_q : inv_op;
    e_ctx_en = busy_q ? ctx_en_q : inv_ctx_en;
    e_asid_en = busy_q ? asid_en_q : inv_asid_en;
    e_global = busy_q ? global_q : inv_global;
    e_vmid_en = busy_q ? vmid_en_q : inv_vmid_en;
    e_ctx = busy_q ? ctx_q : inv_ctx;
    e_asid = busy_q ? asid_q : inv_asid;
    e_vmid = busy_q ? vmid_q : inv_vmid;
    e_lo = busy_q ? lo_q : inv_lo;
    e_hi = busy_q ? hi_q : inv_hi;
    e_set = busy_q ? cur_set_q : '0;
    e_sub = busy_q ? sub_q : '0;
    slot_end = e_sub == cfg_inv_cps - 8'd1;
    last_set_index = SETS_LOG2'((1 << cfg_sets_log2) - 1);
    last_set = e_set == last_set_index;
    // Every way of the set is compared in parallel.
    kill = '0;
    for (int w = 0; w < WAYS && inv_active; w++) begin
      tag_t t;
      logic hit;
      logic [VA_W-1:0] base, last;
      t = tags[e_set][w];
      base = VA_W'(t.vpage) << shift_of(t.size);
      last = base | ((VA_W'(1) << shift_of(t.size)) - VA_W'(1));
      hit = (!e_ctx_en || t.ctx == e_ctx) && (!e_vmid_en || t.vmid == e_vmid) &&
            (!e_asid_en || t.asid == e_asid || (e_global && t.global_));
      case (e_op)
        INV_ALL: hit = 1'b1;
        INV_RANGE: hit = hit && base <= e_hi && last >= e_lo;
        INV_EXT: hit = inv_ext_kill[w];
        default: ;
      endcase
      kill[w] = valid_v[{e_set, WAY_W'(w)}] && hit;
    end
  end
  assign inv_sweep_set = e_set;
  assign inv_done = done_q;
  assign inv_count = count_q;

  always_ff @(posedge clk or negedge rst_n) begin
    if (!rst_n) begin
      busy_q <= 1'b0;
      cur_set_q <= '0;
      sub_q <= '0;
      op_q <= INV_ALL;
      {ctx_en_q, asid_en_q, global_q, vmid_en_q} <= '0;
      ctx_q <= '0;
      asid_q <= '0;
      vmid_q <= '0;
      lo_q <= '0;
      hi_q <= '0;
      count_q <= '0;
      done_q <= 1'b0;
    end else begin
      done_q <= 1'b0;
      if (inv_fire) begin
        op_q <= inv_op;
        {ctx_en_q, asid_en_q, global_q, vmid_en_q} <=
            {inv_ctx_en, inv_asid_en, inv_global, inv_vmid_en};
        ctx_q <= inv_ctx;
        asid_q <= inv_asid;
        vmid_q <= inv_vmid;
        lo_q <= inv_lo;
        hi_q <= inv_hi;
      end
      if (flash) begin
        count_q <= 32'(nvalid);
        done_q <= 1'b1;
      end else if (inv_active) begin
        if (slot_end) begin
          count_q <= (busy_q ? count_q : '0) + popcount(kill);
          if (last_set) begin
            busy_q <= 1'b0;
            done_q <= 1'b1;
          end else begin
            busy_q <= 1'b1;
            cur_set_q <= e_set + 1'b1;
            sub_q <= '0;
          end
        end else begin
          if (!busy_q) count_q <= '0;
          busy_q <= 1'b1;
          cur_set_q <= e_set;
          sub_q <= e_sub + 8'd1;
        end
      end
    end
  end

  // ------------------------------------------------------ state write-back
  // Valid bits, replacement state and occupancy have reset values; the tag
  // and data SRAMs do not (an entry is meaningful only while valid).
  always_ff @(posedge clk or negedge rst_n) begin
    if (!rst_n) begin
      valid_v <= '0;
      plru_v <= '0;
      rr_v <= '0;
      nvalid <= '0;
    end else begin
      if (lk_fire && lk_hit && !cfg_policy)
        plru_v[{lk_hset, {WAY_W{1'b0}}}+:WAYS] <= plru_touch(plru_of(lk_hset), lk_hway);
      if (fl_fire) begin
        valid_v[{fl_set, fl_way}] <= 1'b1;
        // Written after the lookup's touch: on the same set this one wins.
        if (!cfg_policy) plru_v[{fl_set, {WAY_W{1'b0}}}+:WAYS] <= plru_touch(fl_plru_view, fl_way);
        if (cfg_policy && fl_evict) rr_v[32'(fl_set)*WAY_W+:WAY_W] <= rr_of(fl_set) + 1'b1;
        if (!(|fl_same) && (|fl_free)) nvalid <= nvalid + 1'b1;
      end
      if (flash) begin
        valid_v <= '0;
        nvalid <= '0;
      end else if (inv_active && slot_end) begin
        valid_v[{e_set, {WAY_W{1'b0}}}+:WAYS] <= valid_of(e_set) & ~kill;
        nvalid <= nvalid - CNT_W'(popcount(kill));
      end
    end
  end

  always_ff @(posedge clk) begin
    if (fl_fire) begin
      tags[fl_set][fl_way] <= fl_tag;
      datas[fl_set][fl_way] <= '{opage: fl_opage, perm: fl_perm, attr: fl_attr};
    end
  end

endmodule
