// The three tables on their own: interned keys, a client's names, a server's LRU.
#include <catch2/catch.hpp>

#include <thread>
#include <vector>

#include "proxy/prepared/client_statements.hpp"
#include "proxy/prepared/server_statements.hpp"
#include "proxy/prepared/statement_key.hpp"

using namespace pgsluice::proxy::prepared;

TEST_CASE("one key per distinct text and parameter types, shared", "[prepared][tables]") {
    StatementKeyInterner keys;
    const std::vector<std::uint32_t> int4{23}, text{25};
    auto a = keys.intern("select $1", int4);
    auto b = keys.intern("select $1", int4);
    auto c = keys.intern("select $1", text);
    auto d = keys.intern("select $2", int4);
    CHECK(a == b);  // the same object
    CHECK_FALSE(*a == *c);
    CHECK_FALSE(*a == *d);
    CHECK(StatementKeyRefEqual{}(a, StatementKeyInterner{}.intern("select $1", int4)));  // equal by value across interners
}

TEST_CASE("keys nobody holds are forgotten", "[prepared][tables]") {
    StatementKeyInterner keys;
    for (int i = 0; i < 1000; ++i) keys.intern("select " + std::to_string(i), {});
    CHECK(keys.size() < 200);
}

TEST_CASE("the interner is shared by threads", "[prepared][tables]") {
    StatementKeyInterner keys;
    std::vector<StatementKeyRef> seen(8);
    std::vector<std::thread> threads;
    for (int t = 0; t < 8; ++t)
        threads.emplace_back([&, t] {
            for (int i = 0; i < 500; ++i) seen[t] = keys.intern("select 1", {});
        });
    for (auto& thread : threads) thread.join();
    for (const auto& key : seen) CHECK(key == seen[0]);
}

TEST_CASE("a client's names: duplicate, limit, remove, clear", "[prepared][tables]") {
    StatementKeyInterner keys;
    ClientStatements client(2);
    auto one = keys.intern("select 1", {});
    CHECK(client.add("a", one) == ClientStatements::AddResult::added);
    CHECK(client.add("a", keys.intern("select 2", {})) == ClientStatements::AddResult::duplicate);
    CHECK(client.add("b", one) == ClientStatements::AddResult::added);  // two names, one statement
    CHECK(client.add("c", one) == ClientStatements::AddResult::over_limit);
    REQUIRE(client.find("a"));
    CHECK_FALSE(client.find("a")->confirmed);
    client.confirm("a");
    CHECK(client.find("a")->confirmed);
    CHECK(client.remove("a") == one);
    CHECK(client.remove("a") == nullptr);
    CHECK(client.add("c", one) == ClientStatements::AddResult::added);
    client.clear();
    CHECK(client.size() == 0);
}

TEST_CASE("a server's statements: names never reused, least recently used evicted", "[prepared][tables]") {
    StatementKeyInterner keys;
    ServerStatements server(2);
    auto k1 = keys.intern("select 1", {}), k2 = keys.intern("select 2", {}), k3 = keys.intern("select 3", {});
    auto a = server.add(k1, 0);
    CHECK(a.entry->name == "pgsluice_1");
    CHECK(a.evicted.empty());
    CHECK(server.add(k2, 0).entry->name == "pgsluice_2");
    server.confirm("pgsluice_1");
    server.confirm("pgsluice_2");
    CHECK(server.lookup(k1));  // k1 most recently used: k2 goes first
    auto c = server.add(k3, 0);
    CHECK(c.entry->name == "pgsluice_3");
    CHECK(c.evicted == std::vector<std::string>{"pgsluice_2"});
    CHECK_FALSE(server.lookup(k2));
    CHECK(server.hits() == 1);
    CHECK(server.misses() == 1);
    CHECK(server.parses_sent() == 3);
    server.forget("pgsluice_1");
    CHECK_FALSE(server.lookup(k1));
    CHECK(server.add(k1, 0).entry->name == "pgsluice_4");
    server.clear();
    CHECK(server.size() == 0);
}

TEST_CASE("a lower capacity after a reload evicts down to it at the next add", "[prepared][tables]") {
    StatementKeyInterner keys;
    ServerStatements server(5);
    std::vector<StatementKeyRef> held;
    for (int i = 0; i < 5; ++i) {
        held.push_back(keys.intern("select " + std::to_string(i), {}));
        server.add(held.back(), 0);
    }
    server.set_capacity(2);
    held.push_back(keys.intern("select 5", {}));
    auto added = server.add(held.back(), 0);
    CHECK(added.evicted == std::vector<std::string>{"pgsluice_1", "pgsluice_2", "pgsluice_3", "pgsluice_4"});
    CHECK(server.size() == 2);
}

TEST_CASE("a pending statement is dropped when its only Parse is skipped, kept when another is in flight", "[prepared][tables]") {
    StatementKeyInterner keys;
    ServerStatements server(10);
    auto k = keys.intern("select 1", {});
    server.add(k, 0);
    CHECK_FALSE(server.lookup(k)->confirmed);
    server.resend(k, 1);  // a second Parse under the same name
    server.release("pgsluice_1");
    REQUIRE(server.lookup(k));
    server.confirm("pgsluice_1");
    CHECK(server.lookup(k)->confirmed);
    server.release("pgsluice_1");  // a confirmed statement stays
    CHECK(server.lookup(k));

    auto other = keys.intern("select 2", {});
    server.add(other, 2);
    server.release("pgsluice_2");
    CHECK_FALSE(server.lookup(other));
    server.confirm("pgsluice_2");  // an answer for a forgotten name changes nothing
    CHECK(server.size() == 1);
}

TEST_CASE("orphans: evicted statements whose Close was skipped", "[prepared][tables]") {
    ServerStatements server(1);
    server.add_orphan("pgsluice_7");
    CHECK(server.orphans() == 1);
    CHECK(server.take_orphans() == std::vector<std::string>{"pgsluice_7"});
    CHECK(server.orphans() == 0);
}
