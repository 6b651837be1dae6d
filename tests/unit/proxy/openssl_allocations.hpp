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

}  // namespace pgsluice::test
