// A client's name -> statement table.
#include "proxy/prepared/client_statements.hpp"

namespace pgsluice::proxy::prepared {

ClientStatements::AddResult ClientStatements::add(std::string_view name, StatementKeyRef key, bool confirmed) {
    if (statements_.find(name) != statements_.end()) return AddResult::duplicate;
    if (statements_.size() >= limit_) return AddResult::over_limit;
    statements_.emplace(std::string(name), Statement{std::move(key), confirmed});
    return AddResult::added;
}

void ClientStatements::confirm(std::string_view name) {
    if (auto it = statements_.find(name); it != statements_.end()) it->second.confirmed = true;
}

const ClientStatements::Statement* ClientStatements::find(std::string_view name) const {
    auto it = statements_.find(name);
    return it == statements_.end() ? nullptr : &it->second;
}

StatementKeyRef ClientStatements::remove(std::string_view name) {
    auto it = statements_.find(name);
    if (it == statements_.end()) return nullptr;
    auto key = std::move(it->second.key);
    statements_.erase(it);
    return key;
}

}  // namespace pgsluice::proxy::prepared
