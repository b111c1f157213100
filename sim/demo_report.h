// Step recording for `iommusim demo`: each step is one system call on the
// simulated /dev/iommu, what it returned, what it produced, and whether that is
// what Linux's iommufd does. Printed as it happens (text) or as one JSON
// document at the end (--json).
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <deque>
#include <string>
#include <utility>
#include <vector>

namespace iommusim::demo {

class Step {
public:
    Step(int index, std::string name, std::string call, std::string why, int expected_errno);

    // Record the call's return value; reads errno, so call it right after.
    void returned(long result);

    bool succeeded() const { return result_ >= 0; }
    long result() const { return result_; }
    bool behaved() const { return behaved_; }
    int expected_errno() const { return expected_errno_; }
    bool ok() const { return behaved_ && failures_.empty(); }

    // Outputs, in the order they are recorded.
    void out(const std::string& key, std::uint64_t value);
    void out_hex(const std::string& key, std::uint64_t value);
    void out(const std::string& key, const std::string& value);
    void out(const std::string& key, nlohmann::ordered_json value, std::string text);

    // A property iommufd guarantees here; a false one fails the step.
    void expect(bool holds, const std::string& what);

    nlohmann::ordered_json to_json() const;
    void print_text() const;

private:
    int index_;
    std::string name_;
    std::string call_;
    std::string why_;
    int expected_errno_;
    long result_ = 0;
    int errno_ = 0;
    bool behaved_ = false;
    nlohmann::ordered_json outputs_ = nlohmann::ordered_json::object();
    std::vector<std::pair<std::string, std::string>> text_outputs_;
    std::vector<std::string> failures_;
};

class Report {
public:
    explicit Report(bool json) : json_(json) {}

    void intro(const std::vector<std::string>& lines, nlohmann::ordered_json facts);

    // A step whose call must succeed (expected_errno 0) or fail with
    // expected_errno.
    Step& begin(const std::string& name, const std::string& call, const std::string& why,
                int expected_errno = 0);

    // Prints the step (text mode). Returns false when a call that must succeed
    // failed: later steps depend on its result, so the scenario stops.
    bool end(Step& step);

    // The scenario could not go on for a reason outside any step.
    void abort(const std::string& why);

    // Prints the summary or the JSON document; returns the exit status.
    int finish();

private:
    bool json_;
    bool aborted_ = false;
    std::string abort_reason_;
    nlohmann::ordered_json facts_ = nlohmann::ordered_json::object();
    std::deque<Step> steps_;  // deque: references stay valid
};

// "EEXIST", or "errno 1234" for a number libc has no name for.
std::string errno_name(int err);

}  // namespace iommusim::demo
