// WaiterQueue: FIFO, with the local hand-off of pool_policy::pick_waiter.
#include "proxy/pool/waiter_queue.hpp"

#include <algorithm>

#include "proxy/pool/pool_policy.hpp"

namespace pgsluice::proxy {

WaiterQueue::Entry WaiterQueue::pop_front() {
    auto first = std::move(queue_.front());
    queue_.pop_front();
    return first;
}

bool WaiterQueue::remove(const PoolWaiter& waiter) {
    return std::erase_if(queue_, [&](const Entry& queued) { return queued.get() == &waiter; }) > 0;
}

WaiterQueue::Entry WaiterQueue::take_for(const asio::execution_context* server_worker) {
    auto pick = pool_policy::pick_waiter(queue_, server_worker);
    auto next = std::move(*pick);
    queue_.erase(pick);
    return next;
}

}  // namespace pgsluice::proxy
