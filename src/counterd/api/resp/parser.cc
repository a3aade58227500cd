#include "counterd/api/resp/parser.h"

#include <algorithm>

#include "counterd/api/resp/error_replies.h"
#include "counterd/core/counter_math.h"

namespace counterd::api::resp {
namespace {

// Accounted per argument on top of its bytes, so a flood of empty arguments is bounded too.
constexpr size_t kArgOverhead = 32;
// Never reserve more than this ahead of the bytes actually arriving.
constexpr size_t kMaxReserve = 64 << 10;

bool IsHexDigit(char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return c - 'A' + 10;
}

// C isspace() in the "C" locale.
bool IsSpace(char c) { return c == ' ' || (c >= '\t' && c <= '\r'); }

}  // namespace

RequestParser::Result RequestParser::Fail(std::string_view message) {
  state_ = State::kError;
  error_ = std::string(message);
  line_.clear();
  args_.clear();
  return Result::kError;
}

RequestParser::Result RequestParser::Emit(std::vector<std::string>* args) {
  args->swap(args_);
  args_.clear();
  state_ = State::kStart;
  return Result::kCommand;
}

RequestParser::Result RequestParser::Parse(std::string_view* input,
                                           std::vector<std::string>* args) {
  while (true) {
    if (state_ == State::kError) return Result::kError;
    if (input->empty()) return Result::kNeedMore;
    switch (state_) {
      case State::kStart:
        line_.clear();
        if (input->front() == '*') {
          input->remove_prefix(1);
          state_ = State::kCountLine;
        } else {
          state_ = State::kInlineLine;
        }
        break;

      case State::kInlineLine: {
        const size_t nl = input->find('\n');
        const size_t take = nl == std::string_view::npos ? input->size() : nl;
        // The '\r' before '\n' is not content, so allow one byte for it.
        if (line_.size() + take > limits_.max_line_bytes + 1) return Fail(kErrTooBigInline);
        line_.append(input->data(), take);
        if (nl == std::string_view::npos) {
          input->remove_prefix(take);
          return Result::kNeedMore;
        }
        input->remove_prefix(take + 1);
        if (!line_.empty() && line_.back() == '\r') line_.pop_back();
        if (line_.size() > limits_.max_line_bytes) return Fail(kErrTooBigInline);
        args_.clear();
        if (!SplitInlineArgs(line_, &args_)) return Fail(kErrUnbalancedQuotes);
        if (args_.empty()) {
          state_ = State::kStart;  // an empty line is no command
          break;
        }
        return Emit(args);
      }

      case State::kCountLine:
      case State::kBulkLine: {
        const size_t cr = input->find('\r');
        const size_t take = cr == std::string_view::npos ? input->size() : cr;
        if (line_.size() + take > limits_.max_line_bytes) {
          return Fail(state_ == State::kCountLine ? kErrTooBigMbulkCount : kErrTooBigBulkCount);
        }
        line_.append(input->data(), take);
        if (cr == std::string_view::npos) {
          input->remove_prefix(take);
          return Result::kNeedMore;
        }
        input->remove_prefix(cr + 1);
        state_ = state_ == State::kCountLine ? State::kCountLineEnd : State::kBulkLineEnd;
        break;
      }

      case State::kCountLineEnd: {
        input->remove_prefix(1);  // the '\n' (unchecked, as Redis)
        int64_t count = 0;
        if (!core::ParseInt64Strict(line_, &count) ||
            (count > 0 && static_cast<uint64_t>(count) > limits_.max_args)) {
          return Fail(kErrInvalidMultibulkLength);
        }
        line_.clear();
        if (count <= 0) {
          state_ = State::kStart;  // "*0" / "*-1": no command
          break;
        }
        args_.clear();
        args_.reserve(std::min<size_t>(static_cast<size_t>(count), 64));
        args_left_ = count;
        request_bytes_ = 0;
        state_ = State::kBulkLine;
        break;
      }

      case State::kBulkLineEnd: {
        input->remove_prefix(1);  // the '\n'
        // An empty line means the '\r' itself stood where '$' belongs.
        const char first = line_.empty() ? '\r' : line_.front();
        if (first != '$') return Fail(ExpectedDollar(first));
        int64_t len = 0;
        if (!core::ParseInt64Strict(std::string_view(line_).substr(1), &len) || len < 0 ||
            static_cast<uint64_t>(len) > limits_.max_bulk_bytes) {
          return Fail(kErrInvalidBulkLength);
        }
        request_bytes_ += static_cast<size_t>(len) + kArgOverhead;
        if (request_bytes_ > limits_.max_request_bytes) return Fail(kErrRequestTooLarge);
        line_.clear();
        args_.emplace_back();
        args_.back().reserve(std::min(static_cast<size_t>(len), kMaxReserve));
        bulk_left_ = static_cast<size_t>(len) + 2;
        state_ = State::kBulkData;
        break;
      }

      case State::kBulkData: {
        const size_t take = std::min(input->size(), bulk_left_);
        const size_t data_left = bulk_left_ > 2 ? bulk_left_ - 2 : 0;
        args_.back().append(input->data(), std::min(take, data_left));
        input->remove_prefix(take);
        bulk_left_ -= take;
        if (bulk_left_ > 0) return Result::kNeedMore;
        if (--args_left_ > 0) {
          state_ = State::kBulkLine;
          break;
        }
        return Emit(args);
      }

      case State::kError:
        return Result::kError;
    }
  }
}

bool SplitInlineArgs(std::string_view line, std::vector<std::string>* args) {
  if (size_t nul = line.find('\0'); nul != std::string_view::npos) line = line.substr(0, nul);
  // at(i) reads past the end as NUL, like the C string the original walks.
  auto at = [&line](size_t i) { return i < line.size() ? line[i] : '\0'; };
  size_t p = 0;
  while (true) {
    while (p < line.size() && IsSpace(line[p])) ++p;
    if (p >= line.size()) return true;
    bool in_double = false, in_single = false, done = false;
    std::string current;
    while (!done) {
      const char c = at(p);
      if (in_double) {
        if (c == '\\' && at(p + 1) == 'x' && IsHexDigit(at(p + 2)) && IsHexDigit(at(p + 3))) {
          current += static_cast<char>(HexValue(at(p + 2)) * 16 + HexValue(at(p + 3)));
          p += 3;
        } else if (c == '\\' && at(p + 1) != '\0') {
          ++p;
          switch (at(p)) {
            case 'n':
              current += '\n';
              break;
            case 'r':
              current += '\r';
              break;
            case 't':
              current += '\t';
              break;
            case 'b':
              current += '\b';
              break;
            case 'a':
              current += '\a';
              break;
            default:
              current += at(p);
              break;
          }
        } else if (c == '"') {
          if (at(p + 1) != '\0' && !IsSpace(at(p + 1))) return false;
          done = true;
        } else if (c == '\0') {
          return false;  // unterminated quotes
        } else {
          current += c;
        }
      } else if (in_single) {
        if (c == '\\' && at(p + 1) == '\'') {
          ++p;
          current += '\'';
        } else if (c == '\'') {
          if (at(p + 1) != '\0' && !IsSpace(at(p + 1))) return false;
          done = true;
        } else if (c == '\0') {
          return false;
        } else {
          current += c;
        }
      } else {
        switch (c) {
          case ' ':
          case '\n':
          case '\r':
          case '\t':
          case '\0':
            done = true;
            break;
          case '"':
            in_double = true;
            break;
          case '\'':
            in_single = true;
            break;
          default:
            current += c;
            break;
        }
      }
      if (p < line.size()) ++p;
    }
    args->push_back(std::move(current));
  }
}

}  // namespace counterd::api::resp
