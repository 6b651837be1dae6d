// The registry of live sessions: what SHOW CLIENTS sees, and KILL reaching a session's socket
// on its own executor (an idle client is told why before the close).
#include <catch2/catch.hpp>

#include "protocol/error_response.hpp"
#include "proxy/session/client_registry.hpp"

using namespace pgsluice::proxy;

namespace {
// One end of a socket pair as the proxy's Transport; the other end plays the client.
Socket proxy_end(asio::io_context& io, asio::local::stream_protocol::socket& client_side) {
    asio::local::stream_protocol::socket a(io);
    asio::local::connect_pair(a, client_side);
    Socket socket(io.get_executor());
    socket.assign(asio::generic::stream_protocol(AF_UNIX, 0), a.release());
    return socket;
}
struct Pair {
    asio::io_context& io;
    asio::local::stream_protocol::socket client_side;
    Transport proxy_side;
    explicit Pair(asio::io_context& context) : io(context), client_side(context), proxy_side(proxy_end(io, client_side)) {}
    // An entry as a session fills it in at login.
    std::shared_ptr<ClientEntry> entry(std::uint64_t id, std::string database, std::string peer,
                                       std::string application_name = "") {
        auto e = std::make_shared<ClientEntry>(id, std::move(peer), proxy_side, io.get_executor());
        e->names = std::make_shared<ClientNames>(ClientNames{"app", std::move(database), std::move(application_name)});
        return e;
    }
    std::string read_all() {
        std::string out;
        char buffer[512];
        boost::system::error_code ec;
        while (!ec) {
            auto n = client_side.read_some(asio::buffer(buffer), ec);
            out.append(buffer, n);
        }
        return out;
    }
};
}  // namespace

TEST_CASE("the client registry lists sessions with their state and forgets them", "[unit][admin]") {
    asio::io_context io;
    Pair pair(io);
    ClientRegistry registry;
    auto entry = pair.entry(7, "app", "127.0.0.1:5555", "psql");
    registry.add(*entry);
    const auto before = WallClock::now();
    entry->set_state(ClientState::active, 42);
    auto list = registry.list();
    const auto after = WallClock::now();
    REQUIRE(list.size() == 1);
    // Kept in steady-clock time, shown in wall time: when the state changed, to the µs.
    CHECK(list[0].state_since >= before - std::chrono::microseconds(1));
    CHECK(list[0].state_since <= after + std::chrono::microseconds(1));
    CHECK(list[0].id == 7);
    CHECK(list[0].addr == "127.0.0.1");
    CHECK(list[0].port == 5555);
    CHECK(list[0].state == ClientState::active);
    CHECK(list[0].server_id == 42);
    CHECK(list[0].application_name == "psql");
    registry.remove(*entry);
    CHECK(registry.list().empty());
    CHECK(registry.size() == 0);
}

TEST_CASE("KILL closes the sessions of one database and tells an idle client why", "[unit][admin]") {
    asio::io_context io;
    Pair victim(io), bystander(io);
    ClientRegistry registry;
    auto killed = victim.entry(1, "app", "unix");
    auto spared = bystander.entry(2, "other", "unix");
    registry.add(*killed);
    registry.add(*spared);
    CHECK(registry.kill("app") == 1);
    io.run();
    CHECK(!victim.proxy_side.is_open());
    CHECK(bystander.proxy_side.is_open());
    const auto said = victim.read_all();
    REQUIRE(said.size() > 5);
    CHECK(said[0] == 'E');
    auto fields = pgsluice::protocol::parse_error_response(
        {reinterpret_cast<const std::uint8_t*>(said.data()) + 5, said.size() - 5});
    REQUIRE(fields);
    CHECK(fields->sqlstate == "57P01");
    CHECK(fields->message.find("KILL app") != std::string::npos);
}

TEST_CASE("KILL after a session cleared its transport does nothing", "[unit][admin]") {
    asio::io_context io;
    Pair pair(io);
    ClientRegistry registry;
    auto entry = pair.entry(3, "app", "unix");
    registry.add(*entry);
    CHECK(registry.kill("app") == 1);
    entry->transport = nullptr;  // the session ended before the posted close ran
    io.run();
    CHECK(pair.proxy_side.is_open());
}

TEST_CASE("KILL after a session was destroyed does nothing", "[unit][admin]") {
    asio::io_context io;
    Pair pair(io);
    ClientRegistry registry;
    auto entry = pair.entry(4, "app", "unix");
    registry.add(*entry);
    CHECK(registry.kill("app") == 1);
    registry.remove(*entry);
    entry.reset();  // the posted close holds only a weak pointer
    io.run();
    CHECK(pair.proxy_side.is_open());
    CHECK(registry.size() == 0);
}
