#include "proxy/forward/write_deadline.hpp"

#include "proxy/io/transport.hpp"

namespace pgsluice::proxy {

namespace {
std::atomic<Duration::rep> g_client_write_timeout_ms{0};
}  // namespace

void set_client_write_timeout(Duration limit) {
    g_client_write_timeout_ms.store(limit.count(), std::memory_order_relaxed);
}

Duration client_write_timeout() { return Duration(g_client_write_timeout_ms.load(std::memory_order_relaxed)); }

void WriteDeadline::blocked(Transport& to) {
    if (hook_.linked()) return;
    limit_ = client_write_timeout();
    if (limit_.count() <= 0) return;
    to_ = &to;
    last_progress_ = Clock::now();
    moved_ = false;
    QuickDeadlines::watch(hook_, to.get_executor(), &WriteDeadline::look, this);
}

// On the worker of the write, every QuickDeadlines::kSweep while it waits.
void WriteDeadline::look(void* owner, Clock::time_point now) {
    auto& self = *static_cast<WriteDeadline*>(owner);
    if (self.moved_) {
        self.moved_ = false;
        self.last_progress_ = now;
        return;
    }
    if (now - self.last_progress_ < self.limit_) return;
    self.expired_ = true;
    QuickDeadlines::forget(self.hook_);
    self.to_->cancel();
}

std::string WriteDeadline::reason() const {
    return "client_write_timeout: the client read nothing for " + std::to_string(limit_.count()) + " ms";
}

}  // namespace pgsluice::proxy
