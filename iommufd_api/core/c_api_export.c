/* libiommusim.so is the iommufd core linked whole; this unit only gives the
 * shared library a translation unit of its own. The C API lives in c_api.cpp. */
#include "iommusim/iommufd_sim.h"
