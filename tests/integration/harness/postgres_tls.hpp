// PostgreSQL's own TLS and pg_hba.conf, changed under a running test server.
#pragma once

#include <string>

#include "harness/postgres_server.hpp"

namespace harness {

// ssl = on with this certificate and key (made readable to PostgreSQL alone, as it
// requires); returns once a new direct connection gets TLS (bounded: throws after 10 s).
void enable_ssl(const PostgresServer& postgres, const std::string& cert_file, const std::string& key_file);

// Puts `line` first in pg_hba.conf (first match wins) and reloads PostgreSQL. The reload
// is asynchronous: the caller waits for the line's effect.
void prepend_hba(const PostgresServer& postgres, const std::string& line);

}  // namespace harness
