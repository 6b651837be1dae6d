// A query cancelled through pgsluice, as a client does it: for the cancel tests.
#pragma once

#include <string>

#include "harness/pq.hpp"
#include "harness/postgres_server.hpp"

namespace harness {

// Starts a long sleep on `client`, waits until `runs_on` shows it running, sends a cancel
// for it through pgsluice (PQcancel with the key pgsluice gave the client), and returns the
// SQLSTATE the sleep ended with ("57014" when the cancel reached it). A sleep the cancel
// missed is ended by the superuser after 10 s, so that the test ends either way; it then
// ends with "missed: " and its SQLSTATE.
std::string cancel_sleep(Connection& client, const PostgresServer& runs_on);

}  // namespace harness
