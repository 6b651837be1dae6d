// Faults on demand, for tests only. Nothing here exists unless the environment of the
// starting process holds PGSLUICE_TEST_HOOKS=1: a production pgsluice has no handler for
// SIGUSR2 (whose default action ends the process) and no way to reach these hooks.
#pragma once

#include "proxy/runtime/workers.hpp"

namespace pgsluice::proxy {

// With PGSLUICE_TEST_HOOKS=1: each SIGUSR2 blocks one worker thread, as a handler stuck in
// a system call would: worker PGSLUICE_TEST_WEDGE_WORKER (default the last) for
// PGSLUICE_TEST_WEDGE_MS (default 3000). Without it: does nothing.
void install_test_hooks(Workers& workers);

}  // namespace pgsluice::proxy
