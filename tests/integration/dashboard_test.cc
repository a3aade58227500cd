// deploy/grafana/counterd.json against the real thing: a counterd node in Redis Cluster mode
// (a real 6-node cluster) with its history in a real ClickHouse, under traffic on HTTP, RESP and
// gRPC, scraped every second by Debian's real Prometheus loading deploy/prometheus/alerts.yml.
// Every query of every panel (the dashboard's variables and Grafana's $__ intervals filled in)
// must return series: a panel naming a metric counterd does not export, or a label it does not
// set, fails. The rules must evaluate without error on the real scrape too.
//
// Nothing talks to anything but 127.0.0.1; every server runs in a temp dir and is stopped by PID.
#include <fmt/format.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <rapidjson/document.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <string>
#include <vector>

#include "counterd/history/clickhouse_client.h"
#include "counterd/v1/counterd.grpc.pb.h"
#include "tests/support/clickhouse_server.h"
#include "tests/support/counterd_process.h"
#include "tests/support/eventually.h"
#include "tests/support/load.h"
#include "tests/support/process.h"
#include "tests/support/redis_cluster.h"
#include "tests/support/redis_server.h"
#include "tests/support/temp_dir.h"

namespace counterd::testing {
namespace {

namespace v1 = ::counterd::v1;
using std::chrono::milliseconds;
using std::chrono::seconds;

const std::string kSourceDir = COUNTERD_SOURCE_DIR;
const std::string kDashboard = kSourceDir + "/deploy/grafana/counterd.json";
const std::string kAlerts = kSourceDir + "/deploy/prometheus/alerts.yml";

// Generous bounds on hangs, not claims about speed (eventually.h).
constexpr auto kPortTimeout = seconds(20);
constexpr auto kQueryTimeout = seconds(90);

rapidjson::Document ParseFile(const std::string& path) {
  rapidjson::Document doc;
  doc.Parse(ReadFileOrEmpty(path).c_str());
  return doc;
}

struct PanelQuery {
  std::string panel;  // title
  std::string ref_id;
  std::string expr;  // as written in the dashboard
};

std::vector<PanelQuery> PanelQueries(const rapidjson::Document& dashboard) {
  std::vector<PanelQuery> out;
  for (const auto& panel : dashboard["panels"].GetArray()) {
    if (!panel.HasMember("targets")) continue;
    for (const auto& target : panel["targets"].GetArray()) {
      out.push_back(
          {panel["title"].GetString(), target["refId"].GetString(), target["expr"].GetString()});
    }
  }
  return out;
}

// What Grafana would send with every node selected: each template variable as its "All" value
// (a regex matching everything when it has none) and Grafana's own $__ intervals as 30 s, which
// holds many 1 s scrapes.
std::string Substitute(const rapidjson::Document& dashboard, const std::string& expr) {
  std::map<std::string, std::string> values;
  for (const auto& var : dashboard["templating"]["list"].GetArray()) {
    const std::string name = var["name"].GetString();
    values[name] = var.HasMember("allValue") ? var["allValue"].GetString() : ".*";
  }
  static const std::regex kVariable(R"(\$\{?(\w+)\}?)");
  std::string out;
  auto begin = std::sregex_iterator(expr.begin(), expr.end(), kVariable);
  size_t last = 0;
  for (auto it = begin; it != std::sregex_iterator(); ++it) {
    const std::smatch& m = *it;
    out += expr.substr(last, m.position() - last);
    const std::string name = m[1];
    if (name.rfind("__", 0) == 0) {
      out += "30s";
    } else {
      auto value = values.find(name);
      out += value != values.end() ? value->second : m.str();  // unknown: left for the query
    }
    last = m.position() + m.length();
  }
  return out + expr.substr(last);
}

// --------------------------------------------------------------------------- the dashboard file

TEST(DashboardFile, IsAGrafanaModelOfPrometheusTimeseriesAndStatPanels) {
  const rapidjson::Document d = ParseFile(kDashboard);
  ASSERT_TRUE(d.IsObject()) << kDashboard << " is not JSON";
  EXPECT_GE(d["schemaVersion"].GetInt(), 36);
  bool has_datasource_variable = false;
  for (const auto& var : d["templating"]["list"].GetArray()) {
    if (std::string(var["name"].GetString()) == "datasource") {
      has_datasource_variable = std::string(var["type"].GetString()) == "datasource" &&
                                std::string(var["query"].GetString()) == "prometheus";
    }
  }
  EXPECT_TRUE(has_datasource_variable) << "no `datasource` variable of Prometheus data sources";
  std::set<int> ids;
  for (const auto& panel : d["panels"].GetArray()) {
    const std::string title = panel["title"].GetString(), type = panel["type"].GetString();
    EXPECT_TRUE(type == "timeseries" || type == "stat") << title << ": " << type;
    EXPECT_TRUE(ids.insert(panel["id"].GetInt()).second) << title << ": id repeats";
    ASSERT_TRUE(panel.HasMember("targets") && !panel["targets"].Empty()) << title;
    std::set<std::string> refs;
    for (const auto& target : panel["targets"].GetArray()) {
      EXPECT_TRUE(refs.insert(target["refId"].GetString()).second) << title << ": refId repeats";
      EXPECT_EQ(std::string(target["datasource"]["uid"].GetString()), "${datasource}") << title;
    }
  }
  EXPECT_GE(ids.size(), 10u);
}

TEST(DashboardFile, SubstitutesVariablesAndIntervals) {
  rapidjson::Document d;
  d.Parse(R"({"templating":{"list":[{"name":"instance","allValue":".*"},{"name":"ns"}]}})");
  EXPECT_EQ(Substitute(d, R"(rate(x{instance=~"$instance",ns=~"${ns}"}[$__rate_interval]))"),
            R"(rate(x{instance=~".*",ns=~".*"}[30s]))");
  EXPECT_EQ(Substitute(d, "up"), "up");
}

// ------------------------------------------------------------------------------ the live stack

struct Node {
  std::unique_ptr<CounterdProcess> process;
  int resp_port = 0;
  int grpc_port = 0;
};

// Traffic of every kind the dashboard shows, on every protocol, paced so the two cores stay
// shared: counters, CRDT counters, uniques and samples on HTTP (in two namespaces), INCR, PFADD
// and HINCRBY on RESP, Increment on gRPC, and one refused request per round (an errors panel
// needs an error).
void Traffic(const Node& node, int id, const std::atomic<bool>* stop) {
  HttpClient http(node.process->http_port());
  HttpClient tenant(node.process->http_port());
  tenant.SetHeader("X-Counterd-Namespace", "acme");
  RedisConn resp = ConnectRedis(node.resp_port);
  auto stub = v1::Counterd::NewStub(grpc::CreateChannel(fmt::format("127.0.0.1:{}", node.grpc_port),
                                                        grpc::InsecureChannelCredentials()));
  // One failure is reported and ends the traffic (a dead node would fail every round).
  const auto http_ok = [](const HttpResponse& r, int want, const std::string& what) {
    if (r.status == want) return true;
    ADD_FAILURE() << what << ": HTTP " << r.status << " " << r.body;
    return false;
  };
  const auto resp_ok = [&resp](const std::vector<std::string>& args) {
    RedisReply r = Command(resp.get(), args);
    if (r && r->type != REDIS_REPLY_ERROR) return true;
    ADD_FAILURE() << args[0] << ": " << (r ? std::string(r->str, r->len) : "no reply");
    return false;
  };
  if (!resp || resp->err) {
    ADD_FAILURE() << "RESP connection to " << node.resp_port << " failed";
    return;
  }
  for (int round = 0; !stop->load(); ++round) {
    const std::string key = fmt::format("dash:{}:{}", id, round % 50);
    const std::string item = fmt::format(R"({{"items":["i{}"]}})", round);
    if (!http_ok(http.Post("/v1/counters/" + key + "/increment", R"({"delta":2})"), 200, key) ||
        !http_ok(tenant.Post("/v1/counters/" + key + "/increment", R"({"delta":1})"), 200, key) ||
        !http_ok(http.Post("/v1/crdt/g:" + key + "/increment",
                           fmt::format(R"({{"replica":"r{}","delta":1,"kind":"g"}})", id)),
                 200, "crdt") ||
        !http_ok(http.Post("/v1/uniques/u:" + key + "/add", item), 200, "unique") ||
        !http_ok(http.Post("/v1/samples/s:" + key + "/add", item), 200, "sample") ||
        !http_ok(http.Post("/v1/counters/dash:bad/increment", "not json"), 400, "bad JSON") ||
        !resp_ok({"INCR", key}) || !resp_ok({"PFADD", "pf:" + key, fmt::format("i{}", round)}) ||
        !resp_ok({"HINCRBY", "h:" + key, fmt::format("r{}", id), "1"})) {
      return;
    }
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + seconds(10));
    v1::IncrementRequest req;
    req.set_key(key);
    req.set_delta(1);
    v1::IncrementResponse reply;
    if (grpc::Status s = stub->Increment(&ctx, req, &reply); !s.ok()) {
      ADD_FAILURE() << "gRPC Increment: " << s.error_message();
      return;
    }
    LetTimePass(milliseconds(20));  // pacing, not a wait
  }
}

// Debian's prometheus on a free loopback port, scraping `target` every second with alerts.yml.
class Prometheus {
 public:
  static std::unique_ptr<Prometheus> Start(const TempDir& dir, int counterd_port) {
    auto p = std::unique_ptr<Prometheus>(new Prometheus);
    p->port_ = FreeLoopbackPort();
    const std::string config = dir.path() + "/prometheus.yml";
    std::ofstream(config) << fmt::format(R"(global:
  scrape_interval: 1s
  scrape_timeout: 1s
  evaluation_interval: 1s
rule_files:
  - {}
scrape_configs:
  - job_name: counterd
    static_configs:
      - targets: ["127.0.0.1:{}"]
)",
                                         kAlerts, counterd_port);
    p->log_ = dir.path() + "/prometheus.log";
    auto process = Subprocess::Start({"/usr/bin/prometheus", "--config.file=" + config,
                                      "--storage.tsdb.path=" + dir.path() + "/tsdb",
                                      fmt::format("--web.listen-address=127.0.0.1:{}", p->port_)},
                                     p->log_);
    if (!process.ok()) {
      ADD_FAILURE() << process.status();
      return nullptr;
    }
    p->process_ = std::move(*process);
    if (!WaitForTcpPort(p->port_, kPortTimeout)) {
      ADD_FAILURE() << "prometheus did not listen: " << ReadFileOrEmpty(p->log_);
      return nullptr;
    }
    return p;
  }
  ~Prometheus() {
    if (process_ == nullptr) return;
    process_->Signal(SIGTERM);  // by PID; the Subprocess destructor SIGKILLs if it lingers
    (void)process_->WaitFor(seconds(20));
  }

  // The `data.result` array of an instant query, null when the query failed.
  std::unique_ptr<rapidjson::Document> Query(const std::string& expr, std::string* error) {
    HttpResponse r = HttpClient(port_).Get("/api/v1/query?query=" + history::UrlEncode(expr));
    auto doc = std::make_unique<rapidjson::Document>();
    doc->Parse(r.body.c_str());
    if (r.status != 200 || !doc->IsObject() || !doc->HasMember("data")) {
      *error = fmt::format("HTTP {}: {}", r.status, r.body);
      return nullptr;
    }
    return doc;
  }
  // Number of series an instant query returns; -1 (and *error) when it failed.
  int Count(const std::string& expr, std::string* error) {
    auto doc = Query(expr, error);
    return doc ? static_cast<int>((*doc)["data"]["result"].Size()) : -1;
  }
  std::string Get(const std::string& target) { return HttpClient(port_).Get(target).body; }
  std::string Log() const { return ReadFileOrEmpty(log_); }

 private:
  Prometheus() = default;
  int port_ = 0;
  std::string log_;
  std::unique_ptr<Subprocess> process_;
};

TEST(Dashboard, EveryPanelQueryHasDataFromARealNode) {
  const rapidjson::Document dashboard = ParseFile(kDashboard);
  ASSERT_TRUE(dashboard.IsObject());
  const std::vector<PanelQuery> queries = PanelQueries(dashboard);
  ASSERT_FALSE(queries.empty());

  ASSERT_EQ(access("/usr/bin/prometheus", X_OK), 0)
      << "/usr/bin/prometheus is missing: scripts/setup.sh installs Debian's prometheus";
  auto cluster = RedisCluster::Start();
  ASSERT_NE(cluster, nullptr);
  auto clickhouse = ClickHouseServer::Start();
  ASSERT_NE(clickhouse, nullptr);

  TempDir dir;
  Node node;
  node.resp_port = FreeLoopbackPort();
  node.grpc_port = FreeLoopbackPort();
  std::string log;
  node.process = CounterdProcess::Start(
      dir.path() + "/data",
      {"--redis-cluster", cluster->seeds(), "--redis-flush-ms", "5", "--clickhouse-url",
       clickhouse->url(), "--clickhouse-database", "dash_test", "--history-batch-ms", "200",
       "--resp-addr", fmt::format("127.0.0.1:{}", node.resp_port), "--grpc-addr",
       fmt::format("127.0.0.1:{}", node.grpc_port)},
      &log);
  ASSERT_NE(node.process, nullptr) << log;
  ASSERT_TRUE(WaitForTcpPort(node.resp_port, kPortTimeout));
  ASSERT_TRUE(WaitForTcpPort(node.grpc_port, kPortTimeout));

  StoppableThreads traffic;
  traffic.Spawn([&node](const std::atomic<bool>* stop) { Traffic(node, 1, stop); });

  TempDir prometheus_dir;
  auto prometheus = Prometheus::Start(prometheus_dir, node.process->http_port());
  ASSERT_NE(prometheus, nullptr);
  std::string error;
  ASSERT_TRUE(Eventually(
      "Prometheus to scrape counterd",
      [&] { return prometheus->Count(R"(up{job="counterd"} == 1)", &error) == 1; }, kQueryTimeout))
      << error << "\n"
      << prometheus->Get("/api/v1/targets") << "\n"
      << prometheus->Log();

  // The Redis memory gauges: one series per master of the cluster.
  EXPECT_TRUE(Eventually(
      "counterd_redis_used_memory_bytes for each of the 3 masters",
      [&] { return prometheus->Count("counterd_redis_used_memory_bytes > 0", &error) == 3; },
      kQueryTimeout))
      << error << "\n"
      << HttpClient(node.process->http_port()).Get("/metrics").body;

  for (const PanelQuery& q : queries) {
    const std::string expr = Substitute(dashboard, q.expr);
    std::string last;
    EXPECT_TRUE(Eventually(
        fmt::format("panel \"{}\" query {} to return series", q.panel, q.ref_id),
        [&] {
          int n = prometheus->Count(expr, &error);
          last = n < 0 ? error : fmt::format("{} series", n);
          return n > 0;
        },
        kQueryTimeout))
        << expr << "\nlast answer: " << last;
  }

  // Every alerting and recording rule evaluated on this scrape without an error.
  ASSERT_TRUE(Eventually(
      "every rule to have been evaluated",
      [&] {
        const std::string rules = prometheus->Get("/api/v1/rules");
        return rules.find("\"health\":\"unknown\"") == std::string::npos &&
               rules.find("\"health\":\"ok\"") != std::string::npos;
      },
      kQueryTimeout));
  const std::string rules = prometheus->Get("/api/v1/rules");
  EXPECT_EQ(rules.find("\"health\":\"err\""), std::string::npos) << rules;
  traffic.Stop();
}

}  // namespace
}  // namespace counterd::testing
