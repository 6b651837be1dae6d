// Clients and servers wired through the prepared-statement tables as a forwarder would wire
// them, each client also talking to a PostgreSQL of its own (the reference): whatever
// pgsluice does, a client must see what it would have seen on a session of its own.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "fake_postgres.hpp"
#include "proxy/prepared/statement_router.hpp"

namespace pgsluice::test {

namespace prepared = proxy::prepared;

struct RigServer {
    explicit RigServer(std::size_t capacity) : statements(capacity) {}
    FakePostgres postgres;
    prepared::ServerStatements statements;
    prepared::ExpectedResponses expected;
};

struct RigClient {
    explicit RigClient(std::size_t limit = 1000) : statements(limit) {}
    prepared::ClientStatements statements;
    FakePostgres reference;
    std::string seen;            // through pgsluice
    std::string reference_seen;  // on a session of its own
};

class Rig {
public:
    prepared::StatementKeyInterner keys;

    // One batch of a client's messages over `server`. Pipelined: every message routed before
    // the server reads any (a driver's pipeline). Otherwise each message is answered before
    // the next is routed.
    void exchange(RigClient& client, RigServer& server, const std::string& batch, bool pipelined = true) {
        for (const auto& answer : client.reference.receive(batch)) client.reference_seen += answer;
        prepared::StatementTables tables{client.statements, server.statements, server.expected, keys};
        std::string to_server;
        for (const auto& message : split_messages(batch)) {
            const auto framed = frame(message);
            const auto inspect = prepared::router_inspects(message.type, static_cast<std::uint32_t>(framed.size() - 1));
            auto plan = prepared::route_client_message(tables, message.type, inspect ? bytes_of(message.body) : protocol::Bytes{},
                                                       framed.size());
            std::string bytes = plan.to_server;
            if (plan.forward_from != prepared::ClientPlan::kDrop) bytes += framed.substr(plan.forward_from);
            sent_to_server += bytes;
            client.seen += plan.to_client;
            if (pipelined) to_server += bytes;
            else deliver(client, server, bytes);
        }
        if (pipelined) deliver(client, server, to_server);
    }

    std::string sent_to_server;  // everything the servers were sent, all clients together

private:
    static void deliver(RigClient& client, RigServer& server, const std::string& bytes) {
        for (const auto& answer : server.postgres.receive(bytes)) {
            const auto message = split_messages(answer).front();
            const char status = message.type == 'Z' ? message.body[0] : 0;
            std::string_view tag;
            if (message.type == 'C') tag = *protocol::parse_command_tag(bytes_of(message.body));
            auto verdict = server.expected.on_server_message(message.type, server.statements, client.statements, status, tag);
            if (verdict.pass) client.seen += answer;
            client.seen += verdict.then;
        }
    }
};

}  // namespace pgsluice::test
