// One shared copy of values that many sessions hold alike (the settings a client asked for,
// who it is): thousands of idle clients of one application then cost one copy, not
// thousands. Remembers the few most recent distinct values; a value nobody holds any more
// is forgotten.
#pragma once

#include <algorithm>
#include <cstddef>
#include <memory>
#include <mutex>
#include <vector>

namespace pgsluice::proxy {

template <class T>
class Interner {
public:
    // A shared copy equal to `value`: one already held by others, or `value` itself.
    std::shared_ptr<const T> intern(std::shared_ptr<const T> value) {
        std::lock_guard lock(mutex_);
        std::erase_if(recent_, [](const auto& weak) { return weak.expired(); });
        for (const auto& weak : recent_)
            if (auto shared = weak.lock(); shared && *shared == *value) return shared;
        if (recent_.size() < kRemembered) recent_.push_back(value);
        return value;
    }

private:
    static constexpr std::size_t kRemembered = 32;
    std::mutex mutex_;
    std::vector<std::weak_ptr<const T>> recent_;
};

}  // namespace pgsluice::proxy
