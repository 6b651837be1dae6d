// Catch2's main for the integration test binary.
#define CATCH_CONFIG_MAIN
#include <catch2/catch.hpp>
