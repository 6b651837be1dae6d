// One config's TLS contexts; databases with the same server-side settings share a context.
#include "proxy/tls/tls_contexts.hpp"

namespace pgsluice::proxy::tls {

LoadedTlsContexts TlsContexts::load(const config::Config& config) {
    LoadedTlsContexts out;
    auto contexts = std::make_shared<TlsContexts>();
    if (config.client_tls.sslmode != config::TlsMode::disable) {
        auto built = make_client_facing(config.client_tls);
        if (built.value) contexts->client_facing_ = std::move(built.value);
        else out.errors.push_back(std::move(built.error));
    }
    std::vector<std::pair<config::ServerTls, SslContext>> built_for;  // a handful: a list will do
    for (const auto& [name, database] : config.databases) {
        const auto& settings = database.server_tls;
        if (settings.sslmode == config::TlsMode::disable) continue;
        SslContext context;
        bool tried = false;  // a failed context is reported once, not once per database
        for (const auto& [seen, ctx] : built_for)
            if (seen == settings) {
                context = ctx;
                tried = true;
            }
        if (tried && !context) continue;
        if (!context) {
            const bool own = !(settings == config.server_tls);
            auto built = make_server_facing(settings, own ? "databases." + name + ".server_tls" : "server_tls");
            built_for.emplace_back(settings, built.context);
            if (!built.context) {
                out.errors.push_back(std::move(built.error));
                continue;
            }
            context = built.context;
        }
        contexts->server_facing_.emplace(name, std::move(context));
    }
    if (out.errors.empty()) out.contexts = std::move(contexts);
    return out;
}

SslContext TlsContexts::server_facing(const std::string& database) const {
    auto it = server_facing_.find(database);
    return it == server_facing_.end() ? nullptr : it->second;
}

}  // namespace pgsluice::proxy::tls
