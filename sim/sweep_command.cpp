// `iommusim sweep`: the sweep driver is the Python package (python/iommusim/
// sweeps.py: local processes or a Dask cluster, CSV, plots, resume). This
// command hands every argument to `python3 -m iommusim sweep` untouched,
// telling it which iommusim binary runs the points (IOMMUSIM_CLI) and where
// the package is when running from a build tree.
#include <CLI/CLI.hpp>

#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "subcommands.h"

namespace iommusim::cli {
namespace {

namespace fs = std::filesystem;

#ifndef IOMMUSIM_PYTHON
#define IOMMUSIM_PYTHON "/usr/bin/python3"
#endif

int run_sweep(const std::vector<std::string> &args) {
  std::error_code ec;
  const fs::path self = fs::read_symlink("/proc/self/exe", ec);
  if (!ec) {
    setenv("IOMMUSIM_CLI", self.c_str(), 0);
    // Build tree: build/sim/iommusim next to build/python/iommusim/; installed:
    // <prefix>/bin/iommusim and <prefix>/lib/python3.X/dist-packages/iommusim/.
    std::vector<fs::path> candidates = {self.parent_path().parent_path() / "python"};
    const fs::path lib = self.parent_path().parent_path() / "lib";
    for (const auto &e : fs::directory_iterator(lib, ec))
      if (e.path().filename().string().rfind("python3", 0) == 0) candidates.push_back(e.path() / "dist-packages");
    for (const fs::path &pkg : candidates) {
      if (!fs::exists(pkg / "iommusim" / "__init__.py", ec)) continue;
      const char *old = std::getenv("PYTHONPATH");
      std::string pp = pkg.string();
      if (old && *old) pp += std::string(":") + old;
      setenv("PYTHONPATH", pp.c_str(), 1);
      break;
    }
  }
  std::vector<std::string> argv_s = {IOMMUSIM_PYTHON, "-m", "iommusim", "sweep"};
  argv_s.insert(argv_s.end(), args.begin(), args.end());
  std::vector<char *> argv;
  for (std::string &s : argv_s) argv.push_back(s.data());
  argv.push_back(nullptr);
  execv(argv[0], argv.data());
  std::cerr << "iommusim sweep: cannot run " << argv[0] << ": " << std::strerror(errno) << "\n";
  return 127;
}

}  // namespace

Subcommand add_sweep_command(CLI::App &root) {
  auto args = std::make_shared<std::vector<std::string>>();
  CLI::App *app = root.add_subcommand(
      "sweep", "Sweep cache entries, ways, policy, page size and IOMMU model over traces (CSV + PNG; "
               "local cores or a Dask cluster). `iommusim sweep --help` for the options");
  app->allow_extras();
  app->prefix_command();
  Subcommand sub;
  sub.app = app;
  // Everything after "sweep" goes to the Python driver, --help included.
  sub.split_args = [args](const std::vector<std::string> &rest) {
    *args = rest;
    return std::vector<std::string>{};
  };
  sub.run = [args] { return run_sweep(*args); };
  return sub;
}

}  // namespace iommusim::cli
