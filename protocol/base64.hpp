// Standard base64 (RFC 4648, with padding), as SCRAM messages and verifiers use it.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace pgsluice::protocol {

std::string base64_encode(std::string_view raw);
// nullopt on any character outside the alphabet or a bad length/padding.
std::optional<std::string> base64_decode(std::string_view text);

}  // namespace pgsluice::protocol
