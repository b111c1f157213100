// `iommusim`: the command-line front door. Parsing and dispatch only; each
// subcommand is in its own file (see subcommands.h).
#include <CLI/CLI.hpp>

#include <algorithm>
#include <iostream>
#include <string>
#include <vector>

#include "subcommands.h"

#ifndef IOMMUSIM_VERSION
#define IOMMUSIM_VERSION "unknown"
#endif

int main(int argc, char** argv) {
    using namespace iommusim::cli;

    CLI::App app{"iommusim: a cycle-accurate IOMMU simulator with a Linux iommufd front end"};
    app.name("iommusim");
    app.set_version_flag("--version", IOMMUSIM_VERSION);
    app.require_subcommand(1);

    std::vector<Subcommand> subcommands;
    subcommands.push_back(add_exec_command(app));
    subcommands.push_back(add_demo_command(app));
    subcommands.push_back(add_run_command(app));
    subcommands.push_back(add_sweep_command(app));
    subcommands.push_back(add_trace_command(app));

    std::vector<std::string> args(argv + 1, argv + argc);
    if (!args.empty()) {
        for (const Subcommand& sub : subcommands) {
            if (sub.split_args && args.front() == sub.app->get_name()) {
                std::vector<std::string> rest(args.begin() + 1, args.end());
                args = sub.split_args(rest);
                args.insert(args.begin(), sub.app->get_name());
                break;
            }
        }
    }

    try {
        // CLI11 consumes a vector from the back.
        std::reverse(args.begin(), args.end());
        app.parse(args);
    } catch (const CLI::CallForHelp& e) {
        return app.exit(e);
    } catch (const CLI::CallForAllHelp& e) {
        return app.exit(e);
    } catch (const CLI::CallForVersion& e) {
        return app.exit(e);
    } catch (const CLI::ParseError& e) {
        std::string where = "iommusim";
        for (const Subcommand& sub : subcommands) {
            if (sub.app->parsed()) {
                where += " " + sub.app->get_name();
            }
        }
        std::cerr << where << ": " << e.what() << "\nRun '" << where << " --help' for usage.\n";
        return kUsageError;
    }

    for (const Subcommand& sub : subcommands) {
        if (sub.app->parsed()) {
            return sub.run();
        }
    }
    return kUsageError;  // unreachable: require_subcommand(1)
}
