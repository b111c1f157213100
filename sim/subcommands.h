// The `iommusim` CLI's subcommands. Each lives in its own file and registers
// itself on the root app; main.cpp only parses and dispatches. Adding one
// (run, sweep, trace, ...) means a new file and one line in main.cpp.
#pragma once

#include <functional>
#include <string>
#include <vector>

namespace CLI {
class App;
}

namespace iommusim::cli {

// Exit status for a command line that does not parse (as getopt tools use).
inline constexpr int kUsageError = 2;

struct Subcommand {
    CLI::App* app = nullptr;
    // Runs the subcommand after a successful parse; returns the exit status.
    std::function<int()> run;
    // Optional: takes the arguments that follow the subcommand's name and
    // returns the part CLI11 should parse, keeping the rest for itself (exec
    // hands everything from PROGRAM on to the program untouched).
    std::function<std::vector<std::string>(const std::vector<std::string>&)> split_args;
};

Subcommand add_exec_command(CLI::App& root);
Subcommand add_demo_command(CLI::App& root);
Subcommand add_trace_command(CLI::App& root);   // trace_command.cpp
Subcommand add_run_command(CLI::App& root);     // run_command.cpp
Subcommand add_sweep_command(CLI::App& root);   // sweep_command.cpp

}  // namespace iommusim::cli
