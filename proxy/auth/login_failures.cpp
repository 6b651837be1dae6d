// Per-user failed login counts.
#include "proxy/auth/login_failures.hpp"

namespace pgsluice::proxy {

void LoginFailures::record(const std::string& user, bool known) {
    std::lock_guard lock(mutex_);
    if (known && (counts_.size() < kMaxUsers || counts_.count(user))) {
        ++counts_[user];
        return;
    }
    ++counts_[kUnknownUser];
}

std::map<std::string, std::uint64_t> LoginFailures::counts() const {
    std::lock_guard lock(mutex_);
    return counts_;
}

}  // namespace pgsluice::proxy
