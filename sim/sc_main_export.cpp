// SPDX-License-Identifier: MIT
// libsystemc.so refers to sc_main(); a shared library that links SystemC must
// define it and export it (TOOLCHAIN.md), or loading fails with "undefined
// symbol: sc_main". Nobody calls it: the program's own main() runs, and the
// platform starts the simulation on its own thread (sim/sim_thread.h). A
// program that defines sc_main itself (a SystemC testbench) wins over this one.
extern "C" __attribute__((visibility("default"))) int sc_main(int, char **) { return 0; }
