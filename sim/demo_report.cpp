#include "demo_report.h"

#include <fmt/core.h>

#include <cerrno>
#include <cstring>
#include <sstream>

namespace iommusim::demo {
namespace {

constexpr int kIndent = 6;
constexpr size_t kWidth = 96;

// Greedy word wrap of one paragraph, each line indented.
void print_wrapped(const std::string& text, int indent) {
    std::istringstream words(text);
    std::string word;
    std::string line;
    const size_t room = kWidth - static_cast<size_t>(indent);
    while (words >> word) {
        if (!line.empty() && line.size() + 1 + word.size() > room) {
            fmt::print("{:{}}{}\n", "", indent, line);
            line.clear();
        }
        line += line.empty() ? word : " " + word;
    }
    if (!line.empty()) {
        fmt::print("{:{}}{}\n", "", indent, line);
    }
}

}  // namespace

std::string errno_name(int err) {
    const char* name = strerrorname_np(err);
    return name != nullptr ? std::string(name) : fmt::format("errno {}", err);
}

Step::Step(int index, std::string name, std::string call, std::string why, int expected_errno)
    : index_(index),
      name_(std::move(name)),
      call_(std::move(call)),
      why_(std::move(why)),
      expected_errno_(expected_errno) {}

void Step::returned(long result) {
    errno_ = result < 0 ? errno : 0;
    result_ = result;
    behaved_ = expected_errno_ == 0 ? result >= 0 : (result == -1 && errno_ == expected_errno_);
}

void Step::out(const std::string& key, std::uint64_t value) {
    out(key, nlohmann::ordered_json(value), std::to_string(value));
}

void Step::out_hex(const std::string& key, std::uint64_t value) {
    out(key, nlohmann::ordered_json(value), fmt::format("{:#x}", value));
}

void Step::out(const std::string& key, const std::string& value) {
    out(key, nlohmann::ordered_json(value), value);
}

void Step::out(const std::string& key, nlohmann::ordered_json value, std::string text) {
    outputs_[key] = std::move(value);
    text_outputs_.emplace_back(key, std::move(text));
}

void Step::expect(bool holds, const std::string& what) {
    if (!holds) {
        failures_.push_back(what);
    }
}

nlohmann::ordered_json Step::to_json() const {
    nlohmann::ordered_json j;
    j["step"] = index_;
    j["name"] = name_;
    j["ioctl"] = call_;
    j["result"] = result_;
    j["errno"] = result_ < 0 ? nlohmann::ordered_json(errno_name(errno_)) : nlohmann::ordered_json();
    j["expected_errno"] = expected_errno_ != 0 ? nlohmann::ordered_json(errno_name(expected_errno_))
                                               : nlohmann::ordered_json();
    j["ok"] = ok();
    j["outputs"] = outputs_;
    j["failures"] = failures_;
    j["explanation"] = why_;
    return j;
}

void Step::print_text() const {
    fmt::print("[{:2}] {}\n", index_, name_);
    print_wrapped(why_, kIndent);

    std::string outcome;
    if (result_ >= 0) {
        outcome = fmt::format("{} = {}", call_, result_);
    } else {
        outcome = fmt::format("{} = -1 {} ({})", call_, errno_name(errno_), std::strerror(errno_));
    }
    if (expected_errno_ != 0) {
        outcome += behaved_ ? "  -- the expected failure"
                            : fmt::format("  -- WRONG: iommufd fails this with {}",
                                          errno_name(expected_errno_));
    } else if (!behaved_) {
        outcome += "  -- WRONG: iommufd succeeds here";
    }
    fmt::print("{:{}}> {}\n", "", kIndent, outcome);

    if (!text_outputs_.empty()) {
        std::string line;
        for (const auto& [key, text] : text_outputs_) {
            line += (line.empty() ? "" : "  ") + key + "=" + text;
        }
        print_wrapped(line, kIndent + 2);
    }
    for (const std::string& f : failures_) {
        fmt::print("{:{}}WRONG: expected {}\n", "", kIndent + 2, f);
    }
    fmt::print("\n");
    std::fflush(stdout);
}

void Report::intro(const std::vector<std::string>& lines, nlohmann::ordered_json facts) {
    facts_ = std::move(facts);
    if (json_) {
        return;
    }
    for (const std::string& l : lines) {
        print_wrapped(l, 0);
    }
    fmt::print("\n");
}

Step& Report::begin(const std::string& name, const std::string& call, const std::string& why,
                    int expected_errno) {
    steps_.emplace_back(static_cast<int>(steps_.size()) + 1, name, call, why, expected_errno);
    return steps_.back();
}

bool Report::end(Step& step) {
    if (!json_) {
        step.print_text();
    }
    // An expected failure that went otherwise is wrong, but nothing depends on it.
    if (step.behaved() || step.expected_errno() != 0) {
        return true;
    }
    aborted_ = true;
    return false;
}

void Report::abort(const std::string& why) {
    aborted_ = true;
    abort_reason_ = why;
    fmt::print(stderr, "iommusim demo: {}\n", why);
}

int Report::finish() {
    int failed = 0;
    for (const Step& s : steps_) {
        failed += s.ok() ? 0 : 1;
    }
    const bool ok = failed == 0 && !aborted_;
    if (json_) {
        nlohmann::ordered_json doc;
        doc["program"] = "iommusim demo";
        doc["facts"] = facts_;
        doc["steps"] = nlohmann::ordered_json::array();
        for (const Step& s : steps_) {
            doc["steps"].push_back(s.to_json());
        }
        doc["steps_run"] = steps_.size();
        doc["steps_wrong"] = failed;
        doc["aborted"] = aborted_;
        if (!abort_reason_.empty()) {
            doc["abort_reason"] = abort_reason_;
        }
        doc["ok"] = ok;
        fmt::print("{}\n", doc.dump(2));
    } else if (ok) {
        fmt::print("All {} steps behaved as Linux iommufd does.\n", steps_.size());
    } else {
        fmt::print("{} of {} steps did not behave as Linux iommufd does{}.\n", failed, steps_.size(),
                   aborted_ ? "; the scenario stopped early because later steps depend on a failed one"
                            : "");
    }
    std::fflush(stdout);
    return ok ? 0 : 1;
}

}  // namespace iommusim::demo
