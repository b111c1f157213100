// SPDX-License-Identifier: MIT
// _iommusim: the platform and the iommufd C API for Python, one process =
// one platform (SystemC elaborates once). The `iommusim` package never
// imports this in the user's process: iommusim/_worker.py does, in a child
// process per Platform, and iommusim/platform.py forwards calls to it.
// Failing ioctls raise OSError(errno, strerror) — FileExistsError for EEXIST
// and so on — exactly as the kernel's errno would.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <fcntl.h>
#include <sys/mman.h>

#include <cerrno>
#include <cstring>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "iommusim/iommufd.h"
#include "iommusim/iommufd_sim.h"
#include "iommusim/vfio.h"
#include "sim/config.h"
#include "sim/platform.h"

namespace py = pybind11;
using iommusim::sim::platform;

namespace {

[[noreturn]] void raise_errno(int err, const std::string &what) {
  PyErr_SetObject(PyExc_OSError, py::make_tuple(err, what + ": " + std::strerror(err)).ptr());
  throw py::error_already_set();
}

void check(int rc, const std::string &what) {
  if (rc < 0) raise_errno(errno, what);
}

platform &need_platform() {
  platform *p = platform::current();
  if (!p) throw std::runtime_error("no platform is loaded in this process");
  return *p;
}

// Buffers of the program (this process): page-aligned anonymous memory.
std::mutex buffers_lock;
std::map<uint64_t, size_t> buffers;

uint8_t *buffer_at(uint64_t addr, uint64_t off, uint64_t n) {
  std::lock_guard<std::mutex> g(buffers_lock);
  auto it = buffers.find(addr);
  if (it == buffers.end()) throw py::value_error("not a buffer of this platform");
  if (off > it->second || n > it->second - off) throw py::index_error("outside the buffer");
  return reinterpret_cast<uint8_t *>(addr) + off;
}

uint64_t region_offset(int vfd) {
  vfio_region_info ri{};
  ri.argsz = sizeof ri;
  ri.index = VFIO_PCI_BAR0_REGION_INDEX;
  check(iommusim_ioctl(vfd, VFIO_DEVICE_GET_REGION_INFO, &ri), "VFIO_DEVICE_GET_REGION_INFO");
  if (ri.size == 0) raise_errno(EINVAL, "the device has no BAR0");
  return ri.offset;
}

}  // namespace

PYBIND11_MODULE(_iommusim, m) {
  m.doc() = "iommusim's platform and iommufd C API (one platform per process; see the iommusim package)";

  m.def(
      "load_platform",
      [](const std::string &text, const std::string &format, const std::string &name) {
        iommusim::sim::platform_config cfg;
        std::vector<iommusim::sim::config_error> errs;
        if (!iommusim::sim::load_config_string(text, format, &cfg, &errs, name)) {
          std::string all;
          for (const auto &e : errs) all += (all.empty() ? "" : "\n") + e.str();
          throw py::value_error(all);
        }
        py::gil_scoped_release nogil;
        platform::load_config(cfg);
      },
      py::arg("text"), py::arg("format") = "yaml", py::arg("name") = "<dict>",
      "Validate and start the platform of a YAML/JSON text (ValueError: 'FILE:LINE:COL: reason' lines)");
  m.def(
      "load_platform_file",
      [](const std::string &path) {
        iommusim::sim::platform_config cfg;
        std::vector<iommusim::sim::config_error> errs;
        if (!iommusim::sim::load_config_file(path, &cfg, &errs)) {
          std::string all;
          for (const auto &e : errs) all += (all.empty() ? "" : "\n") + e.str();
          throw py::value_error(all);
        }
        py::gil_scoped_release nogil;
        platform::load_config(cfg);
      },
      py::arg("path"), "Validate and start the platform of a YAML/JSON file (traces relative to it)");
  m.def("devices", [] {
    std::vector<py::dict> out;
    for (platform::device &d : need_platform().devices()) {
      py::dict x;
      x["name"] = d.desc->name;
      x["type"] = d.desc->type;
      x["stream_id"] = d.desc->stream_id;
      x["vfio_index"] = d.vfio_index;
      x["iommu"] = d.desc->iommu;
      out.push_back(x);
    }
    return out;
  });
  m.def("iommus", [] {
    std::vector<std::string> out;
    for (platform::iommu &i : need_platform().iommus()) out.push_back(i.desc->name);
    return out;
  });
  m.def("iommufd_open", [] {
    const int fd = iommusim_open();
    check(fd, "open /dev/iommu");
    return fd;
  });
  m.def("close", [](int fd) { check(iommusim_close(fd), "close"); });
  m.def("ioas_alloc", [](int fd) {
    iommu_ioas_alloc a{};
    a.size = sizeof a;
    check(iommusim_ioctl(fd, IOMMU_IOAS_ALLOC, &a), "IOMMU_IOAS_ALLOC");
    return a.out_ioas_id;
  });
  m.def(
      "ioas_map",
      [](int fd, uint32_t ioas, uint64_t va, uint64_t length, py::object iova, bool readable, bool writeable) {
        iommu_ioas_map mp{};
        mp.size = sizeof mp;
        mp.ioas_id = ioas;
        mp.user_va = va;
        mp.length = length;
        mp.flags = (readable ? IOMMU_IOAS_MAP_READABLE : 0) | (writeable ? IOMMU_IOAS_MAP_WRITEABLE : 0);
        if (!iova.is_none()) {
          mp.flags |= IOMMU_IOAS_MAP_FIXED_IOVA;
          mp.iova = iova.cast<uint64_t>();
        }
        check(iommusim_ioctl(fd, IOMMU_IOAS_MAP, &mp), "IOMMU_IOAS_MAP");
        return mp.iova;
      },
      py::arg("fd"), py::arg("ioas"), py::arg("va"), py::arg("length"), py::arg("iova") = py::none(),
      py::arg("readable") = true, py::arg("writeable") = true);
  m.def("ioas_unmap", [](int fd, uint32_t ioas, uint64_t iova, uint64_t length) {
    iommu_ioas_unmap u{};
    u.size = sizeof u;
    u.ioas_id = ioas;
    u.iova = iova;
    u.length = length;
    check(iommusim_ioctl(fd, IOMMU_IOAS_UNMAP, &u), "IOMMU_IOAS_UNMAP");
    return u.length;
  });
  m.def("destroy", [](int fd, uint32_t id) {
    iommu_destroy d{};
    d.size = sizeof d;
    d.id = id;
    check(iommusim_ioctl(fd, IOMMU_DESTROY, &d), "IOMMU_DESTROY");
  });
  m.def("buffer_alloc", [](uint64_t length) {
    if (length == 0) raise_errno(EINVAL, "buffer of 0 bytes");
    void *p = mmap(nullptr, length, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) raise_errno(errno, "mmap");
    std::memset(p, 0, length);
    std::lock_guard<std::mutex> g(buffers_lock);
    buffers[reinterpret_cast<uint64_t>(p)] = length;
    return reinterpret_cast<uint64_t>(p);
  });
  m.def("buffer_free", [](uint64_t addr) {
    std::lock_guard<std::mutex> g(buffers_lock);
    auto it = buffers.find(addr);
    if (it == buffers.end()) throw py::value_error("not a buffer of this platform");
    munmap(reinterpret_cast<void *>(addr), it->second);
    buffers.erase(it);
  });
  m.def("buffer_read", [](uint64_t addr, uint64_t off, uint64_t n) {
    const uint8_t *p = buffer_at(addr, off, n);
    return py::bytes(reinterpret_cast<const char *>(p), n);
  });
  m.def("buffer_write", [](uint64_t addr, uint64_t off, const py::bytes &data) {
    const std::string s = data;
    std::memcpy(buffer_at(addr, off, s.size()), s.data(), s.size());
  });
  m.def("vfio_open", [](const std::string &name) {
    platform::device *d = need_platform().find_device(name);
    if (!d) raise_errno(ENODEV, "no device named '" + name + "'");
    if (d->vfio_index < 0) raise_errno(ENODEV, name + " is not a VFIO device (vfio: true in its config)");
    const std::string path = "/dev/vfio/devices/vfio" + std::to_string(d->vfio_index);
    const int fd = iommusim_open_path(path.c_str(), O_RDWR);
    check(fd, path);
    return fd;
  });
  m.def("vfio_bind", [](int vfd, int iommufd) {
    vfio_device_bind_iommufd b{};
    b.argsz = sizeof b;
    b.iommufd = iommufd;
    check(iommusim_ioctl(vfd, VFIO_DEVICE_BIND_IOMMUFD, &b), "VFIO_DEVICE_BIND_IOMMUFD");
    return b.out_devid;
  });
  m.def("vfio_attach", [](int vfd, uint32_t pt) {
    vfio_device_attach_iommufd_pt a{};
    a.argsz = sizeof a;
    a.pt_id = pt;
    check(iommusim_ioctl(vfd, VFIO_DEVICE_ATTACH_IOMMUFD_PT, &a), "VFIO_DEVICE_ATTACH_IOMMUFD_PT");
    return a.pt_id;
  });
  m.def("vfio_detach", [](int vfd) {
    vfio_device_detach_iommufd_pt d{};
    d.argsz = sizeof d;
    check(iommusim_ioctl(vfd, VFIO_DEVICE_DETACH_IOMMUFD_PT, &d), "VFIO_DEVICE_DETACH_IOMMUFD_PT");
  });
  m.def("bar_read64", [](int vfd, uint64_t off) {
    uint64_t v = 0;
    const uint64_t base = region_offset(vfd);
    ssize_t n;
    int err;
    {
      py::gil_scoped_release nogil;
      n = iommusim_pread(vfd, &v, 8, static_cast<off_t>(base + off));
      err = errno;
    }
    if (n != 8) raise_errno(n < 0 ? err : EIO, "BAR0 read");
    return v;
  });
  m.def("bar_write64", [](int vfd, uint64_t off, uint64_t v) {
    const uint64_t base = region_offset(vfd);
    ssize_t n;
    int err;
    {
      py::gil_scoped_release nogil;
      n = iommusim_pwrite(vfd, &v, 8, static_cast<off_t>(base + off));
      err = errno;
    }
    if (n != 8) raise_errno(n < 0 ? err : EIO, "BAR0 write");
  });
  m.def("start_device", [](const std::string &name) {
    if (!need_platform().find_device(name)) raise_errno(ENODEV, "no device named '" + name + "'");
    return need_platform().start_device(name);
  });
  m.def("run_until_idle", [] {
    platform &p = need_platform();
    py::gil_scoped_release nogil;
    p.run_until_idle();
  });
  m.def("now_ps", [] { return need_platform().now_ps(); });
  m.def("stats_json", [] { return need_platform().stats_json(); });
  m.def("kernel_log", [] { return need_platform().kernel_log(); });
  m.def("shutdown", [] {
    if (platform *p = platform::current()) p->shutdown();
  });
}
