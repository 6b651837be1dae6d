// Issue 19's hygiene: every RAND_bytes result is checked. With OpenSSL's random source made
// to fail, what pgsluice draws (SCRAM nonces, cancel keys) throws instead of going on with
// bytes that are not random; the session that asked ends, the process does not.
// (RAND_set_rand_method is OpenSSL's legacy hook, deprecated in 3.0 but still honoured by
// RAND_bytes: the one way to make it fail from a test.)
#define OPENSSL_SUPPRESS_DEPRECATED
#include <openssl/rand.h>

#include <catch2/catch.hpp>

#include "protocol/auth/scram.hpp"
#include "proxy/session/cancel_registry.hpp"

namespace {
int fail_bytes(unsigned char*, int) { return 0; }
int fail_status() { return 0; }

// While it lives, RAND_bytes fails.
struct FailingRandom {
    const RAND_METHOD* previous = RAND_get_rand_method();
    RAND_METHOD failing{nullptr, fail_bytes, nullptr, nullptr, fail_bytes, fail_status};
    FailingRandom() { REQUIRE(RAND_set_rand_method(&failing) == 1); }
    ~FailingRandom() { RAND_set_rand_method(previous); }
};
}  // namespace

TEST_CASE("a failing RAND_bytes is an error, never a nonce or cancel key that is not random", "[unit][hygiene]") {
    {
        FailingRandom broken;
        unsigned char byte = 0;
        REQUIRE(RAND_bytes(&byte, 1) != 1);  // the hook works
        CHECK_THROWS_WITH(pgsluice::protocol::scram::random_nonce(), Catch::Contains("RAND_bytes failed"));
        CHECK_THROWS_WITH(pgsluice::proxy::random_cancel_key(), Catch::Contains("RAND_bytes failed"));
    }
    // Back to OpenSSL's own source.
    CHECK(pgsluice::protocol::scram::random_nonce().size() == 24);
    CHECK_NOTHROW(pgsluice::proxy::random_cancel_key());
}
