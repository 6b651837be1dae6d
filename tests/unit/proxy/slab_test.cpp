// The slab that packs sessions side by side: distinct aligned blocks, a freed block reused
// for the next object, and allocate_shared working through it.
#include <catch2/catch.hpp>

#include <cstdint>
#include <set>
#include <string>

#include "proxy/runtime/slab.hpp"

using namespace pgsluice::proxy;

TEST_CASE("a slab hands out distinct aligned blocks and reuses a freed one", "[unit][slab]") {
    auto& slab = Slab<200>::instance();
    std::set<void*> blocks;
    for (int i = 0; i < 130; ++i) {  // past two chunks
        void* block = slab.take();
        CHECK(reinterpret_cast<std::uintptr_t>(block) % alignof(std::max_align_t) == 0);
        CHECK(blocks.insert(block).second);
    }
    void* freed = *blocks.begin();
    slab.recycle(freed);
    CHECK(slab.take() == freed);
    for (void* block : blocks) slab.recycle(block);
}

TEST_CASE("allocate_shared through the slab allocator builds and destroys the object", "[unit][slab]") {
    struct Session {
        std::string name;
        int* destroyed;
        ~Session() { ++*destroyed; }
    };
    int destroyed = 0;
    {
        auto session = std::allocate_shared<Session>(SlabAllocator<Session>(), Session{"client 1", &destroyed});
        destroyed = 0;  // the temporary above
        CHECK(session->name == "client 1");
        std::weak_ptr<Session> weak = session;
        session.reset();
        CHECK(weak.expired());
    }
    CHECK(destroyed == 1);
}
