// Room for a session's pending operations, inside the session and its Traffic.
//
// Asio allocates every pending operation (the handler plus its bookkeeping). By default
// that memory comes from a small per-thread cache, or from malloc once thousands of waits
// are pending at once, as they are with thousands of idle clients: then each idle client
// pays for a separate heap block, sized for whatever operation used it before. A session
// has one thing pending at a time while parked (the wait for its client) and on the quick
// path (a read, and a step posted to run after the worker's other ready handlers), so one
// block in the session and one in its Traffic serve all of those; a second operation
// pending at the same time (the idle timer's) gets ordinary heap memory.
//
// Used on the session's worker only, so `in_use_` needs no atomic.
#pragma once

#include <cstddef>
#include <new>

#include "proxy/asio.hpp"

namespace pgsluice::proxy {

// `Size` bytes for one pending operation; a bigger one, or a second one pending at the
// same time, still works, from the heap.
template <std::size_t Size>
class HandlerMemoryOf {
public:
    static constexpr std::size_t kSize = Size;

    HandlerMemoryOf() = default;
    HandlerMemoryOf(const HandlerMemoryOf&) = delete;
    HandlerMemoryOf& operator=(const HandlerMemoryOf&) = delete;

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

// The session's: fits a wait on a Socket whose handler holds a shared_ptr (104 bytes with
// Boost 1.81; a posted handler takes 72). Exactly that: with the flag, the session pays 112
// bytes, not 128.
using HandlerMemory = HandlerMemoryOf<104>;

// The transaction's (see Traffic): fits a read of a Socket into one buffer whose handler
// holds a shared_ptr (136 bytes with Boost 1.81), and the same read over TLS, whose handler
// also holds the Transport and the caller's buffer (168 bytes).
using ReadMemory = HandlerMemoryOf<168>;

// The allocator Asio finds on a handler bound with in_memory().
template <class T, class Memory>
class HandlerAllocator {
public:
    using value_type = T;
    explicit HandlerAllocator(Memory& memory) : memory_(&memory) {}
    template <class U>
    HandlerAllocator(const HandlerAllocator<U, Memory>& other) : memory_(other.memory_) {}

    T* allocate(std::size_t n) { return static_cast<T*>(memory_->allocate(sizeof(T) * n)); }
    void deallocate(T* pointer, std::size_t) { memory_->deallocate(pointer); }

    template <class U>
    bool operator==(const HandlerAllocator<U, Memory>& other) const { return memory_ == other.memory_; }

private:
    template <class, class>
    friend class HandlerAllocator;
    Memory* memory_;
};

// `handler`, with its operation's memory taken from `memory`. The handler must keep the
// owner of `memory` alive (Asio frees the block before it calls the handler, and a handler
// destroyed unrun is destroyed after its block is freed).
template <std::size_t Size, class Handler>
auto in_memory(HandlerMemoryOf<Size>& memory, Handler handler) {
    return asio::bind_allocator(HandlerAllocator<void, HandlerMemoryOf<Size>>(memory), std::move(handler));
}

}  // namespace pgsluice::proxy
