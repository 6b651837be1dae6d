// A tokenizer just large enough for DEALLOCATE and DISCARD ALL. Strict like set_statement:
// what it does not understand it leaves to the server.
#include "protocol/deallocate_statement.hpp"

#include <cctype>

namespace pgsluice::protocol {

namespace {

bool is_space(char c) { return std::isspace(static_cast<unsigned char>(c)) != 0; }
bool is_word_start(char c) { return std::isalpha(static_cast<unsigned char>(c)) || c == '_' || (c & 0x80); }
bool is_word_char(char c) { return is_word_start(c) || std::isdigit(static_cast<unsigned char>(c)) || c == '$'; }
char lower(char c) { return static_cast<char>(std::tolower(static_cast<unsigned char>(c))); }

class Tokens {
public:
    explicit Tokens(std::string_view text) : text_(text) {}

    // The next identifier, folded as PostgreSQL folds it; nullopt when there is none.
    // `quoted` says whether it was a "quoted" identifier (never a keyword then).
    std::optional<std::string> identifier(bool& quoted) {
        skip_space();
        quoted = false;
        if (pos_ >= text_.size()) return std::nullopt;
        if (text_[pos_] == '"') {
            quoted = true;
            std::string out;
            for (++pos_; pos_ < text_.size(); ++pos_) {
                if (text_[pos_] != '"') {
                    out.push_back(text_[pos_]);
                } else if (pos_ + 1 < text_.size() && text_[pos_ + 1] == '"') {
                    out.push_back('"');
                    ++pos_;
                } else {
                    ++pos_;
                    if (out.empty()) return std::nullopt;  // "" is not an identifier
                    return out;
                }
            }
            return std::nullopt;  // unterminated
        }
        if (!is_word_start(text_[pos_])) return std::nullopt;
        std::string out;
        while (pos_ < text_.size() && is_word_char(text_[pos_])) out.push_back(lower(text_[pos_++]));
        return out;
    }
    bool keyword(std::string_view expected) {
        const auto saved = pos_;
        bool quoted = false;
        if (auto word = identifier(quoted); word && !quoted && *word == expected) return true;
        pos_ = saved;
        return false;
    }
    // Only an optional semicolon and white space left.
    bool finished() {
        skip_space();
        if (pos_ < text_.size() && text_[pos_] == ';') ++pos_;
        skip_space();
        return pos_ == text_.size();
    }

private:
    void skip_space() {
        while (pos_ < text_.size() && is_space(text_[pos_])) ++pos_;
    }
    std::string_view text_;
    std::size_t pos_ = 0;
};

}  // namespace

std::optional<DeallocateStatement> parse_deallocate_statement(std::string_view text) {
    // Cheap rejection first: this runs on every short Query a client sends.
    std::size_t first = 0;
    while (first < text.size() && is_space(text[first])) ++first;
    if (first >= text.size() || (lower(text[first]) != 'd')) return std::nullopt;

    Tokens tokens(text);
    if (tokens.keyword("discard")) {
        if (tokens.keyword("all") && tokens.finished())
            return DeallocateStatement{DeallocateStatement::Kind::discard_all, {}};
        return std::nullopt;
    }
    if (!tokens.keyword("deallocate")) return std::nullopt;
    // `DEALLOCATE PREPARE x` and `DEALLOCATE prepare` (a statement named "prepare") are
    // both valid SQL: PREPARE is the optional keyword only when a name follows it.
    {
        Tokens lookahead = tokens;
        bool quoted = false;
        if (lookahead.keyword("prepare") && lookahead.identifier(quoted)) tokens.keyword("prepare");
    }
    if (tokens.keyword("all"))
        return tokens.finished() ? std::optional(DeallocateStatement{DeallocateStatement::Kind::deallocate_all, {}})
                                 : std::nullopt;
    bool quoted = false;
    auto name = tokens.identifier(quoted);
    if (!name || !tokens.finished()) return std::nullopt;
    return DeallocateStatement{DeallocateStatement::Kind::deallocate, std::move(*name)};
}

}  // namespace pgsluice::protocol
