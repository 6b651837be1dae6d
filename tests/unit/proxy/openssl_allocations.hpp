// OpenSSL's heap, counted: the unit tests route OpenSSL's allocations through counting
// functions (CRYPTO_set_mem_functions, installed while the binary starts, before OpenSSL's
// first allocation), so a test can see what a TLS connection holds.
#pragma once

#include <cstddef>

namespace pgsluice::test {

// False if OpenSSL had allocated before the counting functions could be installed.
bool openssl_allocations_counted();
// Bytes OpenSSL has allocated and not yet freed.
std::size_t openssl_live_bytes();
// Allocations so far of a record buffer's size or more (16 KB): a TLS read or write
// buffer being made.
std::size_t openssl_buffer_allocations();

}  // namespace pgsluice::test
