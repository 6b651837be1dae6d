// Failed client logins counted per user for the metrics endpoint, with a bounded number of
// label values: names the config lists (or auth_query found) get their own, every other
// name shares one, so a client trying random names cannot grow the metrics without end.
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <string>

namespace pgsluice::proxy {

class LoginFailures {
public:
    static constexpr const char* kUnknownUser = "(unknown)";
    static constexpr std::size_t kMaxUsers = 1000;  // beyond this, known users share kUnknownUser too

    // `known`: the user exists (listed, or found by auth_query). Never a secret in `user`.
    void record(const std::string& user, bool known);
    std::map<std::string, std::uint64_t> counts() const;

private:
    mutable std::mutex mutex_;
    std::map<std::string, std::uint64_t> counts_;
};

}  // namespace pgsluice::proxy
