// A small tokenizer for the few shapes of SET and RESET a client uses to change its session.
// Strict on purpose: what it accepts is re-sent as written (`value_sql`) on every server
// the client takes, so a value is only literals, numbers and words between commas.
#include "protocol/set_statement.hpp"

#include <cctype>

namespace pgsluice::protocol {

namespace {

bool is_word_start(char c) { return std::isalpha(static_cast<unsigned char>(c)) || c == '_'; }
bool is_word_char(char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '$';
}
bool iequal(std::string_view a, std::string_view b) {
    if (a.size() != b.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i)
        if (std::tolower(static_cast<unsigned char>(a[i])) != std::tolower(static_cast<unsigned char>(b[i])))
            return false;
    return true;
}

class Lexer {
public:
    explicit Lexer(std::string_view text) : text_(text) {}

    void skip_space() {
        while (pos_ < text_.size() && std::isspace(static_cast<unsigned char>(text_[pos_]))) ++pos_;
    }
    bool at_end() {
        skip_space();
        return pos_ == text_.size();
    }
    std::size_t position() const { return pos_; }
    std::string_view slice(std::size_t from, std::size_t to) const { return text_.substr(from, to - from); }

    // A bare word (keyword or identifier), or nothing.
    std::optional<std::string_view> word() {
        skip_space();
        if (pos_ >= text_.size() || !is_word_start(text_[pos_])) return std::nullopt;
        const auto start = pos_;
        while (pos_ < text_.size() && is_word_char(text_[pos_])) ++pos_;
        return text_.substr(start, pos_ - start);
    }
    bool keyword(std::string_view expected) {
        const auto saved = pos_;
        if (auto w = word(); w && iequal(*w, expected)) return true;
        pos_ = saved;
        return false;
    }
    bool symbol(char c) {
        skip_space();
        if (pos_ < text_.size() && text_[pos_] == c) {
            ++pos_;
            return true;
        }
        return false;
    }
    // A setting's name: words joined by dots ("app.tenant"), or a quoted identifier.
    std::optional<std::string> name() {
        skip_space();
        std::string out;
        while (true) {
            if (pos_ < text_.size() && text_[pos_] == '"') {
                auto quoted = quoted_identifier();
                if (!quoted) return std::nullopt;
                out += *quoted;
            } else if (auto w = word()) {
                for (char c : *w) out.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
            } else {
                return std::nullopt;
            }
            if (pos_ < text_.size() && text_[pos_] == '.') {
                ++pos_;
                out.push_back('.');
                continue;
            }
            return out;
        }
    }
    // One value: 'literal' ('' inside), "identifier", a number, or a word. True when read.
    bool value() {
        skip_space();
        if (pos_ >= text_.size()) return false;
        const char c = text_[pos_];
        if (c == '\'') return literal();
        if (c == '"') return quoted_identifier().has_value();
        if (c == '-' || c == '+' || c == '.' || std::isdigit(static_cast<unsigned char>(c))) return number();
        return word().has_value();
    }

private:
    bool literal() {
        ++pos_;  // the opening quote
        while (pos_ < text_.size()) {
            const char c = text_[pos_++];
            if (c == '\\') return false;  // meaning depends on standard_conforming_strings: not ours to guess
            if (c == '\'') {
                if (pos_ < text_.size() && text_[pos_] == '\'') {
                    ++pos_;
                    continue;
                }
                return true;
            }
        }
        return false;
    }
    std::optional<std::string> quoted_identifier() {
        ++pos_;
        std::string out;
        while (pos_ < text_.size()) {
            const char c = text_[pos_++];
            if (c == '"') {
                if (pos_ < text_.size() && text_[pos_] == '"') {
                    ++pos_;
                    out.push_back('"');
                    continue;
                }
                return out.empty() ? std::nullopt : std::optional<std::string>(out);
            }
            out.push_back(c);
        }
        return std::nullopt;
    }
    bool number() {
        if (text_[pos_] == '-' || text_[pos_] == '+') ++pos_;
        bool digits = false;
        while (pos_ < text_.size()) {
            const char c = text_[pos_];
            if (std::isdigit(static_cast<unsigned char>(c))) {
                digits = true;
            } else if (c != '.' && c != 'e' && c != 'E') {
                break;
            }
            ++pos_;
        }
        return digits && (pos_ == text_.size() || !is_word_char(text_[pos_]));
    }

    std::string_view text_;
    std::size_t pos_ = 0;
};

// The end of the statement: an optional semicolon, then nothing.
bool finished(Lexer& lexer) {
    lexer.symbol(';');
    return lexer.at_end();
}

}  // namespace

std::optional<SetStatement> parse_set_statement(std::string_view text) {
    // Cheap rejection first: this runs on every short Query a client sends.
    std::size_t first = 0;
    while (first < text.size() && std::isspace(static_cast<unsigned char>(text[first]))) ++first;
    if (first + 3 > text.size()) return std::nullopt;
    const char c0 = static_cast<char>(std::tolower(static_cast<unsigned char>(text[first])));
    if (c0 != 's' && c0 != 'r') return std::nullopt;
    if (c0 == 's' && std::tolower(static_cast<unsigned char>(text[first + 2])) != 't') return std::nullopt;

    Lexer lexer(text);
    SetStatement statement;
    if (lexer.keyword("reset")) {
        if (lexer.keyword("all")) {
            statement.kind = SetStatement::Kind::reset_all;
            return finished(lexer) ? std::optional(statement) : std::nullopt;
        }
        auto name = lexer.name();
        if (!name || *name == "session" || *name == "time" || *name == "role") return std::nullopt;
        statement.kind = SetStatement::Kind::reset;
        statement.name = std::move(*name);
        return finished(lexer) ? std::optional(statement) : std::nullopt;
    }
    if (!lexer.keyword("set")) return std::nullopt;
    if (lexer.keyword("local") || lexer.keyword("transaction")) {
        // Whatever follows, it ends with the transaction (PostgreSQL checks the rest).
        statement.kind = SetStatement::Kind::transaction;
        return statement;
    }
    lexer.keyword("session");
    auto name = lexer.name();
    // The special forms (SET TIME ZONE, SET ROLE, SET SESSION AUTHORIZATION, SET SCHEMA,
    // SET NAMES, SET CONSTRAINTS, ...) are left to the command tags.
    static constexpr std::string_view kSpecial[] = {"time", "role", "authorization", "characteristics", "schema",
                                                    "names", "constraints", "xml", "seed", "session"};
    if (!name) return std::nullopt;
    for (auto special : kSpecial)
        if (*name == special) return std::nullopt;
    if (!lexer.keyword("to") && !lexer.symbol('=')) return std::nullopt;
    const auto value_start = (lexer.skip_space(), lexer.position());
    if (lexer.keyword("default")) {
        if (!finished(lexer)) return std::nullopt;
        statement.kind = SetStatement::Kind::reset;
        statement.name = std::move(*name);
        return statement;
    }
    std::size_t value_end = value_start;
    do {
        if (!lexer.value()) return std::nullopt;
        value_end = lexer.position();
    } while (lexer.symbol(','));
    if (!finished(lexer)) return std::nullopt;
    statement.kind = SetStatement::Kind::set;
    statement.name = std::move(*name);
    statement.value_sql = std::string(lexer.slice(value_start, value_end));
    return statement;
}

}  // namespace pgsluice::protocol
