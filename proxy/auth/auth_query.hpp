// auth_user / auth_query: the password verifier of a user the config does not list, asked of
// PostgreSQL itself. pgsluice logs in as the database's auth_user, runs auth_query with the
// name as a quoted literal under a fixed search_path, and keeps the answer (found or not) for
// auth_query_cache_ttl, so a burst of logins costs one query.
#pragma once

#include <chrono>
#include <map>
#include <mutex>
#include <optional>
#include <string>

#include "config/config.hpp"
#include "proxy/asio.hpp"
#include "proxy/server_connection.hpp"

namespace pgsluice::proxy {

struct LookedUpUser {
    bool exists = false;
    // The passwd column: "SCRAM-SHA-256$...", "md5<hex>", or nullopt (NULL: no password).
    // A secret: never logged.
    std::optional<std::string> verifier;
};

// The SQL that runs: search_path and standard_conforming_strings fixed first (so neither the
// auth_user's settings nor a query written without schema can be redirected, and the quoting
// below is exact), then `auth_query` with every $1 replaced by `user` as a quoted literal.
std::string auth_query_sql(const std::string& auth_query, const std::string& user);

class AuthQueryCache {
public:
    static constexpr std::size_t kMaxEntries = 10'000;

    // The cached answer, or a fresh one from the database's server. Throws ServerLoginError
    // when auth_user cannot log in or the query fails (the client is then refused).
    // `auth_password`: the plaintext password of the database's auth_user.
    awaitable<LookedUpUser> lookup(Executor executor, const config::Database& database, const std::string& auth_password,
                                   const std::string& user, Duration ttl, Duration connect_timeout);

    // The ServerKey of the SCRAM verifier last fetched for (database, user), expired or not:
    // a reload rebuilding a pool's target keeps the key its servers log in with.
    std::optional<protocol::scram::Key> server_key(const std::string& database, const std::string& user);

private:
    struct Entry {
        LookedUpUser user;
        Clock::time_point expires;
    };
    std::mutex mutex_;
    std::map<std::pair<std::string, std::string>, Entry> entries_;  // (database, user)
    std::uint64_t next_id_ = 0;
};

}  // namespace pgsluice::proxy
