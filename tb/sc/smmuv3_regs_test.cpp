// SPDX-License-Identifier: MIT
// Registers (SMMUv3 §6): ID registers from the config, CR0/CR0ACK,
// IRQ_CTRL/ACK, GBPA updates and SMMUEN == 0 behaviour, 64-bit registers as
// halves, page-1 aliases, writes ignored while enabled, bad accesses, and
// config validation.
#include "smmuv3_test_util.h"

using namespace smmuv3_test;

namespace {

TEST(smmuv3_regs, id_registers_default_mmu600) {
  harness tb("tb", test_config(), timing_mode::cycle);
  tb.run([&] {
    // IDR0: S2P S1P TTF=AArch64 COHACC HTTU=0b10 HYP ATS ASID16 MSI SEV PRI
    // VMID16 CD2L TTENDIAN=LE STALL_MODEL=0 ST_LVL=2-level.
    EXPECT_EQ(tb.reg(reg::IDR0), 0x84d769bu);
    // IDR1: SIDSIZE 16, SSIDSIZE 20, PRIQS/EVENTQS/CMDQS 19.
    EXPECT_EQ(tb.reg(reg::IDR1), 0x2739d10u);
    EXPECT_EQ(tb.reg(reg::IDR2), 0u);
    EXPECT_EQ(tb.reg(reg::IDR3), 0x424u);  // HAD, PPS, RIL
    EXPECT_EQ(tb.reg(reg::IDR5), 0x0080'0075u);  // STALL_MAX 128, 64K/16K/4K, OAS 48
    EXPECT_EQ(tb.reg(reg::IIDR), 0x4832143Bu);
    EXPECT_EQ(tb.reg(reg::AIDR), 1u);
    EXPECT_EQ(tb.reg(reg::PIDR0), 0x83u);  // part number 0x483
    EXPECT_EQ(tb.reg(reg::CIDR0), 0x0du);
  });
}

TEST(smmuv3_regs, id_registers_follow_config) {
  smmuv3_config cfg = test_config();
  cfg.idr.oas = 40;
  cfg.idr.s2p = false;
  cfg.idr.httu = 1;
  cfg.idr.stall_model = 1;
  cfg.idr.sid_bits = 8;
  cfg.idr.ssid_bits = 0;
  cfg.idr.pri = false;
  cfg.idr.ats = false;
  cfg.idr.st_2lvl = false;
  cfg.idr.cd_2lvl = false;
  cfg.idr.vmid16 = false;
  cfg.idr.asid16 = false;
  cfg.idr.msi = false;
  cfg.idr.gran_16k = false;
  cfg.idr.cmdq_log2 = 10;
  harness tb("tb", cfg, timing_mode::cycle);
  tb.run([&] {
    // S1P TTF COHACC HTTU=0b01 HYP SEV TTENDIAN=LE STALL_MODEL=0b01.
    EXPECT_EQ(tb.reg(reg::IDR0), 0x2u | 0x8u | 0x10u | (1u << 6) | 0x200u | 0x4000u | (2u << 21) |
                                     (1u << 24));
    EXPECT_EQ(tb.reg(reg::IDR1), 8u | (19u << 16) | (10u << 21));
    EXPECT_EQ(tb.reg(reg::IDR3), 0x404u);       // HAD, RIL (no PRI: no PPS)
    EXPECT_EQ(tb.reg(reg::IDR5), 0x52u);        // no stalls; 64K and 4K; OAS 40
  });
}

TEST(smmuv3_regs, control_registers_and_acks) {
  harness tb("tb", test_config(), timing_mode::cycle);
  tb.run([&] {
    tb.set_reg(reg::CR0, 0xffffffff);
    EXPECT_EQ(tb.reg(reg::CR0), 0x1fu);
    EXPECT_EQ(tb.reg(reg::CR0ACK), 0x1fu);
    tb.set_reg(reg::CR0, 0);
    EXPECT_EQ(tb.reg(reg::CR0ACK), 0u);
    tb.set_reg(reg::IRQ_CTRL, 0xff);
    EXPECT_EQ(tb.reg(reg::IRQ_CTRLACK), 7u);
    // GBPA: fields take effect only with UPDATE, which reads back as 0.
    tb.set_reg(reg::GBPA, reg::GBPA_ABORT);
    EXPECT_EQ(tb.reg(reg::GBPA), 0u);
    tb.set_reg(reg::GBPA, reg::GBPA_ABORT | reg::GBPA_UPDATE);
    EXPECT_EQ(tb.reg(reg::GBPA), reg::GBPA_ABORT);
    // 64-bit registers, whole and in halves.
    tb.set_reg(reg::STRTAB_BASE, 0x0000'1234'5678'9ac0ull, 8);
    EXPECT_EQ(tb.reg(reg::STRTAB_BASE, 8), 0x0000'1234'5678'9ac0ull);
    EXPECT_EQ(tb.reg(reg::STRTAB_BASE + 4), 0x1234u);
    tb.set_reg(reg::GERROR_IRQ_CFG0 + 4, 0x8);
    tb.set_reg(reg::GERROR_IRQ_CFG0, 0x1003);
    EXPECT_EQ(tb.reg(reg::GERROR_IRQ_CFG0, 8), 0x8'0000'1000ull) << "ADDR[51:2]";
    // EVTQ/PRIQ PROD and CONS: page 1 with page-0 aliases.
    tb.set_reg(reg::EVTQ_BASE, 0x8000'0000ull | 4, 8);
    tb.set_reg(reg::EVTQ_CONS, 0x13);
    EXPECT_EQ(tb.reg(reg::EVTQ_CONS_P0), 0x13u);
    tb.set_reg(reg::EVTQ_PROD_P0, 0x5);
    EXPECT_EQ(tb.reg(reg::EVTQ_PROD), 0x5u);
    tb.set_reg(reg::PRIQ_BASE, 0x8000'1000ull | 3, 8);
    tb.set_reg(reg::PRIQ_CONS_P0, 0x6);
    EXPECT_EQ(tb.reg(reg::PRIQ_CONS), 0x6u);
  });
}

TEST(smmuv3_regs, writes_ignored_while_enabled_and_bad_accesses) {
  harness tb("tb", test_config(), timing_mode::cycle);
  tb.run([&] {
    tb.setup();
    const uint64_t base = tb.reg(reg::STRTAB_BASE, 8);
    tb.set_reg(reg::STRTAB_BASE, 0x9000'0000ull, 8);
    EXPECT_EQ(tb.reg(reg::STRTAB_BASE, 8), base) << "CONSTRAINED UNPREDICTABLE: ignored";
    const uint64_t cmdq = tb.reg(reg::CMDQ_BASE, 8);
    tb.set_reg(reg::CMDQ_BASE, 0x9000'0000ull, 8);
    EXPECT_EQ(tb.reg(reg::CMDQ_BASE, 8), cmdq);
    EXPECT_EQ(tb.counter("", "ignored_register_writes"), 4u);  // two halves each
    // A 16-bit access is not a register access.
    tlm::tlm_generic_payload tr;
    uint16_t v = 0;
    tr.set_command(tlm::TLM_READ_COMMAND);
    tr.set_address(reg::IDR0);
    tr.set_data_ptr(reinterpret_cast<unsigned char *>(&v));
    tr.set_data_length(2);
    tr.set_streaming_width(2);
    sc_time d = SC_ZERO_TIME;
    tb.reg_port->b_transport(tr, d);
    EXPECT_EQ(tr.get_response_status(), tlm::TLM_GENERIC_ERROR_RESPONSE);
  });
}

TEST(smmuv3_regs, smmuen_0_uses_gbpa) {
  harness tb("tb", test_config(), timing_mode::cycle);
  tb.run([&] {
    tb.setup(false);
    tb.set_reg(reg::CR0, reg::CR0_EVENTQEN);
    tb.mem.write64(0x1'0000'0040ull, 0x42);
    uint64_t v = 0;
    auto r = tb.read(5, 0x1'0000'0040ull, &v);
    EXPECT_TRUE(r.ok()) << "GBPA.ABORT == 0: bypass";
    EXPECT_EQ(v, 0x42u);
    tb.set_reg(reg::GBPA, reg::GBPA_ABORT | reg::GBPA_UPDATE);
    r = tb.read(5, 0x1'0000'0040ull);
    EXPECT_EQ(r.ext.status, iommu_status::config_abort);
    EXPECT_EQ(tb.counter("", "gbpa_aborts"), 1u);
    // An ATS Translation Request with SMMUEN == 0: F_BAD_ATS_TREQ (§7.3.6).
    dma_args a;
    a.sid = 5;
    a.at = at_kind::translation_request;
    EXPECT_EQ(tb.dma(0x1000, a).ext.fault_type, evt::F_BAD_ATS_TREQ);
    const auto ev = tb.events();
    ASSERT_EQ(ev.size(), 1u);
    EXPECT_EQ(ev[0].id(), evt::F_BAD_ATS_TREQ);
  });
}

TEST(smmuv3_regs, config_check) {
  smmuv3_config c;
  EXPECT_EQ(c.check(), "");
  c.idr.oas = 47;
  EXPECT_NE(c.check().find("oas"), std::string::npos);
  c = smmuv3_config();
  c.main_tlb.entries = 2048;
  c.main_tlb.ways = 3;
  EXPECT_NE(c.check().find("main_tlb"), std::string::npos);
  c = smmuv3_config();
  c.port_tbu = {0, 2};
  EXPECT_NE(c.check().find("port_tbu"), std::string::npos);
  c = smmuv3_config();
  c.idr.httu = 3;
  EXPECT_FALSE(c.check().empty());
  c = smmuv3_config();
  c.idr.pri = true;
  c.idr.ats = false;
  EXPECT_FALSE(c.check().empty());
  c = smmuv3_config();
  c.walk_cache_s1.push_back(cache_config::make("wc", 8, 0, replacement_policy::lru, 1));
  c.walk_cache_s1.push_back(cache_config::make("wc", 8, 0, replacement_policy::lru, 1));
  EXPECT_FALSE(c.check().empty());
  c = smmuv3_config();
  c.idr.oas = 33;
  EXPECT_THROW(iommusim::models::smmuv3::smmuv3("bad", c, timing_mode::cycle), std::invalid_argument);
}

}  // namespace
