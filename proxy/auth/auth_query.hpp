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
#include <string_view>

#include "config/config.hpp"
#include "proxy/asio.hpp"
#include "proxy/backend/server_connection.hpp"

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

// "md5" and 32 hex digits: the form pg_shadow keeps an MD5 password in.
bool is_md5_hash(std::string_view stored);

class AuthQueryCache {
public:
    static constexpr std::size_t kMaxEntries = 10'000;

    // The cached answer, or a fresh one from the database's server. Throws ServerLoginError
    // when auth_user cannot log in or the query fails (the client is then refused).
    // `auth_login`: the database's server, logged in to as its auth_user with the same
    // server-side TLS and login settings as the pool's servers (auth_user_target).
    awaitable<LookedUpUser> lookup(Executor executor, const config::Database& database, const ServerTarget& auth_login,
                                   const std::string& user, Duration ttl, Duration connect_timeout);

    // What pgsluice may log in to PostgreSQL with, from the verifier last fetched for
    // (database, user), expired or not: the ServerKey of a SCRAM verifier, or an MD5 hash.
    // A pool's target is built from it (and rebuilt by a reload).
    struct Secrets {
        std::optional<protocol::scram::Key> server_key;
        std::optional<std::string> md5_hash;  // "md5<hex>"; secret
    };
    Secrets secrets(const std::string& database, const std::string& user);

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
