// Long-lived objects of one size, packed side by side in chunks instead of one heap block
// each: the sessions of thousands of idle clients then sit together, with no allocator
// header apiece and no holes left between them by the short-lived allocations of each login.
// Freed blocks are kept for the next object of the size (as PgBouncer's slab does); the
// chunks are never given back.
#pragma once

#include <cstddef>
#include <memory>
#include <mutex>
#include <new>
#include <vector>

namespace pgsluice::proxy {

template <std::size_t Size>
class Slab {
public:
    static Slab& instance() {
        static Slab* slab = new Slab;  // never destroyed: blocks may be freed at exit
        return *slab;
    }
    void* take() {
        std::lock_guard lock(mutex_);
        if (!free_) grow();
        auto* block = free_;
        free_ = block->next;
        return block;
    }
    void recycle(void* pointer) {
        std::lock_guard lock(mutex_);
        auto* block = static_cast<Block*>(pointer);
        block->next = free_;
        free_ = block;
    }

private:
    static constexpr std::size_t kBlock = (Size + alignof(std::max_align_t) - 1) / alignof(std::max_align_t) *
                                          alignof(std::max_align_t);
    static constexpr std::size_t kPerChunk = 64;
    struct Block {
        Block* next;
    };
    void grow() {
        auto* chunk = static_cast<std::byte*>(::operator new(kBlock * kPerChunk));
        for (std::size_t i = kPerChunk; i-- > 0;) {
            auto* block = reinterpret_cast<Block*>(chunk + i * kBlock);
            block->next = free_;
            free_ = block;
        }
    }
    std::mutex mutex_;
    Block* free_ = nullptr;
};

// For std::allocate_shared: the object and its control block come from a Slab. Under
// AddressSanitizer, from the heap instead, so that the tests still catch a use after free.
#if defined(__SANITIZE_ADDRESS__)
inline constexpr bool kSlabsInUse = false;
#else
inline constexpr bool kSlabsInUse = true;
#endif

template <class T>
class SlabAllocator {
public:
    using value_type = T;
    SlabAllocator() = default;
    template <class U>
    SlabAllocator(const SlabAllocator<U>&) {}

    T* allocate(std::size_t n) {
        if (n != 1 || !kSlabsInUse) return static_cast<T*>(::operator new(n * sizeof(T)));
        static_assert(alignof(T) <= alignof(std::max_align_t));
        return static_cast<T*>(Slab<sizeof(T)>::instance().take());
    }
    void deallocate(T* pointer, std::size_t n) {
        if (n != 1 || !kSlabsInUse) return ::operator delete(pointer);
        Slab<sizeof(T)>::instance().recycle(pointer);
    }
    template <class U>
    bool operator==(const SlabAllocator<U>&) const { return true; }
};

}  // namespace pgsluice::proxy
