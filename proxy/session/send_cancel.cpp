#include "proxy/session/send_cancel.hpp"

#include <spdlog/spdlog.h>

#include "protocol/messages.hpp"
#include "protocol/startup.hpp"
#include "proxy/backend/server_connection.hpp"
#include "proxy/io/transport.hpp"
#include "proxy/io/message_io.hpp"

namespace pgsluice::proxy {

awaitable<void> send_cancel(Executor executor, CancelTarget target, std::string who) {
    try {
        auto cancel = [&]() -> awaitable<void> {
            ServerTarget address;
            address.host = target.host;
            address.port = target.port;
            Transport server(co_await open_socket(executor, address));
            co_await write_all(server, protocol::encode_cancel_request(target.server_key.process_id,
                                                                       target.server_key.secret_key));
        };
        co_await with_deadline(cancel(), std::chrono::seconds(5));
        spdlog::info("{}: cancel request sent to {}", who, target.host);
    } catch (const std::exception& e) {
        spdlog::warn("{}: could not send cancel request to {}: {}", who, target.host, e.what());
    }
}

}  // namespace pgsluice::proxy
