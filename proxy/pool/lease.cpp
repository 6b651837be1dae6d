// ServerLease and WaitOutcome: a session's hold on a server or on a finished wait.
#include "proxy/pool/lease.hpp"

#include "proxy/pool/pool.hpp"

namespace pgsluice::proxy {

WaitOutcome::WaitOutcome(std::shared_ptr<Pool> pool, std::shared_ptr<PoolWaiter> waiter)
    : pool_(std::move(pool)), waiter_(std::move(waiter)) {}

WaitOutcome& WaitOutcome::operator=(WaitOutcome&& other) noexcept {
    if (this != &other) {
        abandon();
        pool_ = std::move(other.pool_);
        waiter_ = std::move(other.waiter_);
    }
    return *this;
}

WaitOutcome::~WaitOutcome() { abandon(); }

void WaitOutcome::abandon() {
    if (waiter_) pool_->abandon(*waiter_);
    waiter_.reset();
    pool_.reset();
}

ServerLease::ServerLease(std::shared_ptr<Pool> pool, std::unique_ptr<ServerConnection> server)
    : pool_(std::move(pool)), server_(std::move(server)) {
    if (server_) pool_->note_leased(server_.get());
}

ServerLease::ServerLease(std::shared_ptr<Pool> pool, std::unique_ptr<ServerConnection> server, Listed)
    : pool_(std::move(pool)), server_(std::move(server)) {}

ServerLease& ServerLease::operator=(ServerLease&& other) noexcept {
    if (this != &other) {
        if (server_) release_closed("lease replaced");
        pool_ = std::move(other.pool_);
        server_ = std::move(other.server_);
    }
    return *this;
}

ServerLease::~ServerLease() {
    if (server_) release_closed("session ended without releasing its server");
}

void ServerLease::release_reusable() {
    if (server_) pool_->end_lease(std::move(server_), true, nullptr);
}

void ServerLease::release_closed(const char* why) {
    if (server_) pool_->end_lease(std::move(server_), false, why);
}

}  // namespace pgsluice::proxy
