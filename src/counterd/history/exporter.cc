#include "counterd/history/exporter.h"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <ctime>
#include <set>

#include "absl/container/flat_hash_map.h"
#include "absl/container/inlined_vector.h"
#include "counterd/common/errors.h"
#include "counterd/common/string_map.h"
#include "counterd/core/key.h"
#include "counterd/core/ops.h"
#include "counterd/history/history_buffer.h"

namespace counterd::history {

namespace {

using StrHash = TransparentStringHash;
using StrEq = TransparentStringEq;

// DateTime is a UInt32 of unix seconds: the last minute it can hold.
constexpr int64_t kMaxDateTimeMinute = (int64_t{UINT32_MAX} / 60) * 60;

// A query_id names the node and the batch's LSN range; '/' cannot occur in a node id, so the
// prefix of one node never is the prefix of another's.
std::string QueryIdPrefix(std::string_view node) {
  return fmt::format("counterd-export/{}/", node);
}

std::string FormatMinute(int64_t minute) {
  const time_t t = static_cast<time_t>(minute);
  std::tm tm{};
  gmtime_r(&t, &tm);
  return fmt::format("{:04}-{:02}-{:02} {:02}:{:02}:{:02}", tm.tm_year + 1900, tm.tm_mon + 1,
                     tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

bool ValidNodeId(std::string_view id) {
  if (id.empty() || id.size() > 64) return false;
  return std::all_of(id.begin(), id.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.' || c == ':' ||
           c == '-';
  });
}

bool ValidDatabase(std::string_view db) {
  if (db.empty() || db.size() > 64 || std::isdigit(static_cast<unsigned char>(db[0]))) {
    return false;
  }
  return std::all_of(db.begin(), db.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '_';
  });
}

template <typename T>
absl::StatusOr<T> ParseNumber(std::string_view text, std::string_view what) {
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.remove_suffix(1);
  T value{};
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size()) {
    return Error(Err::kInternal, "",
                 fmt::format("ClickHouse answered \"{}\" for {}, not a number",
                             text.substr(0, std::min<size_t>(text.size(), 100)), what));
  }
  return value;
}

// The table's columns as "name type" lines, in order (Start() checks an existing table).
constexpr std::string_view kColumns[][2] = {
    {"key", "String"}, {"minute", "DateTime('UTC')"}, {"node", "String"},
    {"lsn", "UInt64"}, {"first_lsn", "UInt64"},       {"value", "Int64"},
};

}  // namespace

struct HistoryExporter::OpenBatch {
  absl::flat_hash_map<std::string, absl::InlinedVector<Point, 1>, StrHash, StrEq> sums;
  HistoryBuffer uniques;  // registers per (key, hour) and (key, day)
  size_t rows = 0;
  uint64_t last_lsn = 0;  // 0: nothing added
  int64_t last_minute = 0;
  int64_t oldest_us = 0;
  std::chrono::steady_clock::time_point since;
};

struct HistoryExporter::SealedBatch {
  uint64_t first_lsn = 0;
  uint64_t last_lsn = 0;
  size_t rows = 0;  // data rows (the marker row not counted)
  std::string body;
  // Unique registers rows: inserted before the data rows, once (a repeat is harmless: the
  // registers merge by maximum).
  size_t unique_rows = 0;
  std::string unique_body;
  bool uniques_sent = false;
  std::string query_id;
  int64_t oldest_us = 0;
  bool in_doubt = false;  // an attempt may have been applied: settle before sending again
};

absl::Status ValidateExporterOptions(const ExporterOptions& options) {
  if (!ValidNodeId(options.node_id)) {
    return Error(
        Err::kInvalidValue, "node_id",
        fmt::format("node id \"{}\" must be 1..64 bytes of [A-Za-z0-9_.:-]", options.node_id));
  }
  if (!ValidDatabase(options.database)) {
    return Error(Err::kInvalidValue, "database",
                 fmt::format("ClickHouse database \"{}\" must be 1..64 bytes of [A-Za-z0-9_] "
                             "and not start with a digit",
                             options.database));
  }
  if (options.batch_rows < 1 || options.batch_rows > kMaxBatchRows) {
    return Error(Err::kInvalidValue, "batch_rows",
                 fmt::format("batch rows must be 1..{}", kMaxBatchRows));
  }
  return absl::OkStatus();
}

std::string HistoryExporter::CreateUniqueTableSql(std::string_view database) {
  return fmt::format(
      "CREATE TABLE IF NOT EXISTS {}.{} (key String, step String, bucket DateTime('UTC'), "
      "node String, lsn UInt64, registers String) ENGINE = MergeTree() "
      "ORDER BY (key, step, bucket)",
      QuoteSqlIdentifier(database), kUniqueTable);
}

std::string HistoryExporter::CreateTableSql(std::string_view database) {
  std::string columns;
  for (const auto& [name, type] : kColumns) {
    columns += fmt::format("{}{} {}", columns.empty() ? "" : ", ", name, type);
  }
  return fmt::format(
      "CREATE TABLE IF NOT EXISTS {}.{} ({}) ENGINE = SummingMergeTree((value)) "
      "ORDER BY (key, minute, node, lsn)",
      QuoteSqlIdentifier(database), kHistoryTable, columns);
}

HistoryExporter::HistoryExporter(ClickHouseEndpoint endpoint, ExporterOptions options)
    : endpoint_(std::move(endpoint)),
      options_(std::move(options)),
      client_(std::make_unique<ClickHouseClient>(endpoint_, options_.client)),
      control_(std::make_unique<ClickHouseClient>(endpoint_, options_.client)),
      open_(std::make_unique<OpenBatch>()) {}

HistoryExporter::~HistoryExporter() = default;

std::string HistoryExporter::table() const {
  return fmt::format("{}.{}", QuoteSqlIdentifier(options_.database), kHistoryTable);
}

absl::Status HistoryExporter::Failed(absl::Status status) {
  std::lock_guard lock(stats_mu_);
  ++stats_.failures;
  stats_.last_error = status.ToString();
  return status;
}

void HistoryExporter::Exported(uint64_t through, size_t rows, bool inserted) {
  exported_through_.store(through);
  std::lock_guard lock(stats_mu_);
  stats_.exported_through = through;
  stats_.rows_exported += rows;
  if (inserted) ++stats_.inserts;
  stats_.last_error.clear();
  stats_.pending_rows = open_->rows + (sealed_ ? sealed_->rows : 0);
  stats_.oldest_pending_us = sealed_ ? sealed_->oldest_us : open_->oldest_us;
}

absl::StatusOr<uint64_t> HistoryExporter::ReadMarker() {
  absl::StatusOr<std::string> answer =
      control_->Query(fmt::format("SELECT max(lsn) FROM {} WHERE key = '' AND node = {}", table(),
                                  QuoteSqlString(options_.node_id)));
  if (!answer.ok()) return answer.status();
  return ParseNumber<uint64_t>(*answer, "the exported LSN");
}

absl::StatusOr<uint64_t> HistoryExporter::CountRunning(std::string_view query_id, bool exact) {
  const std::string where = exact ? fmt::format("query_id = {}", QuoteSqlString(query_id))
                                  : fmt::format("substring(query_id, 1, {}) = {}", query_id.size(),
                                                QuoteSqlString(query_id));
  absl::StatusOr<std::string> answer =
      control_->Query(fmt::format("SELECT count() FROM system.processes WHERE {}", where));
  if (!answer.ok()) return answer.status();
  return ParseNumber<uint64_t>(*answer, "running exports");
}

absl::StatusOr<uint64_t> HistoryExporter::Start() {
  if (absl::Status s = ValidateExporterOptions(options_); !s.ok()) return Failed(s);
  absl::StatusOr<std::string> r = client_->Query(
      fmt::format("CREATE DATABASE IF NOT EXISTS {}", QuoteSqlIdentifier(options_.database)));
  if (r.ok()) r = client_->Query(CreateTableSql(options_.database));
  if (r.ok()) r = client_->Query(CreateUniqueTableSql(options_.database));
  if (r.ok()) {
    r = client_->Query(
        fmt::format("SELECT name, type FROM system.columns WHERE database = {} AND table = {}",
                    QuoteSqlString(options_.database), QuoteSqlString(kHistoryTable)));
  }
  if (!r.ok()) return Failed(r.status());
  // TabSeparated escapes the quotes of DateTime('UTC'): compare without backslashes.
  std::string got = *r;
  got.erase(std::remove(got.begin(), got.end(), '\\'), got.end());
  std::set<std::string> have, want;
  for (size_t pos = 0; pos < got.size();) {
    size_t eol = got.find('\n', pos);
    if (eol == std::string::npos) eol = got.size();
    if (eol > pos) have.insert(got.substr(pos, eol - pos));
    pos = eol + 1;
  }
  for (const auto& [name, type] : kColumns) want.insert(fmt::format("{}\t{}", name, type));
  if (have != want) {
    return Failed(Error(Err::kInternal, "database",
                        fmt::format("{} exists with other columns than counterd's ({}); "
                                    "see docs/history.md",
                                    table(), fmt::join(have, ", "))));
  }
  // An INSERT sent by this node's previous process may still be running: its outcome must be
  // visible before the marker is read.
  absl::StatusOr<uint64_t> running = CountRunning(QueryIdPrefix(options_.node_id), false);
  if (!running.ok()) return Failed(running.status());
  if (*running > 0) {
    return Failed(Error(Err::kUnavailable, "",
                        "an export of this node from before the restart is still running in "
                        "ClickHouse; retry Start()"));
  }
  absl::StatusOr<uint64_t> marker = ReadMarker();
  if (!marker.ok()) return Failed(marker.status());

  started_ = true;
  added_through_ = *marker;
  marked_through_ = *marker;
  open_ = std::make_unique<OpenBatch>();
  sealed_.reset();
  exported_through_.store(*marker);
  std::lock_guard lock(stats_mu_);
  stats_.exported_through = *marker;
  stats_.added_through = *marker;
  stats_.pending_rows = 0;
  stats_.oldest_pending_us = 0;
  stats_.last_error.clear();
  return *marker;
}

absl::Status HistoryExporter::Add(uint64_t lsn, int64_t timestamp_us, std::string_view payload) {
  if (!started_) return Error(Err::kInternal, "", "HistoryExporter::Add before Start()");
  if (lsn <= added_through_) {
    std::lock_guard lock(stats_mu_);
    ++stats_.records_skipped;
    return absl::OkStatus();
  }
  absl::StatusOr<std::vector<core::Op>> ops = core::DecodeOps(payload);
  if (!ops.ok()) return ops.status();
  if (open_->rows + open_->uniques.unique_rows() >= options_.batch_rows) {
    if (sealed_) {
      return Error(Err::kUnavailable, "",
                   fmt::format("history export backlog full ({} rows wait for ClickHouse); "
                               "Flush() first",
                               open_->rows + sealed_->rows));
    }
    Seal();
  }
  const int64_t minute = std::clamp<int64_t>(MinuteOfMicros(timestamp_us), 0, kMaxDateTimeMinute);
  OpenBatch& open = *open_;
  open_->uniques.AddUniqueOps(timestamp_us, *ops);
  for (const core::Op& op : *ops) {
    if (op.type != core::OpType::kCounterAdd) continue;
    auto it = open.sums.find(op.key);
    if (it == open.sums.end()) it = open.sums.emplace(std::string(op.key), 0).first;
    auto& minutes = it->second;
    auto m = std::find_if(minutes.rbegin(), minutes.rend(),
                          [minute](const Point& p) { return p.t == minute; });
    if (m == minutes.rend()) {
      minutes.push_back({minute, op.delta});
      ++open.rows;
    } else {
      // Modulo 2^64, like ClickHouse's sum(): exact whenever the true total fits.
      m->value =
          static_cast<int64_t>(static_cast<uint64_t>(m->value) + static_cast<uint64_t>(op.delta));
    }
  }
  if (open.last_lsn == 0) {
    open.since = options_.clock();
    open.oldest_us = timestamp_us;
  }
  open.last_lsn = lsn;
  open.last_minute = minute;
  added_through_ = lsn;
  std::lock_guard lock(stats_mu_);
  stats_.added_through = lsn;
  stats_.pending_rows = open.rows + (sealed_ ? sealed_->rows : 0);
  stats_.oldest_pending_us = sealed_ ? sealed_->oldest_us : open.oldest_us;
  return absl::OkStatus();
}

bool HistoryExporter::ShouldFlush() const {
  if (!started_) return false;
  if (sealed_) return true;
  if (open_->last_lsn == 0) return false;
  return open_->rows + open_->uniques.unique_rows() >= options_.batch_rows ||
         options_.clock() - open_->since >= options_.batch_interval;
}

void HistoryExporter::Seal() {
  std::unique_ptr<OpenBatch> open = std::exchange(open_, std::make_unique<OpenBatch>());
  // Markers tile the LSNs: a batch starts right after the previous marker, so it also covers
  // the empty batches that advanced exported_through() without an INSERT (docs/history.md).
  const uint64_t first = marked_through_ + 1;
  auto batch = std::make_unique<SealedBatch>();
  const std::string node = EscapeTsv(options_.node_id);
  for (const auto& [key, minutes] : open->sums) {
    const std::string escaped = EscapeTsv(key);
    for (const Point& p : minutes) {
      if (p.value == 0) continue;  // SummingMergeTree would drop the row anyway
      fmt::format_to(std::back_inserter(batch->body), "{}\t{}\t{}\t0\t0\t{}\n", escaped,
                     FormatMinute(p.t), node, p.value);
      ++batch->rows;
    }
  }
  for (const auto& [key, uniques] : open->uniques.uniques()) {
    const std::string escaped = EscapeTsv(key);
    for (auto [buckets, step] :
         {std::pair{&uniques.hours, "hour"}, std::pair{&uniques.days, "day"}}) {
      for (const auto& [t, hll] : *buckets) {
        fmt::format_to(std::back_inserter(batch->unique_body), "{}\t{}\t{}\t{}\t{}\t{}\n", escaped,
                       step, FormatMinute(std::clamp<int64_t>(t, 0, kMaxDateTimeMinute)), node,
                       open->last_lsn, EscapeTsv(hll.bytes()));
        ++batch->unique_rows;
      }
    }
  }
  batch->last_lsn = open->last_lsn;
  batch->oldest_us = open->oldest_us;
  if (batch->rows == 0 && batch->unique_rows == 0) {
    // Nothing for history in these records: no INSERT (see the design note).
    Exported(open->last_lsn, 0, false);
    return;
  }
  if (batch->rows == 0) {
    // Only unique registers: their INSERT, no marker (the next marker's range covers them).
    sealed_ = std::move(batch);
    return;
  }
  // The marker goes last: should a block ever be split, the marker is the last part written.
  fmt::format_to(std::back_inserter(batch->body), "\t{}\t{}\t{}\t{}\t{}\n",
                 FormatMinute(open->last_minute), node, open->last_lsn, first,
                 open->last_lsn - first + 1);
  batch->first_lsn = first;
  batch->query_id = fmt::format("{}{}-{}", QueryIdPrefix(options_.node_id), first, open->last_lsn);
  sealed_ = std::move(batch);
}

absl::Status HistoryExporter::Flush() {
  if (!started_) return Error(Err::kInternal, "", "HistoryExporter::Flush before Start()");
  if (!sealed_) {
    if (open_->last_lsn == 0) return absl::OkStatus();
    Seal();
    if (!sealed_) return absl::OkStatus();
  }
  return Send();
}

absl::Status HistoryExporter::Send() {
  SealedBatch& batch = *sealed_;
  if (!batch.uniques_sent && batch.unique_rows > 0) {
    // On the control connection: an unanswered one needs no settling, it is simply sent again.
    absl::Status status = control_->Insert(
        fmt::format("INSERT INTO {}.{} (key, step, bucket, node, lsn, registers) FORMAT "
                    "TabSeparated",
                    QuoteSqlIdentifier(options_.database), kUniqueTable),
        batch.unique_body);
    if (!status.ok()) return Failed(status);
    batch.uniques_sent = true;
  }
  if (batch.rows == 0) {
    const uint64_t through = batch.last_lsn;
    const size_t rows = batch.unique_rows;
    sealed_.reset();
    Exported(through, rows, true);
    return absl::OkStatus();
  }
  if (batch.in_doubt && client_->awaiting_answer()) {
    // The earlier attempt's connection is still open: its answer is conclusive.
    Delivery delivery = Delivery::kUnknown;
    absl::Status answer = client_->AwaitAnswer(std::chrono::milliseconds(0), &delivery);
    if (answer.ok()) return Sent();
    if (client_->awaiting_answer()) {
      return Failed(Error(Err::kUnavailable, "",
                          fmt::format("still waiting for ClickHouse's answer to the INSERT of "
                                      "LSNs {}..{}",
                                      batch.first_lsn, batch.last_lsn)));
    }
    // Answered with an error: not applied, send again. Connection lost: the server is done
    // with that request (it closes a connection only after its query ended, or when it
    // died), so the marker below tells.
    if (delivery == Delivery::kAnswered) batch.in_doubt = false;
  }
  if (batch.in_doubt) {
    // Settle the earlier attempt: wait until ClickHouse no longer runs it, then look for its
    // marker. Only when it is absent may the batch be sent again.
    absl::StatusOr<uint64_t> running = CountRunning(batch.query_id, true);
    if (!running.ok()) return Failed(running.status());
    if (*running > 0) {
      return Failed(Error(Err::kUnavailable, "",
                          fmt::format("the earlier INSERT of LSNs {}..{} is still running in "
                                      "ClickHouse",
                                      batch.first_lsn, batch.last_lsn)));
    }
    absl::StatusOr<uint64_t> marker = ReadMarker();
    if (!marker.ok()) return Failed(marker.status());
    if (*marker >= batch.last_lsn) {
      {
        std::lock_guard lock(stats_mu_);
        ++stats_.settled_in_doubt;
      }
      return Sent();
    }
    if (*marker >= batch.first_lsn) {
      return Failed(Error(Err::kInternal, "node_id",
                          fmt::format("ClickHouse holds LSN {} of node {} inside the unsent "
                                      "batch {}..{}: is another process exporting as this node?",
                                      *marker, options_.node_id, batch.first_lsn, batch.last_lsn)));
    }
    batch.in_doubt = false;
  }
  Delivery delivery = Delivery::kNotSent;
  absl::Status status = client_->Insert(
      fmt::format("INSERT INTO {} (key, minute, node, lsn, first_lsn, value) FORMAT TabSeparated",
                  table()),
      batch.body, batch.query_id, &delivery);
  if (!status.ok()) {
    batch.in_doubt = delivery == Delivery::kUnknown;
    return Failed(status);
  }
  return Sent();
}

absl::Status HistoryExporter::Sent() {
  const size_t rows = sealed_->rows + sealed_->unique_rows;
  const uint64_t through = sealed_->last_lsn;
  marked_through_ = through;
  sealed_.reset();
  Exported(through, rows, true);
  return absl::OkStatus();
}

ExporterStats HistoryExporter::stats() const {
  std::lock_guard lock(stats_mu_);
  return stats_;
}

HistoryStoreStats HistoryExporter::Stats() const {
  const ExporterStats e = stats();
  return HistoryStoreStats{.store = "clickhouse",
                           .clickhouse = true,
                           .exported_through = e.exported_through,
                           .rows_exported = e.rows_exported,
                           .inserts = e.inserts,
                           .failures = e.failures,
                           .last_error = e.last_error};
}

}  // namespace counterd::history
