// Building SSL_CTX objects, with errors that say which file and why.
#include "proxy/tls/tls_context.hpp"

#include <openssl/err.h>
#include <openssl/x509v3.h>

#include <cerrno>
#include <cstring>
#include <fstream>

#include "config/access_rules.hpp"
#include "protocol/auth/channel_binding.hpp"

namespace pgsluice::proxy::tls {

namespace {

SslContext new_context(const SSL_METHOD* method) {
    return SslContext(SSL_CTX_new(method), &SSL_CTX_free);
}

// "cannot read: No such file or directory" before OpenSSL's less helpful words for the same.
std::string unreadable(const std::string& path) {
    std::ifstream in(path);
    if (in) return {};
    return std::string("cannot read: ") + std::strerror(errno);
}

int version_of(unsigned protocol) {
    switch (protocol) {
        case config::tls_v1_0: return TLS1_VERSION;
        case config::tls_v1_1: return TLS1_1_VERSION;
        case config::tls_v1_2: return TLS1_2_VERSION;
        default: return TLS1_3_VERSION;
    }
}

// The lowest and highest versions listed, and every version between them not listed off.
std::string set_protocols(SSL_CTX* ctx, unsigned protocols) {
    unsigned lowest = 0, highest = 0;
    for (unsigned bit = config::tls_v1_0; bit <= config::tls_v1_3; bit <<= 1) {
        if (!(protocols & bit)) continue;
        if (!lowest) lowest = bit;
        highest = bit;
    }
    if (!lowest) return "client_tls_protocols lists no protocol";
    if (!SSL_CTX_set_min_proto_version(ctx, version_of(lowest)) || !SSL_CTX_set_max_proto_version(ctx, version_of(highest)))
        return "client_tls_protocols " + config::tls_protocols_string(protocols) +
               ": not supported by this OpenSSL: " + openssl_errors();
    const std::pair<unsigned, unsigned long> off[] = {
        {config::tls_v1_1, SSL_OP_NO_TLSv1_1}, {config::tls_v1_2, SSL_OP_NO_TLSv1_2}};
    for (const auto& [bit, option] : off)
        if (bit > lowest && bit < highest && !(protocols & bit)) SSL_CTX_set_options(ctx, option);
    return {};
}

// Certificate chain and key; `what` is the config key prefix ("client_tls" / "server_tls").
std::string load_certificate(SSL_CTX* ctx, const std::string& what, const std::string& cert_file,
                             const std::string& key_file) {
    if (auto why = unreadable(cert_file); !why.empty()) return what + "_cert_file " + cert_file + ": " + why;
    if (SSL_CTX_use_certificate_chain_file(ctx, cert_file.c_str()) != 1)
        return what + "_cert_file " + cert_file + ": cannot load certificate: " + openssl_errors();
    if (auto why = unreadable(key_file); !why.empty()) return what + "_key_file " + key_file + ": " + why;
    if (SSL_CTX_use_PrivateKey_file(ctx, key_file.c_str(), SSL_FILETYPE_PEM) != 1) {
        // OpenSSL compares the key with the certificate as it loads it.
        if (ERR_GET_REASON(ERR_peek_last_error()) == X509_R_KEY_VALUES_MISMATCH)
            return what + "_key_file " + key_file + " does not match " + what + "_cert_file " + cert_file + ": " +
                   openssl_errors();
        return what + "_key_file " + key_file + ": cannot load private key: " + openssl_errors();
    }
    if (SSL_CTX_check_private_key(ctx) != 1)
        return what + "_key_file " + key_file + " does not match " + what + "_cert_file " + cert_file + ": " +
               openssl_errors();
    return {};
}

std::string load_ca(SSL_CTX* ctx, const std::string& what, const std::string& ca_file) {
    if (auto why = unreadable(ca_file); !why.empty()) return what + "_ca_file " + ca_file + ": " + why;
    if (SSL_CTX_load_verify_locations(ctx, ca_file.c_str(), nullptr) != 1)
        return what + "_ca_file " + ca_file + ": cannot load CA certificates: " + openssl_errors();
    return {};
}

// Less memory per connection: buffers only while bytes are in flight, no session cache,
// no TLS 1.3 session tickets (libpq never resumes a session).
void lean(SSL_CTX* ctx) {
    SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
    SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET);
    SSL_CTX_set_num_tickets(ctx, 0);
}

}  // namespace

std::string openssl_errors() {
    std::string out;
    while (const unsigned long code = ERR_get_error()) {
        char text[256];
        ERR_error_string_n(code, text, sizeof text);
        out += (out.empty() ? "" : "; ") + std::string(text);
    }
    return out.empty() ? "unknown OpenSSL error" : out;
}

ClientFacingResult make_client_facing(const config::ClientTls& settings) {
    ERR_clear_error();
    ClientFacingResult result;
    auto ctx = new_context(TLS_server_method());
    if (!ctx) {
        result.error = "cannot create a TLS context: " + openssl_errors();
        return result;
    }
    lean(ctx.get());
    static const unsigned char kSessionContext[] = "pgsluice";
    SSL_CTX_set_session_id_context(ctx.get(), kSessionContext, sizeof kSessionContext - 1);
    if (result.error = set_protocols(ctx.get(), settings.protocols); !result.error.empty()) return result;
    if (settings.ciphers != "default" && SSL_CTX_set_cipher_list(ctx.get(), settings.ciphers.c_str()) != 1) {
        result.error = "client_tls_ciphers '" + settings.ciphers + "': no usable cipher: " + openssl_errors();
        return result;
    }
    if (result.error = load_certificate(ctx.get(), "client_tls", settings.cert_file, settings.key_file);
        !result.error.empty())
        return result;
    if (!settings.ca_file.empty()) {
        if (result.error = load_ca(ctx.get(), "client_tls", settings.ca_file); !result.error.empty()) return result;
        // Ask for a client certificate (for auth_type cert); require one when the mode says so.
        if (STACK_OF(X509_NAME)* names = SSL_load_client_CA_file(settings.ca_file.c_str()))
            SSL_CTX_set_client_CA_list(ctx.get(), names);
        const bool required = settings.sslmode == config::TlsMode::verify_ca ||
                              settings.sslmode == config::TlsMode::verify_full;
        SSL_CTX_set_verify(ctx.get(), SSL_VERIFY_PEER | (required ? SSL_VERIFY_FAIL_IF_NO_PEER_CERT : 0), nullptr);
    }
    X509* cert = SSL_CTX_get0_certificate(ctx.get());
    unsigned char* der = nullptr;
    const int length = cert ? i2d_X509(cert, &der) : -1;
    if (length <= 0) {
        result.error = "client_tls_cert_file " + settings.cert_file + ": cannot encode the certificate: " + openssl_errors();
        return result;
    }
    auto end_point = protocol::scram::tls_server_end_point(
        std::string_view(reinterpret_cast<const char*>(der), static_cast<std::size_t>(length)));
    OPENSSL_free(der);
    if (!end_point) {
        result.error = "client_tls_cert_file " + settings.cert_file + ": cannot hash the certificate";
        return result;
    }
    result.value = ClientFacing{std::move(ctx), std::move(*end_point)};
    return result;
}

ServerFacingResult make_server_facing(const config::ServerTls& settings, const std::string& where) {
    ERR_clear_error();
    ServerFacingResult result;
    auto ctx = new_context(TLS_client_method());
    if (!ctx) {
        result.error = "cannot create a TLS context: " + openssl_errors();
        return result;
    }
    lean(ctx.get());
    SSL_CTX_set_min_proto_version(ctx.get(), TLS1_2_VERSION);
    if (!settings.ca_file.empty()) {
        if (result.error = load_ca(ctx.get(), where, settings.ca_file); !result.error.empty()) return result;
    } else if (SSL_CTX_set_default_verify_paths(ctx.get()) != 1) {
        result.error = where + ": cannot load the system's CA certificates: " + openssl_errors();
        return result;
    }
    if (!settings.cert_file.empty()) {
        if (result.error = load_certificate(ctx.get(), where, settings.cert_file, settings.key_file);
            !result.error.empty())
            return result;
    }
    const bool verify = settings.sslmode == config::TlsMode::verify_ca || settings.sslmode == config::TlsMode::verify_full;
    SSL_CTX_set_verify(ctx.get(), verify ? SSL_VERIFY_PEER : SSL_VERIFY_NONE, nullptr);
    result.context = std::move(ctx);
    return result;
}

std::optional<std::string> verified_client_common_name(const SSL* ssl) {
    X509* cert = SSL_get0_peer_certificate(ssl);
    if (!cert || SSL_get_verify_result(ssl) != X509_V_OK) return std::nullopt;
    X509_NAME* subject = X509_get_subject_name(cert);
    const int index = subject ? X509_NAME_get_index_by_NID(subject, NID_commonName, -1) : -1;
    if (index < 0) return std::nullopt;
    const ASN1_STRING* data = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subject, index));
    unsigned char* utf8 = nullptr;
    const int length = ASN1_STRING_to_UTF8(&utf8, data);
    if (length < 0) return std::nullopt;
    std::string name(reinterpret_cast<const char*>(utf8), static_cast<std::size_t>(length));
    OPENSSL_free(utf8);
    // A NUL inside would let "alice\0.evil" pass as "alice" to a C string compare.
    if (name.find('\0') != std::string::npos) return std::nullopt;
    return name;
}

std::optional<std::string> presented_end_point(const SSL* ssl) {
    X509* cert = SSL_get_certificate(ssl);
    unsigned char* der = nullptr;
    const int length = cert ? i2d_X509(cert, &der) : -1;
    if (length <= 0) return std::nullopt;
    auto end_point = protocol::scram::tls_server_end_point(
        std::string_view(reinterpret_cast<const char*>(der), static_cast<std::size_t>(length)));
    OPENSSL_free(der);
    return end_point;
}

std::string prepare_server_connection(SSL* ssl, config::TlsMode mode, const std::string& host) {
    const bool is_ip = config::ClientAddress::parse(host).has_value();
    // SNI carries names only (RFC 6066), never an address.
    if (!is_ip && !host.starts_with('/') && SSL_set_tlsext_host_name(ssl, host.c_str()) != 1)
        return "cannot set the TLS server name " + host + ": " + openssl_errors();
    if (mode != config::TlsMode::verify_full) return {};
    if (host.starts_with('/')) return "server_tls_sslmode verify-full needs a host name, not a Unix socket (" + host + ")";
    if (is_ip) {
        if (X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), host.c_str()) != 1)
            return "cannot check the server certificate for address " + host + ": " + openssl_errors();
        return {};
    }
    SSL_set_hostflags(ssl, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
    if (SSL_set1_host(ssl, host.c_str()) != 1)
        return "cannot check the server certificate for host " + host + ": " + openssl_errors();
    return {};
}

}  // namespace pgsluice::proxy::tls
