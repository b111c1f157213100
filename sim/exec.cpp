// `iommusim exec [OPTIONS] [--] PROGRAM [ARGS...]`: runs an unmodified
// program with libiommusim_preload.so in LD_PRELOAD, so its /dev/iommu is the
// simulator's. The program replaces this process (execvp), so its exit status
// is the command's. With --config PLATFORM (or IOMMUSIM_PLATFORM set), the
// file is checked first (errors: FILE:LINE:COL: reason, exit 2, the program
// does not run); the program then gets IOMMUSIM_PLATFORM and
// libiommusim_autoload.so, which loads the platform at its first open of
// /dev/iommu or /dev/vfio/devices/*.
#include <CLI/CLI.hpp>
#include <fmt/core.h>

#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <system_error>
#include <vector>

#include "iommusim/platform.h"
#include "subcommands.h"

namespace iommusim::cli {
namespace {

namespace fs = std::filesystem;

constexpr const char* kPreloadName = "libiommusim_preload.so";
constexpr const char* kAutoloadName = "libiommusim_autoload.so";
// A platform file with errors (as a usage error: nothing ran).
constexpr int kConfigError = 2;
// The shell's codes: found but not runnable, and not found.
constexpr int kCannotExecute = 126;
constexpr int kNotFound = 127;
// Our own failure before the program ran (as env(1) and timeout(1) use).
constexpr int kExecFailed = 125;

struct ExecState {
    std::string config;             // --config PLATFORM
    std::string program;
    std::vector<std::string> args;  // after PROGRAM, never seen by CLI11
};

// Where the preload library sits relative to this executable: the build tree
// (build/sim/iommusim, build/iommufd_api/) and an install prefix (bin/, lib/).
std::vector<fs::path> preload_candidates(const char* name) {
    std::error_code ec;
    const fs::path self = fs::read_symlink("/proc/self/exe", ec);
    if (ec) {
        return {};
    }
    const fs::path dir = self.parent_path();
    return {dir.parent_path() / "iommufd_api" / name, dir.parent_path() / "lib" / name};
}

std::optional<fs::path> find_preload(std::vector<fs::path>& looked_in, const char* name = kPreloadName) {
    looked_in = preload_candidates(name);
    for (const fs::path& p : looked_in) {
        if (access(p.c_str(), R_OK) == 0) {
            std::error_code ec;
            fs::path clean = fs::weakly_canonical(p, ec);
            return ec ? p : clean;
        }
    }
    return std::nullopt;
}

int run_exec(const ExecState& state) {
    // The platform: --config, else one already named in the environment.
    std::string config = state.config;
    if (const char* env = std::getenv("IOMMUSIM_PLATFORM"); config.empty() && env != nullptr) {
        config = env;
    }
    std::optional<fs::path> autoload;
    if (!config.empty()) {
        if (iommusim_platform_validate(config.c_str()) != 0) {
            fmt::print(stderr, "{}", iommusim_platform_error());
            return kConfigError;
        }
        std::vector<fs::path> looked_in;
        autoload = find_preload(looked_in, kAutoloadName);
        if (!autoload) {
            fmt::print(stderr, "iommusim exec: cannot find {}; looked in:\n", kAutoloadName);
            for (const fs::path& p : looked_in) {
                fmt::print(stderr, "  {}\n", p.string());
            }
            return kExecFailed;
        }
        // The program may change directory before its first open.
        std::error_code ec;
        const fs::path abs = fs::absolute(config, ec);
        if (setenv("IOMMUSIM_PLATFORM", (ec ? fs::path(config) : abs).c_str(), 1) != 0) {
            fmt::print(stderr, "iommusim exec: cannot set IOMMUSIM_PLATFORM: {}\n", std::strerror(errno));
            return kExecFailed;
        }
    }

    std::vector<fs::path> looked_in;
    const std::optional<fs::path> preload = find_preload(looked_in);
    if (!preload) {
        fmt::print(stderr, "iommusim exec: cannot find {}; looked in:\n", kPreloadName);
        for (const fs::path& p : looked_in) {
            fmt::print(stderr, "  {}\n", p.string());
        }
        return kExecFailed;
    }

    // Ours first, so it sees /dev/iommu before any other preloaded library;
    // the autoloader before the shim, so the shim's calls reach it first.
    std::string value = autoload ? autoload->string() + ":" + preload->string() : preload->string();
    if (const char* existing = std::getenv("LD_PRELOAD"); existing != nullptr && *existing != '\0') {
        value += ':';
        value += existing;
    }
    if (setenv("LD_PRELOAD", value.c_str(), 1) != 0) {
        fmt::print(stderr, "iommusim exec: cannot set LD_PRELOAD: {}\n", std::strerror(errno));
        return kExecFailed;
    }

    std::vector<char*> argv;
    argv.push_back(const_cast<char*>(state.program.c_str()));
    for (const std::string& a : state.args) {
        argv.push_back(const_cast<char*>(a.c_str()));
    }
    argv.push_back(nullptr);
    std::fflush(stdout);
    execvp(argv[0], argv.data());

    const int err = errno;
    fmt::print(stderr, "iommusim exec: {}: {}\n", state.program,
               err == ENOENT ? "command not found" : std::strerror(err));
    return err == ENOENT ? kNotFound : kCannotExecute;
}

// Everything from PROGRAM on belongs to the program, even words that look
// like our options ("iommusim exec ls --help" lists with --help). Only the
// options before PROGRAM (or before "--") go to CLI11, then "--" PROGRAM.
std::vector<std::string> split_exec_args(CLI::App* app, ExecState& state,
                                         const std::vector<std::string>& rest) {
    std::vector<std::string> cli;
    size_t i = 0;
    for (; i < rest.size(); ++i) {
        const std::string& a = rest[i];
        if (a == "--") {
            ++i;
            break;
        }
        if (a.size() < 2 || a[0] != '-') {
            break;  // PROGRAM ("-" alone is a name, as in getopt)
        }
        cli.push_back(a);
        // An option that takes a value (e.g. a future --config PLATFORM)
        // consumes the next word unless written --name=value.
        const CLI::Option* opt = app->get_option_no_throw(a.substr(0, a.find('=')));
        if (opt != nullptr && a.find('=') == std::string::npos && opt->get_items_expected_min() > 0 &&
            i + 1 < rest.size()) {
            cli.push_back(rest[++i]);
        }
    }
    state.args.clear();
    if (i < rest.size()) {
        if (rest[i].front() == '-') {
            cli.push_back("--");  // a PROGRAM named like an option came after "--"
        }
        cli.push_back(rest[i]);
        state.args.assign(rest.begin() + static_cast<std::ptrdiff_t>(i) + 1, rest.end());
    }
    return cli;
}

}  // namespace

Subcommand add_exec_command(CLI::App& root) {
    auto state = std::make_shared<ExecState>();
    CLI::App* app = root.add_subcommand(
        "exec", "Run PROGRAM with its /dev/iommu served by the simulator (via LD_PRELOAD)");
    app->add_option("--config", state->config,
                    "Platform file (.yaml, .yml or .json): PROGRAM's /dev/iommu and "
                    "/dev/vfio/devices/* are served by the simulated platform it describes")
        ->type_name("PLATFORM");
    app->add_option("PROGRAM", state->program, "Program to run (searched in PATH)")->required();
    app->footer(
        "Synopsis: iommusim exec [OPTIONS] [--] PROGRAM [ARGS...]\n"
        "Everything after PROGRAM is passed to it unchanged. The exit status is PROGRAM's;\n"
        "127 if PROGRAM is not found, 126 if it cannot be run, 125 if iommusim itself fails,\n"
        "2 if the platform file has errors (each printed as FILE:LINE:COL: reason).\n"
        "Without --config, IOMMUSIM_PLATFORM (if set) names the platform.");
    Subcommand sub;
    sub.app = app;
    sub.run = [state] { return run_exec(*state); };
    sub.split_args = [app, state](const std::vector<std::string>& rest) {
        return split_exec_args(app, *state, rest);
    };
    return sub;
}

}  // namespace iommusim::cli
