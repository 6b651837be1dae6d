#include "proxy/runtime/quick_deadlines.hpp"

#include <memory>

namespace pgsluice::proxy {

namespace {
// The list of the worker running this thread, found once per thread, not per transaction
// (use_service takes the context's registry lock). Forgotten when its context shuts down:
// another context made later at the same address (tests) must find its own.
thread_local asio::execution_context* cached_context = nullptr;
thread_local QuickDeadlines* cached_list = nullptr;
}  // namespace

// Holds a worker's list for as long as its io_context lives, and unlinks every member when
// the context shuts down (a session destroyed after that must not reach into the list).
class QuickDeadlines::Service : public asio::execution_context::service {
public:
    using key_type = Service;
    static inline asio::execution_context::id id;

    explicit Service(asio::execution_context& context)
        : asio::execution_context::service(context),
          lists_(new QuickDeadlines(static_cast<asio::io_context&>(context).get_executor())) {}
    QuickDeadlines& list() { return *lists_; }

private:
    // Called twice for a worker (Workers' destructor shuts its contexts down, and each
    // context's destructor does again): the second time finds nothing to do.
    void shutdown() override {
        if (!lists_) return;
        if (cached_context == &context()) {
            cached_context = nullptr;
            cached_list = nullptr;
        }
        lists_->unlink_all();
        lists_.reset();  // the timer goes while every service still exists
    }
    std::unique_ptr<QuickDeadlines> lists_;
};

namespace {

QuickDeadlines& list_of(const Executor& executor) {
    auto& context = executor.context();
    if (cached_context != &context) {
        cached_list = &asio::use_service<QuickDeadlines::Service>(context).list();
        cached_context = &context;
    }
    return *cached_list;
}

}  // namespace

void QuickDeadlines::watch(Hook& hook, const Executor& executor, Sweep sweep, void* owner) {
    hook.sweep_ = sweep;
    hook.owner_ = owner;
    if (hook.list_) return;
    auto& list = list_of(executor);
    hook.previous_ = nullptr;
    hook.next_ = list.first_;
    if (list.first_) list.first_->previous_ = &hook;
    list.first_ = &hook;
    hook.list_ = &list;
    if (list.armed_) return;
    list.armed_ = true;
    list.timer_.expires_after(kSweep);
    list.timer_.async_wait([&list](const boost::system::error_code& ec) {
        if (ec) return;  // shutting down
        list.look(Clock::now());
    });
}

// Every kSweep while anyone is listed; stops when the list is empty.
void QuickDeadlines::look(Clock::time_point now) {
    for (Hook* hook = first_; hook;) {
        Hook* next = hook->next_;  // the sweep may unlink `hook`
        hook->sweep_(hook->owner_, now);
        hook = next;
    }
    if (!first_) {
        armed_ = false;
        return;
    }
    timer_.expires_after(kSweep);
    timer_.async_wait([this](const boost::system::error_code& ec) {
        if (!ec) look(Clock::now());
    });
}

void QuickDeadlines::forget(Hook& hook) {
    auto* list = hook.list_;
    if (!list) return;
    if (hook.previous_)
        hook.previous_->next_ = hook.next_;
    else
        list->first_ = hook.next_;
    if (hook.next_) hook.next_->previous_ = hook.previous_;
    hook.previous_ = hook.next_ = nullptr;
    hook.list_ = nullptr;
}

void QuickDeadlines::unlink_all() {
    while (first_) forget(*first_);
}

}  // namespace pgsluice::proxy
