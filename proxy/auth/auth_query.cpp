// Looking users up in PostgreSQL with auth_user / auth_query, and the bounded cache.
#include "proxy/auth/auth_query.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cctype>

#include "protocol/sqlstate.hpp"
#include "proxy/observe/log_escape.hpp"

namespace pgsluice::proxy {

namespace {

// A string literal under standard_conforming_strings = on (set in the same query): quotes
// doubled, and nothing else is special.
std::string quote_literal(const std::string& text) {
    std::string out = "'";
    for (char c : text) {
        if (c == '\'') out += '\'';
        out += c;
    }
    return out + "'";
}

}  // namespace

std::string auth_query_sql(const std::string& auth_query, const std::string& user) {
    std::string query;
    const auto literal = quote_literal(user);
    for (std::size_t i = 0; i < auth_query.size(); ++i) {
        // $1 but not $10: only one parameter exists.
        if (auth_query[i] == '$' && i + 1 < auth_query.size() && auth_query[i + 1] == '1' &&
            (i + 2 >= auth_query.size() || !std::isdigit(static_cast<unsigned char>(auth_query[i + 2])))) {
            query += literal;
            ++i;
            continue;
        }
        query += auth_query[i];
    }
    return "SET search_path = pg_catalog, pg_temp; SET standard_conforming_strings = on; " + query;
}

awaitable<LookedUpUser> AuthQueryCache::lookup(Executor executor, const config::Database& database,
                                               const ServerTarget& auth_login, const std::string& user, Duration ttl,
                                               Duration connect_timeout) {
    const auto key = std::make_pair(database.name, user);
    std::uint64_t id = 0;
    {
        std::lock_guard lock(mutex_);
        if (auto it = entries_.find(key); it != entries_.end() && it->second.expires > Clock::now())
            co_return it->second.user;
        id = ++next_id_;
    }
    const ServerTarget& target = auth_login;
    // Not a pool's server: ids from their own range, visible as such in the logs.
    auto server = co_await ServerConnection::connect(executor, target, connect_timeout, (1ull << 62) + id);
    std::vector<std::string> row;
    std::optional<protocol::ErrorFields> error;
    try {
        error = co_await server->run_simple_query(auth_query_sql(database.auth_lookup.auth_query, user), &row);
    } catch (const std::exception& e) {
        server->close();
        throw ServerLoginError({"FATAL", protocol::sqlstate::kConnectionFailure,
                                std::string("auth_query failed: ") + e.what(), {}, {}});
    }
    server->close();
    if (error) {
        std::string message;
        append_log_escaped(message, error->message);
        spdlog::warn("auth_query on database {} as {} failed: {}", database.name, target.user, message);
        throw ServerLoginError({"FATAL", protocol::sqlstate::kInvalidAuthorizationSpecification,
                                "authentication lookup failed", {}, {}});
    }
    LookedUpUser found;
    // No row: no such user. A row's second column is the verifier (NULL comes back as "":
    // no password, and no password logs in with it).
    if (row.size() >= 2) {
        found.exists = true;
        if (!row[1].empty()) found.verifier = row[1];
    }
    std::lock_guard lock(mutex_);
    if (entries_.size() >= kMaxEntries) {
        // Expired entries first; if none, the cache starts over rather than grow.
        std::erase_if(entries_, [now = Clock::now()](const auto& entry) { return entry.second.expires <= now; });
        if (entries_.size() >= kMaxEntries) entries_.clear();
    }
    entries_[key] = Entry{found, Clock::now() + ttl};
    co_return found;
}

AuthQueryCache::Secrets AuthQueryCache::secrets(const std::string& database, const std::string& user) {
    std::lock_guard lock(mutex_);
    Secrets out;
    auto it = entries_.find({database, user});
    if (it == entries_.end() || !it->second.user.verifier) return out;
    const auto& stored = *it->second.user.verifier;
    if (auto verifier = protocol::scram::Verifier::parse(stored)) out.server_key = verifier->server_key;
    else if (is_md5_hash(stored)) out.md5_hash = stored;
    return out;
}

bool is_md5_hash(std::string_view stored) {
    return stored.size() == 35 && stored.starts_with("md5") &&
           std::all_of(stored.begin() + 3, stored.end(), [](unsigned char c) { return std::isxdigit(c); });
}

}  // namespace pgsluice::proxy
