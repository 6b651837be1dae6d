#include "tests/unit/proxy/openssl_allocations.hpp"

#include <openssl/crypto.h>

#include <atomic>
#include <cstdlib>
#include <cstring>

namespace pgsluice::test {
namespace {

std::atomic<std::size_t> live_bytes{0};
std::atomic<std::size_t> buffer_allocations{0};
constexpr std::size_t record_buffer_size = 16 * 1024;

// Each block carries its size in a header, max_align_t wide to keep the block aligned.
constexpr std::size_t header = alignof(std::max_align_t);

void* counted_malloc(std::size_t size, const char*, int) {
    auto* block = static_cast<unsigned char*>(std::malloc(header + size));
    if (!block) return nullptr;
    std::memcpy(block, &size, sizeof size);
    live_bytes += size;
    if (size >= record_buffer_size) ++buffer_allocations;
    return block + header;
}

void counted_free(void* pointer, const char*, int) {
    if (!pointer) return;
    auto* block = static_cast<unsigned char*>(pointer) - header;
    std::size_t size;
    std::memcpy(&size, block, sizeof size);
    live_bytes -= size;
    std::free(block);
}

void* counted_realloc(void* pointer, std::size_t size, const char* file, int line) {
    if (!pointer) return counted_malloc(size, file, line);
    if (size == 0) {
        counted_free(pointer, file, line);
        return nullptr;
    }
    auto* block = static_cast<unsigned char*>(pointer) - header;
    std::size_t old_size;
    std::memcpy(&old_size, block, sizeof old_size);
    auto* moved = static_cast<unsigned char*>(std::realloc(block, header + size));
    if (!moved) return nullptr;  // the old block stands, still counted
    std::memcpy(moved, &size, sizeof size);
    live_bytes += size;
    live_bytes -= old_size;
    if (size >= record_buffer_size && old_size < record_buffer_size) ++buffer_allocations;
    return moved + header;
}

// Installed during static initialisation: nothing in the test binary uses OpenSSL before main.
const bool counted = CRYPTO_set_mem_functions(counted_malloc, counted_realloc, counted_free) == 1;

}  // namespace

bool openssl_allocations_counted() { return counted; }
std::size_t openssl_live_bytes() { return live_bytes.load(); }
std::size_t openssl_buffer_allocations() { return buffer_allocations.load(); }

}  // namespace pgsluice::test
