// SPDX-License-Identifier: MIT
// A driver's tests through the iommufd core, as a program sees them: the
// driver's fixture (Base: its fake bus, driver and devices) plus an iommufd
// whose devices are bound and attached the way VFIO does it
// (VFIO_DEVICE_BIND_IOMMUFD, VFIO_DEVICE_ATTACH_IOMMUFD_PT). Both the
// SMMUv3 and the VT-d driver tests use it.
#pragma once

#include <gtest/gtest.h>

#include <set>
#include <vector>

#include "core/iommu.h"
#include "mock_test_util.h"

namespace iommusim::test {

template <class Base>
class DriverUapiFixture : public Base {
 protected:
  // Bind dev to the iommufd as VFIO_DEVICE_BIND_IOMMUFD does; its device id.
  uint32_t bind(iommufd::device *dev) {
    iommufd::iommufd_ctx *ictx = ctx_of(fd);
    EXPECT_NE(nullptr, ictx);
    uint32_t id = 0;
    auto idev = iommufd::iommufd_device_bind(ictx, dev, &id);
    EXPECT_FALSE(idev.is_err()) << idev.err();
    idevs.push_back(idev.get());
    return id;
  }
  void TearDown() override {
    for (auto *idev : idevs) {
      if (attached.count(idev)) iommufd::iommufd_device_detach(idev);
      iommufd::iommufd_device_unbind(idev);
    }
    idevs.clear();
    if (ffd >= 0) iommusim_close(ffd);
    fd.close();
    Base::TearDown();
  }
  // Attach bound device i to pt (an IOAS or HWPT); 0 or a positive errno.
  int attach_pt(size_t i, uint32_t pt) {
    int rc = iommufd::iommufd_device_attach(idevs[i], &pt);
    if (!rc) attached.insert(idevs[i]);
    return -rc;
  }

  Iommufd fd;
  std::vector<iommufd::iommufd_device *> idevs;
  std::set<iommufd::iommufd_device *> attached;
  int ffd = -1;  // a fault fd a test opened, closed at teardown
};

}  // namespace iommusim::test
