// tls-server-end-point from a certificate's DER bytes (libcrypto's X509 parser, no I/O).
#include "protocol/auth/channel_binding.hpp"

#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/x509.h>

#include <memory>

namespace pgsluice::protocol::scram {

std::optional<std::string> tls_server_end_point(std::string_view der) {
    const auto* cursor = reinterpret_cast<const unsigned char*>(der.data());
    std::unique_ptr<X509, decltype(&X509_free)> cert(d2i_X509(nullptr, &cursor, static_cast<long>(der.size())),
                                                     &X509_free);
    if (!cert || cursor != reinterpret_cast<const unsigned char*>(der.data()) + der.size()) return std::nullopt;
    int digest_nid = NID_undef;
    int key_nid = NID_undef;
    if (!OBJ_find_sigid_algs(X509_get_signature_nid(cert.get()), &digest_nid, &key_nid)) digest_nid = NID_undef;
    // RFC 5929: MD5 and SHA-1 are replaced by SHA-256.
    const EVP_MD* digest = nullptr;
    if (digest_nid != NID_undef && digest_nid != NID_md5 && digest_nid != NID_sha1)
        digest = EVP_get_digestbynid(digest_nid);
    if (!digest) digest = EVP_sha256();
    unsigned char out[EVP_MAX_MD_SIZE];
    unsigned int length = 0;
    if (!EVP_Digest(der.data(), der.size(), out, &length, digest, nullptr)) return std::nullopt;
    return std::string(reinterpret_cast<const char*>(out), length);
}

}  // namespace pgsluice::protocol::scram
