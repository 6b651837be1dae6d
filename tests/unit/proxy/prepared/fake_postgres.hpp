// A PostgreSQL small enough to reason about, for the prepared-statement tests: it keeps
// named statements and portals per session, answers the extended-query messages the way
// the real one does (ParseComplete, BindComplete, ... ; after an error, nothing until Sync),
// and "runs" a statement by answering CommandComplete with the statement's query text as
// its tag, so a test sees which statement ran. A query text containing "fail" fails at
// Execute (22012); one containing "syntax" fails at Parse (42601).
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "protocol/deallocate_statement.hpp"
#include "protocol/error_response.hpp"
#include "protocol/extended_query.hpp"
#include "protocol/messages.hpp"
#include "protocol/result_set.hpp"

namespace pgsluice::test {

struct Message {
    char type = 0;
    std::string body;
};

inline protocol::Bytes bytes_of(const std::string& s) {
    return protocol::Bytes(reinterpret_cast<const std::uint8_t*>(s.data()), s.size());
}

// Splits a stream of whole typed messages.
inline std::vector<Message> split_messages(const std::string& stream) {
    std::vector<Message> messages;
    std::size_t at = 0;
    while (at + 5 <= stream.size()) {
        const auto length = protocol::read_u32(reinterpret_cast<const std::uint8_t*>(stream.data()) + at + 1);
        messages.push_back({stream[at], stream.substr(at + 5, length - 4)});
        at += 1 + length;
    }
    return messages;
}

inline std::string frame(const Message& message) {
    std::string out;
    protocol::MessageWriter(out).begin(message.type).raw(message.body).finish();
    return out;
}

// What a client sees, one word per message: "1", "2", "3", "t", "T", "n", "Z",
// "C:<tag>", "E:<sqlstate>".
inline std::vector<std::string> client_view(const std::string& stream) {
    std::vector<std::string> view;
    for (const auto& message : split_messages(stream)) {
        if (message.type == 'C') {
            view.push_back("C:" + std::string(*protocol::parse_command_tag(bytes_of(message.body))));
        } else if (message.type == 'E') {
            view.push_back("E:" + protocol::parse_error_response(bytes_of(message.body))->sqlstate);
        } else {
            view.push_back(std::string(1, message.type));
        }
    }
    return view;
}

class FakePostgres {
public:
    // Feeds client messages (a stream of whole messages); returns the answers, each framed.
    std::vector<std::string> receive(const std::string& stream) {
        std::vector<std::string> out;
        for (const auto& message : split_messages(stream)) answer(message, out);
        return out;
    }
    const std::map<std::string, std::string>& statements() const { return statements_; }
    std::vector<std::string> parsed;  // names of every Parse it carried out
    std::vector<std::string> broken;  // query texts whose Parse fails with 42P01 (a dropped table)

private:
    void fail(std::vector<std::string>& out, const char* sqlstate, bool extended = true) {
        std::string error;
        protocol::append_error_response(error, {"ERROR", sqlstate, "fake failure", {}, {}});
        out.push_back(error);
        skipping_ = extended;
    }
    void reply(std::vector<std::string>& out, char type, std::string body = {}) { out.push_back(frame({type, body})); }

    void answer(const Message& message, std::vector<std::string>& out) {
        const auto body = bytes_of(message.body);
        if (skipping_ && message.type != 'S') return;
        switch (message.type) {
            case 'P': {
                auto parse = protocol::parse_parse(body);
                if (!parse->statement.empty() && statements_.count(std::string(parse->statement)))
                    return fail(out, "42P05");
                if (std::string(parse->query).find("syntax") != std::string::npos) return fail(out, "42601");
                for (const auto& text : broken)
                    if (parse->query == text) return fail(out, "42P01");
                statements_[std::string(parse->statement)] = std::string(parse->query);
                parsed.emplace_back(parse->statement);
                return reply(out, '1');
            }
            case 'B': {
                auto bind = protocol::parse_bind(body);
                auto it = statements_.find(std::string(bind->statement));
                if (it == statements_.end()) return fail(out, "26000");
                portals_[std::string(bind->portal)] = it->second;
                return reply(out, '2');
            }
            case 'D': {
                auto target = protocol::parse_describe(body);
                if (target->is_statement()) {
                    if (!statements_.count(std::string(target->name))) return fail(out, "26000");
                    reply(out, 't', std::string("\0\0", 2));
                } else if (!portals_.count(std::string(target->name))) {
                    return fail(out, "34000");
                }
                return reply(out, 'n');
            }
            case 'E': {
                auto execute = protocol::parse_execute(body);
                auto it = portals_.find(std::string(execute->portal));
                if (it == portals_.end()) return fail(out, "34000");
                if (it->second.find("fail") != std::string::npos) return fail(out, "22012");
                std::string tag;
                protocol::append_command_complete(tag, it->second);
                out.push_back(tag);
                return;
            }
            case 'C': {
                auto target = protocol::parse_close(body);
                (target->is_statement() ? statements_ : portals_).erase(std::string(target->name));
                return reply(out, '3');
            }
            case 'S':
                skipping_ = false;
                portals_.clear();
                return reply(out, 'Z', "I");
            case 'Q': {
                std::string text(*protocol::parse_query_text(body));
                std::string tag = "SELECT";
                if (auto statement = protocol::parse_deallocate_statement(text)) {
                    using Kind = protocol::DeallocateStatement::Kind;
                    if (statement->kind == Kind::deallocate) {
                        if (!statements_.erase(statement->name)) {
                            fail(out, "26000", false);
                            return reply(out, 'Z', "I");
                        }
                        tag = "DEALLOCATE";
                    } else {
                        for (auto it = statements_.begin(); it != statements_.end();)
                            it = it->first.empty() ? std::next(it) : statements_.erase(it);
                        tag = statement->kind == Kind::discard_all ? "DISCARD ALL" : "DEALLOCATE ALL";
                    }
                }
                std::string complete;
                protocol::append_command_complete(complete, tag);
                out.push_back(complete);
                return reply(out, 'Z', "I");
            }
            default: return;
        }
    }

    std::map<std::string, std::string> statements_;
    std::map<std::string, std::string> portals_;
    bool skipping_ = false;
};

// Client messages, built with protocol's encoders.
namespace client {
inline std::string parse(std::string_view name, std::string_view query, std::vector<std::uint32_t> types = {}) {
    std::string out;
    protocol::append_parse(out, name, query, types);
    return out;
}
inline std::string bind(std::string_view statement, std::string_view portal = "") {
    std::string out;
    protocol::append_bind(out, protocol::Bind{portal, statement, std::string_view("\0\0\0\0\0\0", 6)}, statement);
    return out;
}
inline std::string describe(char kind, std::string_view name) {
    std::string out;
    protocol::append_describe(out, kind, name);
    return out;
}
inline std::string close(char kind, std::string_view name) {
    std::string out;
    protocol::append_close(out, kind, name);
    return out;
}
inline std::string execute(std::string_view portal = "") {
    std::string out;
    protocol::append_execute(out, portal, 0);
    return out;
}
inline std::string sync() {
    std::string out;
    protocol::append_sync(out);
    return out;
}
inline std::string query(std::string_view sql) {
    std::string out;
    protocol::append_query(out, sql);
    return out;
}
// Parse (if `text` is given), Bind, Execute of one statement: what a driver sends per use.
inline std::string run(std::string_view name) { return bind(name) + execute(); }
}  // namespace client

}  // namespace pgsluice::test
