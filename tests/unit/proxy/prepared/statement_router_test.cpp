// Named prepared statements through pgsluice's tables, against a fake PostgreSQL: every
// client sees exactly what it would see on a session of its own, whatever server it lands
// on, while the servers hold each statement once under pgsluice's names.
#include <catch2/catch.hpp>

#include <random>
#include <set>

#include "prepared_rig.hpp"

using namespace pgsluice::test;
using Strings = std::vector<std::string>;

namespace {
std::size_t count(const std::string& haystack, const std::string& needle) {
    std::size_t n = 0;
    for (auto at = haystack.find(needle); at != std::string::npos; at = haystack.find(needle, at + 1)) ++n;
    return n;
}
// The types of the messages sent to servers, e.g. "PBES".
std::string types_sent(const std::string& stream) {
    std::string types;
    for (const auto& message : split_messages(stream)) types.push_back(message.type);
    return types;
}
}  // namespace

TEST_CASE("a named statement is renamed on the server and runs its own text", "[prepared]") {
    Rig rig;
    RigServer server(200);
    RigClient client;
    rig.exchange(client, server, client::parse("s1", "select 1") + client::run("s1") + client::sync());
    CHECK(client_view(client.seen) == Strings{"1", "2", "C:select 1", "Z"});
    CHECK(client.seen == client.reference_seen);
    CHECK(server.postgres.statements().count("pgsluice_1") == 1);
    CHECK(server.postgres.statements().count("s1") == 0);
    CHECK(server.expected.empty());
}

TEST_CASE("a Parse of a statement the server already has costs the server nothing", "[prepared]") {
    Rig rig;
    RigServer server(200);
    RigClient first, second;
    rig.exchange(first, server, client::parse("a", "select 1") + client::sync());
    rig.sent_to_server.clear();
    // Another client, another name, the same text: answered by pgsluice, in order.
    rig.exchange(second, server, client::run("") .substr(0, 0) + client::parse("b", "select 1") + client::run("b") + client::sync());
    CHECK(client_view(second.seen) == Strings{"1", "2", "C:select 1", "Z"});
    CHECK(second.seen == second.reference_seen);
    CHECK(types_sent(rig.sent_to_server) == "BES");
    CHECK(server.postgres.parsed == Strings{"pgsluice_1"});
}

TEST_CASE("a local ParseComplete waits for the answers queued before it", "[prepared]") {
    Rig rig;
    RigServer server(200);
    RigClient client;
    rig.exchange(client, server, client::parse("a", "select 1") + client::parse("b", "select 2") + client::sync());
    RigClient other;
    rig.exchange(other, server,
                 client::parse("x", "select 1") + client::run("x") + client::parse("y", "select 2") + client::run("y") +
                     client::sync());
    CHECK(client_view(other.seen) == Strings{"1", "2", "C:select 1", "1", "2", "C:select 2", "Z"});
    CHECK(other.seen == other.reference_seen);
}

TEST_CASE("two clients, one name, different texts, one server: each runs its own", "[prepared]") {
    Rig rig;
    RigServer server(200);
    RigClient a, b;
    rig.exchange(a, server, client::parse("s1", "select 'a'") + client::sync());
    rig.exchange(b, server, client::parse("s1", "select 'b'") + client::sync());
    for (int i = 0; i < 20; ++i) {
        auto& client = i % 2 ? a : b;
        rig.exchange(client, server, client::run("s1") + client::sync(), i % 3 == 0);
    }
    CHECK(count(a.seen, "select 'a'") == 10);
    CHECK(count(a.seen, "select 'b'") == 0);
    CHECK(count(b.seen, "select 'b'") == 10);
    CHECK(a.seen == a.reference_seen);
    CHECK(b.seen == b.reference_seen);
    CHECK(server.statements.size() == 2);
}

TEST_CASE("a statement prepared on one server is prepared on the next before its Bind", "[prepared]") {
    Rig rig;
    RigServer first(200), second(200);
    RigClient client;
    rig.exchange(client, first, client::parse("s1", "select $1", {23}) + client::sync());
    rig.sent_to_server.clear();
    rig.exchange(client, second, client::describe('S', "s1") + client::run("s1") + client::sync());
    CHECK(client_view(client.seen) == Strings{"1", "Z", "t", "n", "2", "C:select $1", "Z"});
    CHECK(client.seen == client.reference_seen);
    CHECK(types_sent(rig.sent_to_server) == "PDBES");  // the swallowed Parse first
    CHECK(second.postgres.statements().at("pgsluice_1") == "select $1");
    // The next use on that server needs no Parse.
    rig.sent_to_server.clear();
    rig.exchange(client, second, client::run("s1") + client::sync());
    CHECK(types_sent(rig.sent_to_server) == "BES");
}

TEST_CASE("the same text with other parameter types is another statement", "[prepared]") {
    Rig rig;
    RigServer server(200);
    RigClient client;
    rig.exchange(client, server, client::parse("i", "select $1", {23}) + client::parse("t", "select $1", {25}) + client::sync());
    CHECK(server.postgres.parsed.size() == 2);
    CHECK(client.seen == client.reference_seen);
}

TEST_CASE("a pipeline with an error: statements before and after it, and the one it skipped", "[prepared]") {
    const bool pipelined = GENERATE(true, false);
    Rig rig;
    RigServer server(200);
    RigClient client;
    const std::string batch = client::parse("before", "select 'before'") + client::run("before") + client::sync() +
                              client::parse("", "select 1/0 -- fail") + client::run("") +  // fails at Execute
                              client::parse("skipped", "select 'skipped'") + client::sync() +
                              client::parse("after", "select 'after'") + client::sync();
    rig.exchange(client, server, batch, pipelined);
    rig.exchange(client, server, client::run("before") + client::run("after") + client::sync(), pipelined);
    rig.exchange(client, server, client::run("skipped") + client::sync(), pipelined);
    CHECK(client.seen == client.reference_seen);
    CHECK(client_view(client.seen) == Strings{"1", "2", "C:select 'before'", "Z",   // before
                                              "1", "2", "E:22012", "Z",             // the error skips the Parse
                                              "1", "Z",                             // after
                                              "2", "C:select 'before'", "2", "C:select 'after'", "Z",
                                              "E:26000", "Z"});                     // skipped was never prepared
    CHECK(client.statements.find("skipped") == nullptr);
    CHECK(server.statements.size() == 2);
    CHECK(server.expected.empty());
}

TEST_CASE("a Parse pgsluice injected and the server skipped is not counted as prepared", "[prepared]") {
    Rig rig;
    RigServer first(200), second(200);
    RigClient client;
    rig.exchange(client, first, client::parse("s", "select 's'") + client::sync());
    // On the second server an error comes first: the injected Parse is skipped with the Bind.
    rig.exchange(client, second,
                 client::parse("", "select 1 -- fail") + client::run("") + client::run("s") + client::sync());
    CHECK(second.statements.size() == 0);
    rig.exchange(client, second, client::run("s") + client::sync());
    CHECK(client.seen == client.reference_seen);
    CHECK(count(client.seen, "select 's'") == 1);
    CHECK(second.statements.size() == 1);
}

TEST_CASE("when the Parse pgsluice injects fails, the client gets that error at its Bind", "[prepared]") {
    Rig rig;
    RigServer first(200), second(200);
    RigClient client;
    rig.exchange(client, first, client::parse("s", "select * from t") + client::sync());
    second.postgres.broken.push_back("select * from t");  // t was dropped and not yet recreated
    rig.exchange(client, second, client::run("s") + client::sync());
    CHECK(client_view(client.seen) == Strings{"1", "Z", "E:42P01", "Z"});
    CHECK(second.statements.size() == 0);
    second.postgres.broken.clear();
    rig.exchange(client, second, client::run("s") + client::sync());
    CHECK(client_view(client.seen) == Strings{"1", "Z", "E:42P01", "Z", "2", "C:select * from t", "Z"});
    CHECK(second.statements.size() == 1);
}

TEST_CASE("a Parse that fails on the server leaves no statement behind", "[prepared]") {
    Rig rig;
    RigServer server(200);
    RigClient client;
    rig.exchange(client, server, client::parse("bad", "selec syntax") + client::run("bad") + client::sync());
    rig.exchange(client, server, client::run("bad") + client::sync());
    CHECK(client_view(client.seen) == Strings{"E:42601", "Z", "E:26000", "Z"});
    CHECK(client.seen == client.reference_seen);
    CHECK(client.statements.size() == 0);
    CHECK(server.statements.size() == 0);
}

TEST_CASE("eviction at max_prepared_statements 2 with five statements in rotation", "[prepared]") {
    Rig rig;
    RigServer server(2);
    RigClient client;
    std::string prepare;
    for (int i = 0; i < 5; ++i) prepare += client::parse("s" + std::to_string(i), "select " + std::to_string(i));
    rig.exchange(client, server, prepare + client::sync());
    for (int round = 0; round < 4; ++round)
        for (int i = 0; i < 5; ++i)
            rig.exchange(client, server, client::run("s" + std::to_string(i)) + client::sync(), round % 2 == 0);
    CHECK(client.seen == client.reference_seen);
    for (int i = 0; i < 5; ++i) CHECK(count(client.seen, "select " + std::to_string(i)) == 4);
    CHECK(server.statements.size() == 2);
    CHECK(server.postgres.statements().size() == 2);  // every eviction closed on the server
}

TEST_CASE("eviction within one pipeline keeps every message's statement", "[prepared]") {
    Rig rig;
    RigServer server(2);
    RigClient client;
    std::string batch;
    for (int i = 0; i < 5; ++i) batch += client::parse("s" + std::to_string(i), "select " + std::to_string(i));
    for (int i = 0; i < 5; ++i) batch += client::run("s" + std::to_string(i)) + client::run("s" + std::to_string(4 - i));
    rig.exchange(client, server, batch + client::sync());
    CHECK(client.seen == client.reference_seen);
    CHECK(server.postgres.statements().size() <= 2);
}

TEST_CASE("Close, DEALLOCATE, DEALLOCATE ALL and DISCARD ALL, then prepare again", "[prepared]") {
    Rig rig;
    RigServer server(200);
    RigClient client;
    rig.exchange(client, server, client::parse("a", "select 'a'") + client::parse("b", "select 'b'") + client::sync());
    rig.exchange(client, server, client::close('S', "a") + client::run("a") + client::sync());
    rig.exchange(client, server, client::close('S', "never") + client::sync());  // not an error
    rig.exchange(client, server, client::query("DEALLOCATE b"));
    rig.exchange(client, server, client::query("deallocate b"));  // no longer there: the server says 26000
    rig.exchange(client, server, client::parse("a", "select 'a2'") + client::parse("b", "select 'b2'") + client::sync());
    rig.exchange(client, server, client::query("DEALLOCATE ALL"));
    rig.exchange(client, server, client::run("a") + client::sync());
    rig.exchange(client, server, client::parse("a", "select 'a3'") + client::sync());
    rig.exchange(client, server, client::query("DISCARD ALL"));
    rig.exchange(client, server, client::run("a") + client::sync());
    rig.exchange(client, server, client::parse("a", "select 'a4'") + client::run("a") + client::sync());
    CHECK(client.seen == client.reference_seen);
    CHECK(client_view(client.seen) ==
          Strings{"1", "1", "Z",  "3", "E:26000", "Z",  "3", "Z",  "C:DEALLOCATE", "Z",  "E:26000", "Z",
                  "1", "1", "Z",  "C:DEALLOCATE ALL", "Z",  "E:26000", "Z",  "1", "Z",  "C:DISCARD ALL", "Z",
                  "E:26000", "Z",  "1", "2", "C:select 'a4'", "Z"});
    CHECK(server.statements.size() == 1);  // DISCARD ALL emptied it; 'a4' since
}

TEST_CASE("a second Parse of a name is 42P05 and skips to Sync, as on PostgreSQL", "[prepared]") {
    Rig rig;
    RigServer server(200);
    RigClient client;
    rig.exchange(client, server,
                 client::parse("s", "select 1") + client::parse("s", "select 2") + client::run("s") + client::sync() +
                     client::run("s") + client::sync());
    CHECK(client_view(client.seen) == Strings{"1", "E:42P05", "Z", "2", "C:select 1", "Z"});
    CHECK(client.seen.find("already exists") != std::string::npos);
    CHECK(client_view(client.seen) == client_view(client.reference_seen));
}

TEST_CASE("a client over max_client_prepared_statements gets 54000 and goes on", "[prepared]") {
    Rig rig;
    RigServer server(200);
    RigClient client(2);
    rig.exchange(client, server,
                 client::parse("a", "select 1") + client::parse("b", "select 2") + client::sync() +
                     client::parse("c", "select 3") + client::run("a") + client::sync() + client::run("b") + client::sync());
    CHECK(client_view(client.seen) == Strings{"1", "1", "Z", "E:54000", "Z", "2", "C:select 2", "Z"});
    CHECK(client.statements.size() == 2);
    rig.exchange(client, server, client::close('S', "a") + client::parse("c", "select 3") + client::sync());
    CHECK(client.statements.size() == 2);
}

TEST_CASE("unnamed statements and portals pass through untouched", "[prepared]") {
    Rig rig;
    RigServer server(200);
    RigClient client;
    const std::string batch = client::parse("", "select 1") + client::bind("", "portal") + client::describe('P', "portal") +
                              client::execute("portal") + client::close('P', "portal") + client::sync();
    rig.exchange(client, server, batch);
    CHECK(rig.sent_to_server == batch);
    CHECK(client.seen == client.reference_seen);
    CHECK(server.statements.size() == 0);
}

TEST_CASE("a Bind's parameters reach the server byte for byte under the new name", "[prepared]") {
    Rig rig;
    RigServer server(200);
    RigClient client;
    rig.exchange(client, server, client::parse("s", "select $1") + client::sync());
    rig.sent_to_server.clear();
    const std::string rest("\0\x01\0\x01\0\x01\0\0\0\x05" "hello\0\x01\0\x01", 19);
    std::string bind;
    pgsluice::protocol::append_bind(bind, {"", "s", rest}, "s");
    rig.exchange(client, server, bind + client::execute() + client::sync());
    std::string expected;
    pgsluice::protocol::append_bind(expected, {"", "s", rest}, "pgsluice_1");
    CHECK(rig.sent_to_server.substr(0, expected.size()) == expected);
}

// Many clients and two servers, random batches: every client must see, message for message,
// what a session of its own would have shown it. Lockstep batches (each message answered
// before the next is sent) may hold errors anywhere; pipelined ones hold none (see
// statement_router.hpp on a Parse skipped in one segment and used in a later one of the
// same pipeline).
TEST_CASE("random workloads: each client sees what its own session would show", "[prepared][random]") {
    const auto seed = GENERATE(range(1u, 61u));
    const bool pipelined = seed % 2 == 0;
    CAPTURE(seed, pipelined);
    std::mt19937 random(seed);
    auto pick = [&](int n) { return static_cast<int>(random() % static_cast<unsigned>(n)); };
    Rig rig;
    std::vector<std::unique_ptr<RigServer>> servers;
    for (int i = 0; i < 2; ++i) servers.push_back(std::make_unique<RigServer>(1 + pick(3)));
    std::vector<std::unique_ptr<RigClient>> clients;
    std::vector<std::set<std::string>> held(3);  // pipelined: the names each client holds
    for (int i = 0; i < 3; ++i) clients.push_back(std::make_unique<RigClient>());
    const std::vector<std::string> texts = pipelined
        ? std::vector<std::string>{"select 0", "select 1", "select 2", "select 3"}
        : std::vector<std::string>{"select 0", "select 1", "select 2 -- fail", "selec syntax", "select 3"};
    auto text = [&] { return texts[pick(static_cast<int>(texts.size()))]; };
    for (int step = 0; step < 60; ++step) {
        const int which = pick(3);
        auto& client = *clients[which];
        std::string batch;
        for (int segment = 1 + pick(3); segment > 0; --segment) {
            if (!pipelined && pick(8) == 0) {
                static const char* kQueries[] = {"DEALLOCATE n0", "DEALLOCATE ALL", "DISCARD ALL", "select 1"};
                batch += client::query(kQueries[pick(4)]);
                continue;
            }
            for (int op = 1 + pick(4); op > 0; --op) {
                const std::string name = "n" + std::to_string(pick(4));
                if (pipelined) {
                    switch (pick(4)) {
                        case 0:  // Close first, so the Parse cannot fail
                            batch += client::close('S', name) + client::parse(name, text());
                            held[which].insert(name);
                            break;
                        case 1:
                            batch += client::close('S', name);
                            held[which].erase(name);
                            break;
                        case 2: batch += client::parse("", text()) + client::run(""); break;
                        case 3:
                            if (held[which].count(name)) batch += client::run(name) + client::describe('S', name);
                            break;
                    }
                    continue;
                }
                switch (pick(5)) {
                    case 0: batch += client::parse(name, text()); break;
                    case 1: batch += client::run(name); break;
                    case 2: batch += client::describe('S', name); break;
                    case 3: batch += client::close('S', name); break;
                    case 4: batch += client::parse("", text()) + client::run(""); break;
                }
            }
            batch += client::sync();
        }
        rig.exchange(client, *servers[pick(2)], batch, pipelined);
        REQUIRE(client_view(client.seen) == client_view(client.reference_seen));
        for (const auto& server : servers) {
            CHECK(server->expected.empty());
            CHECK(server->statements.size() <= server->statements.capacity());
            // Every statement pgsluice counts on a server is there; the only others are the
            // evicted ones whose Close an error skipped, closed with the next request.
            std::size_t named = 0;
            for (const auto& [name, query] : server->postgres.statements()) named += name.rfind("pgsluice_", 0) == 0;
            CHECK(named == server->statements.size() + server->statements.orphans());
        }
    }
}

TEST_CASE("a local DEALLOCATE answers with the transaction status the server last reported", "[prepared]") {
    namespace prepared = pgsluice::proxy::prepared;
    prepared::StatementKeyInterner keys;
    prepared::ClientStatements client(10);
    prepared::ServerStatements server(10);
    prepared::ExpectedResponses expected;
    prepared::StatementTables tables{client, server, expected, keys};
    client.add("s", keys.intern("select 1", {}), true);
    auto route = [&](const std::string& message) {
        const auto body = message.substr(5);
        return prepared::route_client_message(tables, message[0], bytes_of(body), message.size());
    };
    // BEGIN went through: the server said 'T'.
    auto plan = route(client::query("begin"));
    CHECK(plan.forwards_unchanged());
    CHECK(expected.on_server_message('C', server, client, 0, "BEGIN").pass);
    CHECK(expected.on_server_message('Z', server, client, 'T').pass);
    plan = route(client::query("DEALLOCATE s"));
    CHECK(plan.forward_from == prepared::ClientPlan::kDrop);
    CHECK(client_view(plan.to_client) == Strings{"C:DEALLOCATE", "Z"});
    CHECK(plan.to_client.back() == 'T');
    CHECK(client.size() == 0);

    // In a failed transaction PostgreSQL refuses it (25P02): the server is asked.
    client.add("s", keys.intern("select 1", {}), true);
    expected.on_server_message('Z', server, client, 'E');
    plan = route(client::query("DEALLOCATE s"));
    CHECK(plan.forwards_unchanged());
    CHECK(plan.to_client.empty());
    CHECK(client.size() == 1);
}

TEST_CASE("notices and parameter changes pass while pgsluice's own answers are swallowed", "[prepared]") {
    namespace prepared = pgsluice::proxy::prepared;
    prepared::StatementKeyInterner keys;
    prepared::ClientStatements client(10);
    prepared::ServerStatements server(10);
    prepared::ExpectedResponses expected;
    prepared::StatementTables tables{client, server, expected, keys};
    client.add("s", keys.intern("select 1", {}), true);
    const auto bind = client::bind("s");
    auto plan = prepared::route_client_message(tables, 'B', bytes_of(bind.substr(5)), bind.size());
    CHECK(types_sent(plan.to_server).front() == 'P');  // the injected Parse
    CHECK(expected.on_server_message('N', server, client).pass);
    CHECK(expected.on_server_message('S', server, client).pass);
    CHECK_FALSE(expected.on_server_message('1', server, client).pass);  // ours
    CHECK(expected.on_server_message('2', server, client).pass);        // the client's
    CHECK(server.lookup(client.find("s")->key)->confirmed);
    CHECK(expected.empty());
}
