// Room for a session's one pending wait, inside the session.
//
// Asio allocates every pending operation (the handler plus its bookkeeping). By default
// that memory comes from a small per-thread cache, or from malloc once thousands of waits
// are pending at once, as they are with thousands of idle clients: then each idle client
// pays for a separate heap block, sized for whatever operation used it before. A session
// waits for one thing at a time on the quick path and while parked, so one block in the
// session serves all of those waits; a second wait pending at the same time (the idle
// timer's) gets ordinary heap memory.
//
// Used on the session's worker only, so `in_use_` needs no atomic.
#pragma once

#include <cstddef>
#include <new>

#include "proxy/asio.hpp"

namespace pgsluice::proxy {

class HandlerMemory {
public:
    // Fits a wait on a Socket whose handler holds a shared_ptr (104 bytes with
    // Boost 1.81); a bigger one still works, from the heap. Exactly that: with the flag
    // below, the session pays 112 bytes, not 128.
    static constexpr std::size_t kSize = 104;

    HandlerMemory() = default;
    HandlerMemory(const HandlerMemory&) = delete;
    HandlerMemory& operator=(const HandlerMemory&) = delete;

    void* allocate(std::size_t size) {
        if (!in_use_ && size <= kSize) {
            in_use_ = true;
            return storage_;
        }
        return ::operator new(size);
    }
    void deallocate(void* pointer) {
        if (pointer == storage_) {
            in_use_ = false;
            return;
        }
        ::operator delete(pointer);
    }

private:
    alignas(std::max_align_t) std::byte storage_[kSize];
    bool in_use_ = false;
};

// The allocator Asio finds on a handler bound with in_memory().
template <class T>
class HandlerAllocator {
public:
    using value_type = T;
    explicit HandlerAllocator(HandlerMemory& memory) : memory_(&memory) {}
    template <class U>
    HandlerAllocator(const HandlerAllocator<U>& other) : memory_(other.memory_) {}

    T* allocate(std::size_t n) { return static_cast<T*>(memory_->allocate(sizeof(T) * n)); }
    void deallocate(T* pointer, std::size_t) { memory_->deallocate(pointer); }

    template <class U>
    bool operator==(const HandlerAllocator<U>& other) const { return memory_ == other.memory_; }

private:
    template <class>
    friend class HandlerAllocator;
    HandlerMemory* memory_;
};

// `handler`, with its operation's memory taken from `memory`. The handler must keep the
// owner of `memory` alive (Asio frees the block before it calls the handler, and a handler
// destroyed unrun is destroyed after its block is freed).
template <class Handler>
auto in_memory(HandlerMemory& memory, Handler handler) {
    return asio::bind_allocator(HandlerAllocator<void>(memory), std::move(handler));
}

}  // namespace pgsluice::proxy
