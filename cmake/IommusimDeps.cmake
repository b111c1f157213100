# Every dependency comes from Debian 12's packages (scripts/install-deps.sh).
# Why each one was chosen: docs/dependencies.md.
find_package(PkgConfig REQUIRED)
find_package(Threads REQUIRED)

# SystemC 2.3.4 with TLM-2.0. Debian built it as C++17: with -std=c++20 the
# API version symbol must be pinned or linking fails (sc_api_version_..._cxx202002L).
pkg_check_modules(SYSTEMC REQUIRED IMPORTED_TARGET GLOBAL systemc)
add_library(iommusim::systemc INTERFACE IMPORTED GLOBAL)
target_link_libraries(iommusim::systemc INTERFACE PkgConfig::SYSTEMC)
target_compile_definitions(iommusim::systemc INTERFACE SC_CPLUSPLUS=201703L SC_INCLUDE_DYNAMIC_PROCESSES)

# zstd: compressed traces (traces/FORMAT.md).
pkg_check_modules(ZSTD REQUIRED IMPORTED_TARGET GLOBAL libzstd)

find_package(verilator REQUIRED HINTS /usr/share/verilator)

find_package(GTest REQUIRED)
find_package(benchmark REQUIRED)

# Only /usr/bin/python3 sees Debian's python3-* packages (a pyenv shim may come first on PATH).
set(PYBIND11_FINDPYTHON ON)
if(NOT Python3_EXECUTABLE AND EXISTS /usr/bin/python3)
  set(Python3_EXECUTABLE /usr/bin/python3 CACHE FILEPATH "Python interpreter")
endif()
find_package(Python3 REQUIRED COMPONENTS Interpreter Development.Module)
find_package(pybind11 CONFIG REQUIRED HINTS /usr/lib/python3/dist-packages/pybind11/share/cmake/pybind11)

find_package(CLI11 CONFIG REQUIRED)
find_package(nlohmann_json CONFIG REQUIRED)
find_package(fmt CONFIG REQUIRED)
