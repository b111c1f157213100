// `iommusim demo`: a guided tour of iommufd's object model, run against the
// simulator through the C API only (iommusim_open/ioctl/read/write/poll/close)
// with the kernel's uAPI and selftest ABI. Every step is one call; the output
// says what it did, what came back, and whether Linux's iommufd behaves the
// same (the exit status is 0 only if every step did).
#include <CLI/CLI.hpp>
#include <fmt/core.h>

#include <poll.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "demo_report.h"
#include "iommusim/iommufd.h"
#include "iommusim/iommufd_sim.h"
#include "iommusim/iommufd_test.h"
#include "subcommands.h"

namespace iommusim::demo {
namespace {

using nlohmann::ordered_json;

// An anonymous, page-aligned buffer with every page touched, as a DMA buffer.
class Buffer {
public:
    explicit Buffer(size_t length) : length_(length) {
        void* p = mmap(nullptr, length, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (p != MAP_FAILED) {
            data_ = static_cast<unsigned char*>(p);
            for (size_t i = 0; i < length; ++i) {
                data_[i] = static_cast<unsigned char>(i * 7);
            }
        }
    }
    ~Buffer() {
        if (data_ != nullptr) {
            munmap(data_, length_);
        }
    }
    Buffer(const Buffer&) = delete;
    Buffer& operator=(const Buffer&) = delete;

    bool valid() const { return data_ != nullptr; }
    size_t length() const { return length_; }
    std::uint64_t uptr() const { return reinterpret_cast<std::uintptr_t>(data_); }

private:
    unsigned char* data_ = nullptr;
    size_t length_;
};

std::string range_text(std::uint64_t start, std::uint64_t last) {
    return fmt::format("[{:#x}, {:#x}]", start, last);
}

class Scenario {
public:
    explicit Scenario(Report& report)
        : r_(report),
          page_(static_cast<std::uint64_t>(sysconf(_SC_PAGESIZE))),
          io_page_(page_ / 2),
          a_(16 * page_),
          b_(4 * page_) {}

    ~Scenario() {
        for (int fd : {fault_fd_, fd_}) {
            if (fd >= 0) {
                iommusim_close(fd);
            }
        }
    }

    Scenario(const Scenario&) = delete;
    Scenario& operator=(const Scenario&) = delete;

    bool run() {
        if (!a_.valid() || !b_.valid()) {
            r_.abort(fmt::format("cannot allocate the DMA buffers: {}", std::strerror(errno)));
            return false;
        }
        intro();
        return open_context() && ioas_and_ranges() && mock_device() && map_buffers() &&
               second_domain() && copy_to_second_ioas() && expected_failures() && dirty_tracking() &&
               fault_queue() && unmap_and_close();
    }

private:
    // ---- helpers -----------------------------------------------------------

    Step& ioctl_step(const std::string& name, const std::string& ioctl_name, const std::string& why,
                     unsigned long request, void* arg, int expected_errno = 0) {
        Step& s = r_.begin(name, ioctl_name, why, expected_errno);
        s.returned(iommusim_ioctl(fd_, request, arg));
        return s;
    }

    static iommu_test_cmd test_cmd(std::uint32_t op, std::uint32_t id) {
        iommu_test_cmd cmd;
        std::memset(&cmd, 0, sizeof cmd);
        cmd.size = sizeof cmd;
        cmd.op = op;
        cmd.id = id;
        return cmd;
    }

    bool destroy(std::uint32_t id, const std::string& name, const std::string& why) {
        iommu_destroy cmd{};
        cmd.size = sizeof cmd;
        cmd.id = id;
        Step& s = ioctl_step(name, "IOMMU_DESTROY", why, IOMMU_DESTROY, &cmd);
        return r_.end(s);
    }

    bool check_refs(const Buffer& buf, std::uint32_t refs, const std::string& name,
                    const std::string& why) {
        iommu_test_cmd cmd = test_cmd(IOMMU_TEST_OP_MD_CHECK_REFS, 0);
        cmd.check_refs.uptr = buf.uptr();
        cmd.check_refs.length = buf.length();
        cmd.check_refs.refs = refs;
        Step& s = ioctl_step(name, "IOMMU_TEST_CMD/IOMMU_TEST_OP_MD_CHECK_REFS", why, IOMMU_TEST_CMD,
                             &cmd);
        if (s.succeeded()) {
            s.out("pins_per_page", refs);
        }
        return r_.end(s);
    }

    bool check_map(std::uint32_t hwpt, std::uint64_t iova, const Buffer& buf,
                   const std::string& name, const std::string& why) {
        iommu_test_cmd cmd = test_cmd(IOMMU_TEST_OP_MD_CHECK_MAP, hwpt);
        cmd.check_map.iova = iova;
        cmd.check_map.length = buf.length();
        cmd.check_map.uptr = buf.uptr();
        Step& s = ioctl_step(name, "IOMMU_TEST_CMD/IOMMU_TEST_OP_MD_CHECK_MAP", why, IOMMU_TEST_CMD,
                             &cmd);
        if (s.succeeded()) {
            s.out("hwpt_id", hwpt);
            s.out("iova_pages_checked", buf.length() / io_page_);
        }
        return r_.end(s);
    }

    // IOAS_IOVA_RANGES with room for `room` ranges; records what came back.
    Step& iova_ranges(const std::string& name, const std::string& why, std::uint32_t room,
                      std::vector<iommu_iova_range>& ranges, std::uint64_t& alignment,
                      int expected_errno = 0) {
        ranges.assign(room, iommu_iova_range{});
        iommu_ioas_iova_ranges cmd{};
        cmd.size = sizeof cmd;
        cmd.ioas_id = ioas_a_;
        cmd.num_iovas = room;
        cmd.allowed_iovas = room != 0 ? reinterpret_cast<std::uintptr_t>(ranges.data()) : 0;
        Step& s = ioctl_step(name, "IOMMU_IOAS_IOVA_RANGES", why, IOMMU_IOAS_IOVA_RANGES, &cmd,
                             expected_errno);
        num_iovas_ = cmd.num_iovas;
        ranges.resize(std::min(cmd.num_iovas, room));
        alignment = cmd.out_iova_alignment;
        s.out("num_iovas", cmd.num_iovas);
        if (s.succeeded()) {
            ordered_json list = ordered_json::array();
            std::string text;
            for (const iommu_iova_range& rg : ranges) {
                list.push_back({{"start", rg.start}, {"last", rg.last}});
                text += (text.empty() ? "" : " ") + range_text(rg.start, rg.last);
            }
            s.out("ranges", list, text);
            s.out("iova_alignment", alignment);
        }
        return s;
    }

    static bool single_range(const std::vector<iommu_iova_range>& r, std::uint64_t start,
                             std::uint64_t last) {
        return r.size() == 1 && r[0].start == start && r[0].last == last;
    }

    // ---- the scenario ----------------------------------------------------------

    void intro() {
        r_.intro(
            {
                "iommusim demo: iommufd's object model, one call at a time.",
                fmt::format(
                    "Each step below is one call on the simulated /dev/iommu through the C API, "
                    "with the kernel's structs (include/uapi/linux/iommufd.h) and its selftest ABI "
                    "(IOMMU_TEST_CMD), which stands in for a VFIO driver and a device behind a mock "
                    "IOMMU. Host pages are {} bytes; the mock IOMMU maps {}-byte IO pages.",
                    page_, io_page_),
            },
            {{"host_page_size", page_},
             {"mock_io_page_size", io_page_},
             {"mock_aperture",
              {{"start", std::uint64_t{MOCK_APERTURE_START}},
               {"last", std::uint64_t{MOCK_APERTURE_LAST}}}}});
    }

    bool open_context() {
        Step& s = r_.begin(
            "Open /dev/iommu", "open",
            "Each open of /dev/iommu creates an independent iommufd context. Everything made "
            "through it (IO address spaces, devices, hardware page tables, fault queues) is an "
            "object with a small integer ID in this context's table, and closing the fd destroys "
            "them all.");
        fd_ = iommusim_open();
        s.returned(fd_);
        if (s.succeeded()) {
            s.out("fd", static_cast<std::uint64_t>(fd_));
        }
        return r_.end(s);
    }

    bool ioas_and_ranges() {
        {
            iommu_ioas_alloc cmd{};
            cmd.size = sizeof cmd;
            Step& s = ioctl_step(
                "Allocate an IO address space (IOAS)", "IOMMU_IOAS_ALLOC",
                "An IOAS is iommufd's software page table: a set of mappings from the program's "
                "memory to IO virtual addresses (IOVAs). Devices never walk it; every hardware "
                "page table (HWPT) built on it is kept an exact copy of it.",
                IOMMU_IOAS_ALLOC, &cmd);
            if (s.succeeded()) {
                ioas_a_ = cmd.out_ioas_id;
                s.out("ioas_id", ioas_a_);
                s.expect(ioas_a_ != 0, "a non-zero object ID");
            }
            if (!r_.end(s)) {
                return false;
            }
        }
        std::vector<iommu_iova_range> ranges;
        std::uint64_t alignment = 0;
        {
            Step& s = iova_ranges(
                "Ask how many usable IOVA ranges the IOAS has", 
                "IOVA_RANGES lists the IOVA ranges that may be mapped. The usual pattern is to ask "
                "with an empty array first: iommufd fails with EMSGSIZE but fills in num_iovas, "
                "so the caller knows how much room to allocate.",
                0, ranges, alignment, EMSGSIZE);
            s.expect(num_iovas_ == 1, "num_iovas 1");
            r_.end(s);
        }
        {
            Step& s = iova_ranges(
                "List the usable IOVA ranges of the empty IOAS",
                "With no device attached nothing restricts the IOAS: the whole 64-bit IOVA space "
                "is usable, at byte alignment.",
                8, ranges, alignment);
            if (s.succeeded()) {
                s.expect(single_range(ranges, 0, UINT64_MAX), "one range [0, 0xffffffffffffffff]");
                s.expect(alignment == 1, "iova_alignment 1");
            }
            return r_.end(s);
        }
    }

    bool mock_device() {
        {
            iommu_test_cmd cmd = test_cmd(IOMMU_TEST_OP_MOCK_DOMAIN, ioas_a_);
            Step& s = ioctl_step(
                "Create a mock device attached to the IOAS", "IOMMU_TEST_CMD/IOMMU_TEST_OP_MOCK_DOMAIN",
                "MOCK_DOMAIN creates a device behind the mock IOMMU (stdev_id is the selftest's "
                "handle on it), binds it to this context (idev_id is the iommufd device object, "
                "what binding a VFIO device cdev creates) and attaches it to the IOAS. Attaching a "
                "device to an IOAS makes iommufd allocate a paging HWPT, an IOMMU domain, on its "
                "own (hwpt_id) and fill it from the IOAS.",
                IOMMU_TEST_CMD, &cmd);
            if (s.succeeded()) {
                stdev_ = cmd.mock_domain.out_stdev_id;
                hwpt_auto_ = cmd.mock_domain.out_hwpt_id;
                idev_ = cmd.mock_domain.out_idev_id;
                s.out("stdev_id", stdev_);
                s.out("hwpt_id", hwpt_auto_);
                s.out("idev_id", idev_);
                s.expect(stdev_ != 0 && hwpt_auto_ != 0 && idev_ != 0, "non-zero IDs");
                s.expect(stdev_ != hwpt_auto_ && hwpt_auto_ != idev_ && stdev_ != idev_ &&
                             ioas_a_ != stdev_ && ioas_a_ != hwpt_auto_ && ioas_a_ != idev_,
                         "distinct IDs: every object shares one ID space");
            }
            if (!r_.end(s)) {
                return false;
            }
        }
        {
            std::vector<iommu_iova_range> ranges;
            std::uint64_t alignment = 0;
            Step& s = iova_ranges(
                "List the usable IOVA ranges again, with a device attached",
                fmt::format("The IOAS now offers only what every attached IOMMU can translate: the "
                            "mock IOMMU's aperture {}. Everything outside it became reserved, and "
                            "IOVAs must now be aligned to the IOMMU's smallest page ({} bytes).",
                            range_text(MOCK_APERTURE_START, MOCK_APERTURE_LAST), io_page_),
                8, ranges, alignment);
            if (s.succeeded()) {
                s.expect(single_range(ranges, MOCK_APERTURE_START, MOCK_APERTURE_LAST),
                         "one range " + range_text(MOCK_APERTURE_START, MOCK_APERTURE_LAST));
                s.expect(alignment == io_page_, fmt::format("iova_alignment {}", io_page_));
            }
            if (!r_.end(s)) {
                return false;
            }
        }
        {
            iommu_test_hw_info info{};
            iommu_hw_info cmd{};
            cmd.size = sizeof cmd;
            cmd.dev_id = idev_;
            cmd.data_len = sizeof info;
            cmd.data_uptr = reinterpret_cast<std::uintptr_t>(&info);
            Step& s = ioctl_step(
                "Ask what IOMMU is behind the device", "IOMMU_GET_HW_INFO",
                "GET_HW_INFO copies a driver-specific description of the device's IOMMU into the "
                "caller's buffer (for the mock, struct iommu_test_hw_info with one register, "
                "test_reg) and reports generic capabilities such as hardware dirty tracking.",
                IOMMU_GET_HW_INFO, &cmd);
            if (s.succeeded()) {
                s.out_hex("out_data_type", cmd.out_data_type);
                s.out("data_len", cmd.data_len);
                s.out_hex("test_reg", info.test_reg);
                s.out_hex("out_capabilities", cmd.out_capabilities);
                s.out("dirty_tracking",
                      (cmd.out_capabilities & IOMMU_HW_CAP_DIRTY_TRACKING) != 0 ? "yes" : "no");
                s.out("out_max_pasid_log2", cmd.out_max_pasid_log2);
                s.expect(cmd.out_data_type == IOMMU_HW_INFO_TYPE_SELFTEST,
                         "out_data_type IOMMU_HW_INFO_TYPE_SELFTEST (0xfeedbeef)");
                s.expect(cmd.data_len == sizeof info, fmt::format("data_len {}", sizeof info));
                s.expect(info.test_reg == IOMMU_HW_INFO_SELFTEST_REGVAL, "test_reg 0xdeadbeef");
                s.expect((cmd.out_capabilities & IOMMU_HW_CAP_DIRTY_TRACKING) != 0,
                         "IOMMU_HW_CAP_DIRTY_TRACKING");
            }
            return r_.end(s);
        }
    }

    bool map_buffers() {
        {
            iommu_ioas_map cmd{};
            cmd.size = sizeof cmd;
            cmd.flags = IOMMU_IOAS_MAP_READABLE | IOMMU_IOAS_MAP_WRITEABLE;
            cmd.ioas_id = ioas_a_;
            cmd.user_va = a_.uptr();
            cmd.length = a_.length();
            Step& s = ioctl_step(
                "Map a buffer; iommufd picks the IOVA", "IOMMU_IOAS_MAP",
                fmt::format("MAP pins the pages of a {}-byte page-aligned buffer and maps them, "
                            "readable and writeable, at an IOVA that iommufd picks from the usable "
                            "ranges. Every HWPT of the IOAS is updated before the call returns.",
                            a_.length()),
                IOMMU_IOAS_MAP, &cmd);
            if (s.succeeded()) {
                iova_a_ = cmd.iova;
                s.out_hex("iova", iova_a_);
                s.out("length", cmd.length);
                s.expect(iova_a_ >= MOCK_APERTURE_START &&
                             iova_a_ + a_.length() - 1 <= MOCK_APERTURE_LAST,
                         "an IOVA inside the aperture");
                s.expect(iova_a_ % io_page_ == 0, "an IOVA aligned to the IO page");
            }
            if (!r_.end(s)) {
                return false;
            }
        }
        {
            // Well clear of the first mapping; 1 MiB-aligned for readability.
            constexpr std::uint64_t kMiB = 1 << 20;
            std::uint64_t fixed = MOCK_APERTURE_START + 256 * kMiB;
            if (fixed < iova_a_ + a_.length() && iova_a_ < fixed + b_.length()) {
                fixed = (iova_a_ + a_.length() + 2 * kMiB) & ~(kMiB - 1);
            }
            fixed_iova_ = fixed;
            iommu_ioas_map cmd{};
            cmd.size = sizeof cmd;
            cmd.flags = IOMMU_IOAS_MAP_FIXED_IOVA | IOMMU_IOAS_MAP_READABLE |
                        IOMMU_IOAS_MAP_WRITEABLE;
            cmd.ioas_id = ioas_a_;
            cmd.user_va = b_.uptr();
            cmd.length = b_.length();
            cmd.iova = fixed;
            Step& s = ioctl_step(
                "Map a second buffer at an IOVA the caller chooses", "IOMMU_IOAS_MAP",
                fmt::format("With IOMMU_IOAS_MAP_FIXED_IOVA the caller names the IOVA ({:#x}), as "
                            "a VMM does to place guest memory at its guest-physical address. The "
                            "range must be free, usable and aligned.",
                            fixed),
                IOMMU_IOAS_MAP, &cmd);
            if (s.succeeded()) {
                s.out_hex("iova", cmd.iova);
                s.out("length", cmd.length);
                s.expect(cmd.iova == fixed, fmt::format("iova left at {:#x}", fixed));
            }
            if (!r_.end(s)) {
                return false;
            }
        }
        return check_map(hwpt_auto_, iova_a_, a_, "Check the domain maps the first buffer",
                         fmt::format("MD_CHECK_MAP looks into the mock IOMMU's page table of HWPT "
                                     "{}: every IO page of the mapping must translate to the "
                                     "physical page behind the same offset of the buffer, or it "
                                     "fails with EINVAL.",
                                     hwpt_auto_)) &&
               check_refs(a_, 1, "Count the pins on the buffer's pages",
                          "Mapping into a domain pinned each page of the buffer. MD_CHECK_REFS "
                          "fails with EIO unless every page has exactly the given number of pins: "
                          "here 1.");
    }

    bool second_domain() {
        {
            iommu_hwpt_alloc cmd{};
            cmd.size = sizeof cmd;
            cmd.dev_id = idev_;
            cmd.pt_id = ioas_a_;
            Step& s = ioctl_step(
                "Allocate a second HWPT on the same IOAS", "IOMMU_HWPT_ALLOC",
                fmt::format("HWPTs can also be allocated explicitly, for a device (idev {}) on an "
                            "IOAS. This one is a second, independent IOMMU domain; iommufd fills it "
                            "with the IOAS's current mappings at once.",
                            idev_),
                IOMMU_HWPT_ALLOC, &cmd);
            if (s.succeeded()) {
                hwpt_b_ = cmd.out_hwpt_id;
                s.out("hwpt_id", hwpt_b_);
                s.expect(hwpt_b_ != 0 && hwpt_b_ != hwpt_auto_, "a new HWPT ID");
            }
            if (!r_.end(s)) {
                return false;
            }
        }
        {
            iommu_test_cmd cmd = test_cmd(IOMMU_TEST_OP_MOCK_DOMAIN, hwpt_b_);
            Step& s = ioctl_step(
                "Attach a second mock device to that HWPT", "IOMMU_TEST_CMD/IOMMU_TEST_OP_MOCK_DOMAIN",
                "Given a HWPT instead of an IOAS, MOCK_DOMAIN attaches the new device to it "
                "directly. Two devices now translate through two domains built from one IOAS.",
                IOMMU_TEST_CMD, &cmd);
            if (s.succeeded()) {
                s.out("stdev_id", cmd.mock_domain.out_stdev_id);
                s.out("hwpt_id", cmd.mock_domain.out_hwpt_id);
                s.out("idev_id", cmd.mock_domain.out_idev_id);
                s.expect(cmd.mock_domain.out_hwpt_id == hwpt_b_, fmt::format("hwpt_id {}", hwpt_b_));
            }
            if (!r_.end(s)) {
                return false;
            }
        }
        return check_map(hwpt_b_, iova_a_, a_, "Check the second domain maps the buffer too",
                         "The new domain was filled from the IOAS when it was allocated, so it "
                         "translates the same IOVAs to the same pages.") &&
               check_refs(a_, 1, "Count the pins again: still one per page",
                          "Two domains map the buffer, yet each page is pinned once. Pins belong "
                          "to the IOAS's page storage, which all its domains share: another device "
                          "costs IOMMU page-table memory, not more pinned memory.");
    }

    bool copy_to_second_ioas() {
        {
            iommu_ioas_alloc cmd{};
            cmd.size = sizeof cmd;
            Step& s = ioctl_step("Allocate a second IOAS", "IOMMU_IOAS_ALLOC",
                                 "A context may hold many IOASes, e.g. one per guest address space.",
                                 IOMMU_IOAS_ALLOC, &cmd);
            if (s.succeeded()) {
                ioas_b_ = cmd.out_ioas_id;
                s.out("ioas_id", ioas_b_);
                s.expect(ioas_b_ != 0 && ioas_b_ != ioas_a_, "a new IOAS ID");
            }
            if (!r_.end(s)) {
                return false;
            }
        }
        {
            iommu_ioas_copy cmd{};
            cmd.size = sizeof cmd;
            cmd.flags = IOMMU_IOAS_MAP_READABLE | IOMMU_IOAS_MAP_WRITEABLE;
            cmd.dst_ioas_id = ioas_b_;
            cmd.src_ioas_id = ioas_a_;
            cmd.length = a_.length();
            cmd.src_iova = iova_a_;
            Step& s = ioctl_step(
                "Copy the first mapping into the second IOAS", "IOMMU_IOAS_COPY",
                fmt::format("COPY maps into IOAS {} the pages already mapped at IOVA {:#x} of IOAS "
                            "{}, at an IOVA iommufd picks. The pages are shared, not pinned again: "
                            "how a VMM gives a second address space the same memory.",
                            ioas_b_, iova_a_, ioas_a_),
                IOMMU_IOAS_COPY, &cmd);
            if (s.succeeded()) {
                s.out_hex("dst_iova", cmd.dst_iova);
                s.out("length", cmd.length);
            }
            if (!r_.end(s)) {
                return false;
            }
        }
        return check_refs(a_, 1, "Count the pins after the copy",
                          "Still one pin per page: the copy shares the pinned pages.");
    }

    bool expected_failures() {
        {
            iommu_ioas_map cmd{};
            cmd.size = sizeof cmd;
            cmd.flags = IOMMU_IOAS_MAP_FIXED_IOVA | IOMMU_IOAS_MAP_READABLE;
            cmd.ioas_id = ioas_a_;
            cmd.user_va = b_.uptr();
            cmd.length = b_.length();
            cmd.iova = iova_a_;
            Step& s = ioctl_step(
                "Map over an existing mapping", "IOMMU_IOAS_MAP",
                fmt::format("Mappings in an IOAS never overlap: a FIXED_IOVA map onto IOVA {:#x}, "
                            "already in use, fails with EEXIST and changes nothing.",
                            iova_a_),
                IOMMU_IOAS_MAP, &cmd, EEXIST);
            r_.end(s);
        }
        {
            iommu_destroy cmd{};
            cmd.size = sizeof cmd;
            cmd.id = ioas_a_;
            Step& s = ioctl_step(
                "Destroy the first IOAS while it is in use", "IOMMU_DESTROY",
                fmt::format("IOMMU_DESTROY destroys any object by ID, but only while no other "
                            "object depends on it. HWPTs {} and {} are built on IOAS {}, so it "
                            "is busy.",
                            hwpt_auto_, hwpt_b_, ioas_a_),
                IOMMU_DESTROY, &cmd, EBUSY);
            r_.end(s);
        }
        {
            iommu_ioas_unmap cmd{};
            cmd.size = sizeof cmd;
            cmd.ioas_id = ioas_a_;
            cmd.iova = fixed_iova_ + 64 * page_;
            cmd.length = 16 * page_;
            Step& s = ioctl_step(
                "Unmap a range that holds no mapping", "IOMMU_IOAS_UNMAP",
                fmt::format("UNMAP removes every mapping lying entirely inside [{:#x}, +{:#x}); "
                            "there is none, so it fails with ENOENT.",
                            cmd.iova, cmd.length),
                IOMMU_IOAS_UNMAP, &cmd, ENOENT);
            r_.end(s);
        }
        {
            iommu_ioas_alloc cmd{};
            cmd.size = sizeof cmd.size;
            Step& s = ioctl_step(
                "Pass a struct shorter than the ioctl needs", "IOMMU_IOAS_ALLOC",
                fmt::format("Every iommufd ioctl struct starts with its own size, so old and new "
                            "programs and kernels interoperate. A size that does not reach the "
                            "last mandatory field ({} of {} bytes here) fails with EINVAL.",
                            sizeof cmd.size, sizeof cmd),
                IOMMU_IOAS_ALLOC, &cmd, EINVAL);
            r_.end(s);
        }
        {
            // iommu_ioas_alloc followed by bytes a newer ABI might define.
            alignas(8) unsigned char raw[sizeof(iommu_ioas_alloc) + 4] = {};
            iommu_ioas_alloc cmd{};
            cmd.size = sizeof raw;
            std::memcpy(raw, &cmd, sizeof cmd);
            raw[sizeof cmd] = 1;
            Step& s = ioctl_step(
                "Pass a longer struct with a non-zero byte past the known fields",
                "IOMMU_IOAS_ALLOC",
                fmt::format("A larger size ({} bytes) is accepted, as from a newer program, only "
                            "if every byte beyond the fields the kernel knows is zero. Otherwise "
                            "the request means something this kernel cannot do: E2BIG.",
                            sizeof raw),
                IOMMU_IOAS_ALLOC, raw, E2BIG);
            return r_.end(s);
        }
    }

    bool dirty_tracking() {
        std::uint32_t hwpt = 0;
        {
            iommu_hwpt_alloc cmd{};
            cmd.size = sizeof cmd;
            cmd.flags = IOMMU_HWPT_ALLOC_DIRTY_TRACKING;
            cmd.dev_id = idev_;
            cmd.pt_id = ioas_a_;
            Step& s = ioctl_step(
                "Allocate a HWPT that can track dirty pages",
                "IOMMU_HWPT_ALLOC",
                "For live migration a VMM must learn which pages devices wrote. A HWPT allocated "
                "with IOMMU_HWPT_ALLOC_DIRTY_TRACKING uses page tables with hardware dirty bits "
                "(an IOMMU without them fails this with EOPNOTSUPP).",
                IOMMU_HWPT_ALLOC, &cmd);
            if (s.succeeded()) {
                hwpt = cmd.out_hwpt_id;
                s.out("hwpt_id", hwpt);
            }
            if (!r_.end(s)) {
                return false;
            }
        }
        auto set_tracking = [&](bool on, const std::string& name, const std::string& why) {
            iommu_hwpt_set_dirty_tracking cmd{};
            cmd.size = sizeof cmd;
            cmd.flags = on ? IOMMU_HWPT_DIRTY_TRACKING_ENABLE : 0;
            cmd.hwpt_id = hwpt;
            Step& s = ioctl_step(name, "IOMMU_HWPT_SET_DIRTY_TRACKING", why,
                                 IOMMU_HWPT_SET_DIRTY_TRACKING, &cmd);
            return r_.end(s);
        };
        if (!set_tracking(true, "Start dirty tracking",
                          "Tracking is switched on separately, when migration starts; from then "
                          "on the IOMMU sets the dirty bit of every page a device writes.")) {
            return false;
        }

        const std::uint64_t nbits = a_.length() / io_page_;
        std::vector<std::uint64_t> bitmap((nbits + 63) / 64, 0);
        std::vector<std::uint64_t> marked;
        for (std::uint64_t i = 0; i < nbits; i += 2) {
            bitmap[i / 64] |= std::uint64_t{1} << (i % 64);
            marked.push_back(i);
        }
        {
            iommu_test_cmd cmd = test_cmd(IOMMU_TEST_OP_DIRTY, hwpt);
            cmd.dirty.iova = iova_a_;
            cmd.dirty.length = a_.length();
            cmd.dirty.page_size = io_page_;
            cmd.dirty.uptr = reinterpret_cast<std::uintptr_t>(bitmap.data());
            Step& s = ioctl_step(
                "Simulate device writes to every other IO page",
                "IOMMU_TEST_CMD/IOMMU_TEST_OP_DIRTY",
                fmt::format("The selftest sets the dirty bit in the mock domain's page table as a "
                            "DMA write would: for every even {}-byte IO page of the first mapping, "
                            "{} of its {} pages.",
                            io_page_, marked.size(), nbits),
                IOMMU_TEST_CMD, &cmd);
            if (s.succeeded()) {
                s.out("out_nr_dirty", cmd.dirty.out_nr_dirty);
                s.expect(cmd.dirty.out_nr_dirty == marked.size(),
                         fmt::format("out_nr_dirty {}", marked.size()));
            }
            if (!r_.end(s)) {
                return false;
            }
        }
        auto read_bitmap = [&](const std::string& name, const std::string& why,
                               const std::vector<std::uint64_t>& want) {
            std::fill(bitmap.begin(), bitmap.end(), 0);
            iommu_hwpt_get_dirty_bitmap cmd{};
            cmd.size = sizeof cmd;
            cmd.hwpt_id = hwpt;
            cmd.iova = iova_a_;
            cmd.length = a_.length();
            cmd.page_size = io_page_;
            cmd.data = reinterpret_cast<std::uintptr_t>(bitmap.data());
            Step& s = ioctl_step(name, "IOMMU_HWPT_GET_DIRTY_BITMAP", why,
                                 IOMMU_HWPT_GET_DIRTY_BITMAP, &cmd);
            if (s.succeeded()) {
                std::vector<std::uint64_t> got;
                for (std::uint64_t i = 0; i < nbits; ++i) {
                    if ((bitmap[i / 64] >> (i % 64) & 1) != 0) {
                        got.push_back(i);
                    }
                }
                std::string text = got.empty() ? "none" : "";
                for (std::uint64_t i : got) {
                    text += (text.empty() ? "" : ",") + std::to_string(i);
                }
                s.out("dirty_pages", ordered_json(got), text);
                s.expect(got == want, want.empty() ? std::string("no dirty pages")
                                                   : "exactly the pages marked dirty");
            }
            return r_.end(s);
        };
        return read_bitmap("Read the dirty bitmap",
                           fmt::format("GET_DIRTY_BITMAP sets bit n of the caller's bitmap when IO "
                                       "page n of [{:#x}, +{:#x}) was written, and clears the "
                                       "dirty bits it reports.",
                                       iova_a_, a_.length()),
                           marked) &&
               read_bitmap("Read the dirty bitmap again",
                           "The first read cleared the bits, so nothing is dirty now: each "
                           "migration round sees only what changed since the last one "
                           "(IOMMU_HWPT_GET_DIRTY_BITMAP_NO_CLEAR would read without clearing).",
                           {}) &&
               set_tracking(false, "Stop dirty tracking",
                            "Flags 0 switches tracking off again.") &&
               destroy(hwpt, "Destroy the dirty-tracking HWPT",
                       "No device is attached to it and nothing refers to it, so it can go.");
    }

    bool fault_queue() {
        std::uint32_t fault_id = 0;
        std::uint32_t parent = 0;
        std::uint32_t nested = 0;
        {
            iommu_fault_alloc cmd{};
            cmd.size = sizeof cmd;
            Step& s = ioctl_step(
                "Allocate a fault queue", "IOMMU_FAULT_QUEUE_ALLOC",
                "A fault queue hands I/O page faults (a device's PRI page requests) to the "
                "program instead of the kernel, as a VMM needs for faults on a guest-owned page "
                "table. It is an object (fault_id) with its own fd: fault records are read from "
                "it and responses written to it.",
                IOMMU_FAULT_QUEUE_ALLOC, &cmd);
            if (s.succeeded()) {
                fault_id = cmd.out_fault_id;
                fault_fd_ = static_cast<int>(cmd.out_fault_fd);
                s.out("fault_id", fault_id);
                s.out("fault_fd", cmd.out_fault_fd);
            }
            if (!r_.end(s)) {
                return false;
            }
        }
        {
            iommu_hwpt_alloc cmd{};
            cmd.size = sizeof cmd;
            cmd.flags = IOMMU_HWPT_ALLOC_NEST_PARENT;
            cmd.dev_id = idev_;
            cmd.pt_id = ioas_a_;
            Step& s = ioctl_step(
                "Allocate a nesting parent HWPT", "IOMMU_HWPT_ALLOC",
                "Nested translation splits the work: the host owns stage 2 (built from the IOAS) "
                "and the guest owns stage 1. The stage-2 HWPT must be allocated with "
                "IOMMU_HWPT_ALLOC_NEST_PARENT.",
                IOMMU_HWPT_ALLOC, &cmd);
            if (s.succeeded()) {
                parent = cmd.out_hwpt_id;
                s.out("hwpt_id", parent);
            }
            if (!r_.end(s)) {
                return false;
            }
        }
        {
            iommu_hwpt_selftest data{};
            data.iotlb = IOMMU_TEST_IOTLB_DEFAULT;
            iommu_hwpt_alloc cmd{};
            cmd.size = sizeof cmd;
            cmd.flags = IOMMU_HWPT_FAULT_ID_VALID;
            cmd.dev_id = idev_;
            cmd.pt_id = parent;
            cmd.data_type = IOMMU_HWPT_DATA_SELFTEST;
            cmd.data_len = sizeof data;
            cmd.data_uptr = reinterpret_cast<std::uintptr_t>(&data);
            cmd.fault_id = fault_id;
            Step& s = ioctl_step(
                "Allocate a nested HWPT that reports faults to the queue", "IOMMU_HWPT_ALLOC",
                fmt::format("A nested HWPT is the guest's stage 1 on top of the parent, described "
                            "by driver-specific data (for the mock, struct iommu_hwpt_selftest). "
                            "IOMMU_HWPT_FAULT_ID_VALID with fault_id {} sends its page faults to "
                            "the queue.",
                            fault_id),
                IOMMU_HWPT_ALLOC, &cmd);
            if (s.succeeded()) {
                nested = cmd.out_hwpt_id;
                s.out("hwpt_id", nested);
            }
            if (!r_.end(s)) {
                return false;
            }
        }
        {
            iommu_test_cmd cmd = test_cmd(IOMMU_TEST_OP_MOCK_DOMAIN_REPLACE, stdev_);
            cmd.mock_domain_replace.pt_id = nested;
            Step& s = ioctl_step(
                "Move the first device onto the nested HWPT",
                "IOMMU_TEST_CMD/IOMMU_TEST_OP_MOCK_DOMAIN_REPLACE",
                fmt::format("Replace moves a device from one HWPT to another in one step, with no "
                            "window in which its DMA is blocked. HWPT {}, created automatically, "
                            "loses its last device and is destroyed with it.",
                            hwpt_auto_),
                IOMMU_TEST_CMD, &cmd);
            if (s.succeeded()) {
                s.out("pt_id", cmd.mock_domain_replace.pt_id);
                s.expect(cmd.mock_domain_replace.pt_id == nested, fmt::format("pt_id {}", nested));
            }
            if (!r_.end(s)) {
                return false;
            }
        }
        {
            iommu_destroy cmd{};
            cmd.size = sizeof cmd;
            cmd.id = hwpt_auto_;
            Step& s = ioctl_step(
                "Look for the automatic HWPT", "IOMMU_DESTROY",
                fmt::format("HWPT {} is gone: destroying it fails with ENOENT, as for any ID "
                            "that names no object.",
                            hwpt_auto_),
                IOMMU_DESTROY, &cmd, ENOENT);
            r_.end(s);
        }
        constexpr std::uint64_t kFaultAddr = 0xfeed0000;
        constexpr std::uint32_t kGroup = 7;
        constexpr std::uint32_t kPerm = IOMMU_PGFAULT_PERM_READ | IOMMU_PGFAULT_PERM_WRITE;
        {
            iommu_test_cmd cmd = test_cmd(IOMMU_TEST_OP_TRIGGER_IOPF, 0);
            cmd.trigger_iopf.dev_id = idev_;
            cmd.trigger_iopf.pasid = 0;
            cmd.trigger_iopf.grpid = kGroup;
            cmd.trigger_iopf.perm = kPerm;
            cmd.trigger_iopf.addr = kFaultAddr;
            Step& s = ioctl_step(
                "Make the device raise a page fault", "IOMMU_TEST_CMD/IOMMU_TEST_OP_TRIGGER_IOPF",
                fmt::format("The selftest injects a page request from device {} as if its DMA hit "
                            "a non-present stage-1 entry: address {:#x}, page request group {}, "
                            "read+write, no PASID.",
                            idev_, kFaultAddr, kGroup),
                IOMMU_TEST_CMD, &cmd);
            if (!r_.end(s)) {
                return false;
            }
        }
        {
            pollfd pfd{fault_fd_, POLLIN, 0};
            Step& s = r_.begin("Wait until the fault queue is readable", "poll",
                               "The fault fd works with poll/select/epoll: POLLIN means fault "
                               "records are waiting.");
            s.returned(iommusim_poll(&pfd, 1, 1000));
            if (s.succeeded()) {
                s.out_hex("revents", static_cast<std::uint16_t>(pfd.revents));
                s.expect((pfd.revents & POLLIN) != 0, "POLLIN");
            }
            if (!r_.end(s)) {
                return false;
            }
        }
        iommu_hwpt_pgfault fault{};
        {
            Step& s = r_.begin(
                "Read the fault record", "read",
                "Each record is a struct iommu_hwpt_pgfault: the device's ID in this context, "
                "PASID, page request group, permissions, address, and a cookie that names the "
                "group when responding.");
            s.returned(iommusim_read(fault_fd_, &fault, sizeof fault));
            if (s.succeeded()) {
                s.out_hex("flags", fault.flags);
                s.out("dev_id", fault.dev_id);
                s.out("pasid", fault.pasid);
                s.out("grpid", fault.grpid);
                s.out_hex("perm", fault.perm);
                s.out_hex("addr", fault.addr);
                s.out("cookie", fault.cookie);
                s.expect(s.result() == static_cast<long>(sizeof fault),
                         fmt::format("{} bytes read (one record)", sizeof fault));
                s.expect(fault.dev_id == idev_, fmt::format("dev_id {}", idev_));
                s.expect(fault.addr == kFaultAddr, fmt::format("addr {:#x}", kFaultAddr));
                s.expect(fault.grpid == kGroup, fmt::format("grpid {}", kGroup));
                s.expect(fault.perm == kPerm, "perm READ|WRITE");
                s.expect(fault.flags == IOMMU_PGFAULT_FLAGS_LAST_PAGE,
                         "flags IOMMU_PGFAULT_FLAGS_LAST_PAGE (no PASID)");
            }
            if (!r_.end(s)) {
                return false;
            }
        }
        {
            iommu_hwpt_page_response resp{};
            resp.cookie = fault.cookie;
            resp.code = IOMMUFD_PAGE_RESP_SUCCESS;
            Step& s = r_.begin(
                "Answer the fault", "write",
                "The program writes a struct iommu_hwpt_page_response carrying the record's "
                "cookie; iommufd completes the page request group towards the device (SUCCESS: "
                "the mapping is there now, retry).");
            s.returned(iommusim_write(fault_fd_, &resp, sizeof resp));
            if (s.succeeded()) {
                s.expect(s.result() == static_cast<long>(sizeof resp),
                         fmt::format("{} bytes written (one response)", sizeof resp));
            }
            if (!r_.end(s)) {
                return false;
            }
        }
        {
            pollfd pfd{fault_fd_, POLLIN, 0};
            Step& s = r_.begin("Check that no fault is left", "poll",
                               "Nothing is pending any more: poll for POLLIN returns 0 at once.");
            s.returned(iommusim_poll(&pfd, 1, 0));
            if (s.succeeded()) {
                s.expect(pfd.revents == 0, "no events");
            }
            if (!r_.end(s)) {
                return false;
            }
        }
        {
            iommu_test_cmd cmd = test_cmd(IOMMU_TEST_OP_MOCK_DOMAIN_REPLACE, stdev_);
            cmd.mock_domain_replace.pt_id = ioas_a_;
            Step& s = ioctl_step(
                "Move the device back to the IOAS",
                "IOMMU_TEST_CMD/IOMMU_TEST_OP_MOCK_DOMAIN_REPLACE",
                "Attaching to an IOAS again makes iommufd create a new automatic HWPT, filled "
                "from the IOAS, since the old one is gone. Freed IDs are reused lowest first, "
                "so it may get the old number back.",
                IOMMU_TEST_CMD, &cmd);
            if (s.succeeded()) {
                hwpt_auto_ = cmd.mock_domain_replace.pt_id;
                s.out("pt_id", hwpt_auto_);
                s.expect(hwpt_auto_ != nested && hwpt_auto_ != parent && hwpt_auto_ != hwpt_b_ &&
                             hwpt_auto_ != ioas_a_,
                         "a fresh HWPT ID");
            }
            if (!r_.end(s)) {
                return false;
            }
        }
        if (!destroy(nested, "Destroy the nested HWPT", "No device uses it any more.") ||
            !destroy(parent, "Destroy the nesting parent",
                     "Only now: a parent cannot go while a nested HWPT is built on it.")) {
            return false;
        }
        {
            Step& s = r_.begin("Close the fault queue fd", "close",
                               "The fd holds a reference on the fault queue object.");
            s.returned(iommusim_close(fault_fd_));
            fault_fd_ = -1;
            if (!r_.end(s)) {
                return false;
            }
        }
        return destroy(fault_id, "Destroy the fault queue",
                       "With its fd closed and no HWPT using it, the queue can be destroyed.");
    }

    bool unmap_and_close() {
        {
            iommu_ioas_unmap cmd{};
            cmd.size = sizeof cmd;
            cmd.ioas_id = ioas_a_;
            cmd.iova = iova_a_;
            cmd.length = a_.length();
            Step& s = ioctl_step(
                "Unmap the first buffer", "IOMMU_IOAS_UNMAP",
                "UNMAP removes the mapping from the IOAS and from every domain built on it, and "
                "reports how many bytes it unmapped.",
                IOMMU_IOAS_UNMAP, &cmd);
            if (s.succeeded()) {
                s.out("length", cmd.length);
                s.expect(cmd.length == a_.length(), fmt::format("length {}", a_.length()));
            }
            if (!r_.end(s)) {
                return false;
            }
        }
        if (!check_refs(a_, 0, "Count the pins on the first buffer",
                        fmt::format("IOAS {} still maps these pages (the copy), yet none is pinned: "
                                    "an IOAS with no domain and no in-kernel access needs no "
                                    "physical pages, and iommufd pins only for those that do.",
                                    ioas_b_))) {
            return false;
        }
        {
            iommu_ioas_unmap cmd{};
            cmd.size = sizeof cmd;
            cmd.ioas_id = ioas_b_;
            cmd.iova = 0;
            cmd.length = UINT64_MAX;
            Step& s = ioctl_step("Unmap everything in the second IOAS", "IOMMU_IOAS_UNMAP",
                                 "IOVA 0 with length UINT64_MAX means all mappings.",
                                 IOMMU_IOAS_UNMAP, &cmd);
            if (s.succeeded()) {
                s.out("length", cmd.length);
                s.expect(cmd.length == a_.length(), fmt::format("length {}", a_.length()));
            }
            if (!r_.end(s)) {
                return false;
            }
        }
        if (!check_refs(b_, 1, "Count the pins on the second buffer",
                        "The fixed mapping is still in place, so its pages are pinned.")) {
            return false;
        }
        {
            Step& s = r_.begin(
                "Close the iommufd", "close",
                "Closing the context destroys everything still in it, in dependency order: "
                "devices are detached and unbound, HWPTs freed, IOASes and their mappings "
                "dropped, including the fixed mapping never unmapped.");
            s.returned(iommusim_close(fd_));
            fd_ = -1;
            if (!r_.end(s)) {
                return false;
            }
        }
        {
            Step& s = r_.begin("Open a fresh context", "open",
                               "A new, empty context, only to look at the pins.");
            fd_ = iommusim_open();
            s.returned(fd_);
            if (s.succeeded()) {
                s.out("fd", static_cast<std::uint64_t>(fd_));
            }
            if (!r_.end(s)) {
                return false;
            }
        }
        if (!check_refs(b_, 0, "Check that closing released every pin",
                        "Pins are counted per page, not per context, so the new context shows "
                        "that closing the old one unpinned the fixed buffer.")) {
            return false;
        }
        Step& s = r_.begin("Close the fresh context", "close", "Nothing left behind.");
        s.returned(iommusim_close(fd_));
        fd_ = -1;
        return r_.end(s);
    }

    Report& r_;
    const std::uint64_t page_;
    const std::uint64_t io_page_;  // the mock IOMMU's page (selftest: PAGE_SIZE / 2)
    Buffer a_;
    Buffer b_;
    int fd_ = -1;
    int fault_fd_ = -1;
    std::uint32_t ioas_a_ = 0;
    std::uint32_t ioas_b_ = 0;
    std::uint32_t stdev_ = 0;
    std::uint32_t hwpt_auto_ = 0;
    std::uint32_t idev_ = 0;
    std::uint32_t hwpt_b_ = 0;
    std::uint64_t iova_a_ = 0;
    std::uint64_t fixed_iova_ = 0;
    std::uint32_t num_iovas_ = 0;  // from the last IOVA_RANGES
};

}  // namespace

int run_demo(bool json) {
    Report report(json);
    Scenario scenario(report);
    scenario.run();
    return report.finish();
}

}  // namespace iommusim::demo

namespace iommusim::cli {

Subcommand add_demo_command(CLI::App& root) {
    auto json = std::make_shared<bool>(false);
    CLI::App* app = root.add_subcommand(
        "demo", "Walk through iommufd's objects on the simulator, one ioctl at a time");
    app->add_flag("--json", *json, "Print one JSON document instead of the narrated steps");
    app->footer("Exit status: 0 if every step behaved as Linux's iommufd does, 1 otherwise.");
    Subcommand sub;
    sub.app = app;
    sub.run = [json] { return demo::run_demo(*json); };
    return sub;
}

}  // namespace iommusim::cli
