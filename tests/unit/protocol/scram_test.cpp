// SCRAM-SHA-256 against RFC 7677's example exchange, both sides, and against bad input.
#include <catch2/catch.hpp>

#include <chrono>

#include "protocol/auth/scram.hpp"
#include "protocol/base64.hpp"

using namespace pgsluice::protocol;
using namespace pgsluice::protocol::scram;

namespace {
// RFC 7677 section 3: user "user", password "pencil".
const std::string kClientNonce = "rOprNGfwEbeRWgbNEkqO";
const std::string kServerNonce = "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0";
const std::string kClientFirst = "n,,n=user,r=rOprNGfwEbeRWgbNEkqO";
const std::string kServerFirst = "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096";
const std::string kClientFinal =
    "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=";
const std::string kServerFinal = "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=";

Verifier rfc_verifier() { return Verifier::from_password("pencil", *base64_decode("W22ZaJ0SNY7soEsUEjb6gQ=="), 4096); }
}  // namespace

TEST_CASE("SCRAM server reproduces RFC 7677's exchange byte for byte", "[protocol][scram]") {
    Server server(rfc_verifier(), kServerNonce);
    auto first = server.handle_client_first(kClientFirst);
    REQUIRE(first.ok);
    CHECK(first.message == kServerFirst);
    auto final_step = server.handle_client_final(kClientFinal);
    REQUIRE(final_step.ok);
    CHECK(final_step.message == kServerFinal);
    REQUIRE(server.client_key().has_value());
}

TEST_CASE("SCRAM client reproduces RFC 7677's exchange byte for byte", "[protocol][scram]") {
    auto client = Client::with_password("pencil", kClientNonce, "user");
    CHECK(client.client_first() == kClientFirst);
    auto final_step = client.handle_server_first(kServerFirst);
    REQUIRE(final_step.ok);
    CHECK(final_step.message == kClientFinal);
    CHECK(client.handle_server_final(kServerFinal).ok);
    CHECK_FALSE(client.handle_server_final("v=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=").ok);
    CHECK_FALSE(client.handle_server_final("e=invalid-proof").ok);
}

TEST_CASE("SCRAM client and server agree and the proven key allows pass-through login", "[protocol][scram]") {
    const auto verifier = Verifier::from_password("s3cret", "0123456789abcdef", 4096);
    Server server(verifier, random_nonce());
    auto client = Client::with_password("s3cret", random_nonce());
    auto server_first = server.handle_client_first(client.client_first());
    REQUIRE(server_first.ok);
    auto client_final = client.handle_server_first(server_first.message);
    REQUIRE(client_final.ok);
    auto server_final = server.handle_client_final(client_final.message);
    REQUIRE(server_final.ok);
    REQUIRE(client.handle_server_final(server_final.message).ok);

    // pgsluice, holding only the verifier, logs in to a server with the same verifier.
    Server postgres(verifier, random_nonce());
    auto pass_through = Client::with_keys(*server.client_key(), verifier.server_key, random_nonce());
    auto first = postgres.handle_client_first(pass_through.client_first());
    REQUIRE(first.ok);
    auto final_message = pass_through.handle_server_first(first.message);
    REQUIRE(final_message.ok);
    auto verdict = postgres.handle_client_final(final_message.message);
    REQUIRE(verdict.ok);
    CHECK(pass_through.handle_server_final(verdict.message).ok);
}

TEST_CASE("SCRAM server refuses a wrong password without revealing it", "[protocol][scram]") {
    Server server(Verifier::from_password("right", "saltsaltsaltsalt", 4096), random_nonce());
    auto client = Client::with_password("wrong", random_nonce());
    auto first = server.handle_client_first(client.client_first());
    REQUIRE(first.ok);
    auto result = server.handle_client_final(client.handle_server_first(first.message).message);
    CHECK_FALSE(result.ok);
    CHECK(result.error.find("wrong") == std::string::npos);
    CHECK_FALSE(server.client_key().has_value());
}

TEST_CASE("SCRAM server refuses malformed and truncated client messages", "[protocol][scram]") {
    SECTION("bad client-first") {
        const auto bad = GENERATE(as<std::string>{}, "", "n", "n,", "n,,", "p=tls-server-end-point,,n=,r=abc",
                                  "x,,n=,r=abc", "n,a=bob,n=,r=abc", "n,,r=abc", "n,,n=,r=", "n,,n=,r=a,b");
        Server server(rfc_verifier(), kServerNonce);
        CHECK_FALSE(server.handle_client_first(bad).ok);
    }
    SECTION("every truncation of a valid client-final") {
        const auto cut = GENERATE(range<std::size_t>(0, 105));
        Server server(rfc_verifier(), kServerNonce);
        REQUIRE(server.handle_client_first(kClientFirst).ok);
        CHECK_FALSE(server.handle_client_final(kClientFinal.substr(0, cut)).ok);
    }
    SECTION("tampered nonce and channel binding") {
        // Characters replaced in place: GCC 12 at -O2 misreads string::replace with a
        // literal as an overlapping memcpy (-Wrestrict, GCC bug 105329).
        std::string bad_nonce(kClientFinal), bad_binding(kClientFinal);
        bad_nonce[9] = 'X';
        bad_binding[2] = 'e', bad_binding[3] = 'S', bad_binding[4] = 'w', bad_binding[5] = 's';
        for (const std::string& tampered : {bad_nonce, bad_binding}) {
            Server server(rfc_verifier(), kServerNonce);
            REQUIRE(server.handle_client_first(kClientFirst).ok);
            CHECK_FALSE(server.handle_client_final(tampered).ok);
        }
    }
    SECTION("a second client-first") {
        Server server(rfc_verifier(), kServerNonce);
        REQUIRE(server.handle_client_first(kClientFirst).ok);
        CHECK_FALSE(server.handle_client_first(kClientFirst).ok);
    }
}

TEST_CASE("SCRAM client refuses a server that does not extend its nonce or sends bad numbers", "[protocol][scram]") {
    const auto bad = GENERATE(as<std::string>{}, "", "r=other,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096",
                              "r=rOprNGfwEbeRWgbNEkqO,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096",
                              "r=rOprNGfwEbeRWgbNEkqOxx,s=!!!,i=4096", "r=rOprNGfwEbeRWgbNEkqOxx,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=0",
                              "r=rOprNGfwEbeRWgbNEkqOxx,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=99999999999");
    auto client = Client::with_password("pencil", kClientNonce);
    CHECK_FALSE(client.handle_server_first(bad).ok);
}

TEST_CASE("SCRAM client refuses an absurd iteration count at once, without deriving the key", "[protocol][scram]") {
    // 10,000,000 rounds of PBKDF2 would stall a worker for seconds; the cap answers at once.
    auto client = Client::with_password("pencil", kClientNonce);
    const auto started = std::chrono::steady_clock::now();
    auto step = client.handle_server_first("r=rOprNGfwEbeRWgbNEkqOxx,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=10000000");
    CHECK_FALSE(step.ok);
    CHECK(step.error.find("10000000 SCRAM iterations") != std::string::npos);
    CHECK(std::chrono::steady_clock::now() - started < std::chrono::milliseconds(50));
    auto at_cap = Client::with_password("pencil", kClientNonce);
    CHECK(at_cap.handle_server_first("r=rOprNGfwEbeRWgbNEkqOxx,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=" +
                                     std::to_string(kMaxServerIterations))
              .ok);
}

TEST_CASE("SCRAM verifiers round trip and bad ones are refused", "[protocol][scram]") {
    const auto verifier = rfc_verifier();
    const auto text = verifier.to_string();
    CHECK(text.starts_with("SCRAM-SHA-256$4096:W22ZaJ0SNY7soEsUEjb6gQ==$"));
    auto parsed = Verifier::parse(text);
    REQUIRE(parsed);
    CHECK(parsed->stored_key == verifier.stored_key);
    CHECK(parsed->server_key == verifier.server_key);
    CHECK(parsed->to_string() == text);
    const auto bad = GENERATE(as<std::string>{}, "", "md5abc", "SCRAM-SHA-256$", "SCRAM-SHA-256$0:c2FsdA==$AAAA:AAAA",
                              "SCRAM-SHA-256$4096:c2FsdA==$AAAA:AAAA", "SCRAM-SHA-256$4096:!!$x:y", "SCRAM-SHA-256$4096:c2FsdA==");
    CHECK_FALSE(Verifier::parse(bad).has_value());
}

TEST_CASE("the iteration cap is a setting of the client", "[protocol][scram]") {
    auto client = Client::with_password("pencil", kClientNonce);
    client.set_max_iterations(5000);
    auto step = client.handle_server_first("r=rOprNGfwEbeRWgbNEkqOxx,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=5001");
    CHECK_FALSE(step.ok);
    CHECK(step.error == "server asks for 5001 SCRAM iterations, more than 5000 (server_scram_max_iterations)");
}

namespace {
const std::string kEndPoint(32, '\x42');  // what both ends hash from the server's certificate

// A full exchange; returns the server's verdict on the client-final-message.
Step plus_exchange(Server& server, Client& client) {
    auto first = server.handle_client_first(client.client_first());
    if (!first.ok) return first;
    auto client_final = client.handle_server_first(first.message);
    REQUIRE(client_final.ok);
    return server.handle_client_final(client_final.message);
}
}  // namespace

TEST_CASE("SCRAM-SHA-256-PLUS succeeds when both ends bind to the same certificate", "[protocol][scram]") {
    Server server(Verifier::from_password("pencil", "saltsalt", 4096), "servernonce");
    server.use_channel_binding(kEndPoint, true);
    auto client = Client::with_password("pencil", "clientnonce");
    client.use_channel_binding(kEndPoint);
    CHECK(client.client_first().starts_with("p=tls-server-end-point,,n="));
    auto verdict = plus_exchange(server, client);
    INFO(verdict.error);
    REQUIRE(verdict.ok);
    CHECK(client.handle_server_final(verdict.message).ok);
    CHECK(server.client_key());
}

TEST_CASE("SCRAM-SHA-256-PLUS fails when the client saw another certificate (a man in the middle)", "[protocol][scram]") {
    Server server(Verifier::from_password("pencil", "saltsalt", 4096), "servernonce");
    server.use_channel_binding(kEndPoint, true);
    auto client = Client::with_password("pencil", "clientnonce");
    client.use_channel_binding(std::string(32, '\x43'));
    auto verdict = plus_exchange(server, client);
    CHECK_FALSE(verdict.ok);
    CHECK(verdict.error == "SCRAM channel binding check failed");
    CHECK_FALSE(server.client_key());
}

TEST_CASE("SCRAM channel binding negotiation is checked as PostgreSQL checks it", "[protocol][scram]") {
    const auto verifier = Verifier::from_password("pencil", "saltsalt", 4096);
    SECTION("PLUS selected but no binding in the message") {
        Server server(verifier, "n");
        server.use_channel_binding(kEndPoint, true);
        auto step = server.handle_client_first("n,,n=,r=abc");
        CHECK_FALSE(step.ok);
        CHECK(step.error.find("SCRAM-SHA-256-PLUS, but the SCRAM message does not include channel binding") !=
              std::string::npos);
    }
    SECTION("plain SCRAM selected but binding data sent") {
        Server server(verifier, "n");
        server.use_channel_binding(kEndPoint, false);
        CHECK_FALSE(server.handle_client_first("p=tls-server-end-point,,n=,r=abc").ok);
        Server without_tls(verifier, "n");
        CHECK_FALSE(without_tls.handle_client_first("p=tls-server-end-point,,n=,r=abc").ok);
    }
    SECTION("y on a connection where PLUS was offered is a downgrade") {
        Server server(verifier, "n");
        server.use_channel_binding(kEndPoint, false);
        auto step = server.handle_client_first("y,,n=,r=abc");
        CHECK_FALSE(step.ok);
        CHECK(step.error.find("negotiation error") != std::string::npos);
    }
    SECTION("y without TLS is fine") {
        Server server(verifier, "n");
        CHECK(server.handle_client_first("y,,n=,r=abc").ok);
    }
    SECTION("another binding type") {
        Server server(verifier, "n");
        server.use_channel_binding(kEndPoint, true);
        CHECK(server.handle_client_first("p=tls-unique,,n=,r=abc").error == "unsupported SCRAM channel-binding type");
    }
    SECTION("plain SCRAM on TLS without binding still works") {
        Server server(verifier, "servernonce");
        server.use_channel_binding(kEndPoint, false);
        auto client = Client::with_password("pencil", "clientnonce");
        auto verdict = plus_exchange(server, client);
        INFO(verdict.error);
        CHECK(verdict.ok);
    }
}

TEST_CASE("a mock verifier is the same for the same user and differs between users", "[protocol][scram]") {
    const auto a = mock_verifier("process secret", "alice");
    const auto again = mock_verifier("process secret", "alice");
    const auto b = mock_verifier("process secret", "bob");
    const auto other_process = mock_verifier("another secret", "alice");
    CHECK(a.to_string() == again.to_string());
    CHECK(a.salt != b.salt);
    CHECK(a.salt != other_process.salt);
    CHECK(a.salt.size() == 16);
    CHECK(a.iterations == kDefaultIterations);
    // The challenge an unknown user gets is stable across attempts.
    Server first(a, "nonce1");
    Server second(again, "nonce2");
    auto one = first.handle_client_first("n,,n=,r=c");
    auto two = second.handle_client_first("n,,n=,r=c");
    CHECK(one.message.substr(one.message.find(",s=")) == two.message.substr(two.message.find(",s=")));
}
