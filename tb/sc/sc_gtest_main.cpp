// SPDX-License-Identifier: MIT
// libsystemc.so owns main() and calls sc_main(); a SystemC test binary runs
// GoogleTest from here. ctest runs each case in its own process, because
// SystemC elaborates once per process.
#include <gtest/gtest.h>

#include <systemc>

int sc_main(int argc, char **argv) {
  testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
