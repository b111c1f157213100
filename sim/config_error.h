// SPDX-License-Identifier: MIT
// Where a configuration value came from, and what is wrong with it.
#pragma once

#include <string>
#include <vector>

namespace iommusim::sim {

// 1-based line and column; 0 when not from a file.
struct source_loc {
  std::string file;
  int line = 0;
  int col = 0;
  std::string str() const;  // "FILE:LINE:COL" (or FILE alone without a line)
};

struct config_error {
  source_loc where;
  std::string reason;
  int sys_errno = 0;  // set when the file itself could not be read
  std::string str() const { return where.str() + ": " + reason; }
};

// All errors, one a line (each ending in '\n'), in file order.
std::string format_errors(const std::vector<config_error> &errors);

}  // namespace iommusim::sim
