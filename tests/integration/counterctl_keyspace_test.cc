// counterctl's keyspace commands and `import --from-redis` against a real counterd and a real
// redis-server: what the source holds (counters, HLLs, deadlines) arrives exactly; what counterd
// does not hold (hashes, plain strings) is reported and skipped.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cstdlib>
#include <string>

#include "tests/support/counterd_process.h"
#include "tests/support/redis_cluster.h"
#include "tests/support/redis_server.h"
#include "tests/support/temp_dir.h"

namespace counterd::testing {
namespace {

using CtlRun = CommandRun;

CtlRun Counterctl(const TempDir& dir, const std::string& args) {
  return RunCommand(BuiltBinary("counterctl") + " " + args, dir.path());
}

std::string Show(const RedisReply& r) {
  if (!r) return "<io error>";
  switch (r->type) {
    case REDIS_REPLY_INTEGER:
      return ":" + std::to_string(r->integer);
    case REDIS_REPLY_STRING:
    case REDIS_REPLY_STATUS:
    case REDIS_REPLY_ERROR:
      return std::string(r->str, r->len);
    case REDIS_REPLY_NIL:
      return "(nil)";
    default:
      return "<other>";
  }
}

class CounterctlKeyspaceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    resp_port_ = FreeLoopbackPort();
    node_ = CounterdProcess::Start(dir_.path() + "/data",
                                   {"--resp-addr", "127.0.0.1:" + std::to_string(resp_port_)});
    ASSERT_NE(node_, nullptr);
    http_ = "--addr 127.0.0.1:" + std::to_string(node_->http_port());
    counterd_ = ConnectRedis(resp_port_);
    ASSERT_NE(counterd_, nullptr);
  }
  std::string Ours(const std::vector<std::string>& args) {
    return Show(Command(counterd_.get(), args));
  }

  TempDir dir_;
  int resp_port_ = 0;
  std::unique_ptr<CounterdProcess> node_;
  std::string http_;
  RedisConn counterd_{nullptr, redisFree};
};

TEST_F(CounterctlKeyspaceTest, KeysDelSetAndExpire) {
  for (int i = 0; i < 30; ++i) Ours({"INCR", "content:" + std::to_string(i)});
  Ours({"PFADD", "content:u", "a"});
  CtlRun keys = Counterctl(dir_, http_ + " keys --prefix content:1 --page 7");
  EXPECT_EQ(keys.exit_code, 0) << keys.output;
  size_t lines = 0;
  for (char c : keys.output) lines += c == '\n';
  EXPECT_EQ(lines, 11u) << keys.output;  // content:1 and content:10..19
  EXPECT_NE(keys.output.find("content:1\tcounter\n"), std::string::npos) << keys.output;
  CtlRun uniques = Counterctl(dir_, http_ + " --json keys --kind unique");
  EXPECT_EQ(uniques.output, "[{\"key\":\"content:u\",\"kind\":\"unique\"}]\n");

  EXPECT_EQ(Counterctl(dir_, http_ + " set content:1 500").output, "content:1 = 500\n");
  EXPECT_EQ(Ours({"GET", "content:1"}), "500");
  EXPECT_EQ(Counterctl(dir_, http_ + " expire content:1 --ttl-ms 100000").output,
            "content:1 expires in 100000 ms\n");
  const std::string ttl = Ours({"TTL", "content:1"});
  EXPECT_TRUE(ttl == ":100" || ttl == ":99") << ttl;  // a deadline was set, not its timing
  EXPECT_EQ(Counterctl(dir_, http_ + " expire content:1 --persist").output,
            "content:1 has no deadline\n");
  EXPECT_EQ(Ours({"TTL", "content:1"}), ":-1");
  EXPECT_EQ(Counterctl(dir_, http_ + " del content:1 content:2 missing").output, "2 deleted\n");
  EXPECT_EQ(Ours({"EXISTS", "content:1", "content:2"}), ":0");
  CtlRun bad = Counterctl(dir_, http_ + " set 'bad key' 1");
  EXPECT_EQ(bad.exit_code, 1);
  EXPECT_NE(bad.output.find("invalid_key"), std::string::npos) << bad.output;
}

TEST_F(CounterctlKeyspaceTest, ImportCopiesCountersHllsAndDeadlinesFromRedis) {
  std::unique_ptr<RedisServer> redis = RedisServer::Start({"--databases", "1"});
  ASSERT_NE(redis, nullptr);
  RedisConn source = redis->Connect();
  for (int i = 0; i < 2500; ++i) {  // more than one SCAN page
    Command(source.get(), {"SET", "views:" + std::to_string(i), std::to_string(i * 7 - 100)});
  }
  Command(source.get(), {"SET", "max", "9223372036854775807"});
  Command(source.get(), {"SET", "daily:views", "12", "EX", "3600"});
  for (int i = 0; i < 1000; ++i) {
    Command(source.get(), {"PFADD", "visitors", "user-" + std::to_string(i)});
  }
  Command(source.get(), {"HSET", "profile:1", "name", "x"});
  // Replica totals as HINCRBY writes them: a G-counter, and one with a negative total (PN).
  Command(source.get(), {"HSET", "likes:g", "eu-1", "5", "us-1", "7"});
  Command(source.get(), {"HSET", "likes:pn", "eu-1", "-3", "us-1", "4"});
  Command(source.get(), {"PEXPIRE", "likes:pn", "3600000"});
  Command(source.get(), {"SET", "greeting", "hello"});
  Command(source.get(), {"SET", "padded", "007"});  // not an integer to INCR either

  const std::string import = " import --from-redis 127.0.0.1:" + std::to_string(redis->port()) +
                             " --resp-addr 127.0.0.1:" + std::to_string(resp_port_);
  CtlRun dry = Counterctl(dir_, http_ + " --json" + import + " --dry-run");
  EXPECT_EQ(dry.exit_code, 0) << dry.output;
  EXPECT_NE(dry.output.find("\"counters\":2502,\"uniques\":1,\"crdts\":2"), std::string::npos)
      << dry.output;
  EXPECT_EQ(Ours({"DBSIZE"}), ":0");  // a dry run writes nothing

  CtlRun run = Counterctl(dir_, http_ + import);
  EXPECT_EQ(run.exit_code, 0) << run.output;
  EXPECT_NE(
      run.output.find("2508 keys scanned: 2502 counters, 1 HLLs and 2 CRDTs copied, 0 refused"),
      std::string::npos)
      << run.output;
  EXPECT_NE(run.output.find("skipped 1: hash whose values are not"), std::string::npos)
      << run.output;
  EXPECT_NE(run.output.find("progress: 2508 keys scanned"), std::string::npos) << run.output;
  EXPECT_NE(run.output.find("skipped 2: string that is neither"), std::string::npos) << run.output;

  for (int i = 0; i < 2500; i += 97) {
    const std::string key = "views:" + std::to_string(i);
    EXPECT_EQ(Ours({"GET", key}), Show(Command(source.get(), {"GET", key}))) << key;
  }
  EXPECT_EQ(Ours({"GET", "max"}), "9223372036854775807");
  EXPECT_EQ(Ours({"PFCOUNT", "visitors"}), Show(Command(source.get(), {"PFCOUNT", "visitors"})));
  const std::string ttl = Ours({"TTL", "daily:views"});
  EXPECT_TRUE(ttl == ":3600" || ttl == ":3599") << ttl;  // the deadline came along
  EXPECT_EQ(Ours({"TTL", "views:1"}), ":-1");
  EXPECT_EQ(Ours({"EXISTS", "profile:1", "greeting", "padded"}), ":0");
  EXPECT_EQ(Ours({"TYPE", "likes:g"}), "hash");
  EXPECT_EQ(Ours({"HGET", "likes:g", "us-1"}), "7");
  EXPECT_EQ(Ours({"HGET", "likes:pn", "eu-1"}), "-3");
  const std::string crdt_ttl = Ours({"TTL", "likes:pn"});
  EXPECT_TRUE(crdt_ttl == ":3600" || crdt_ttl == ":3599") << crdt_ttl;
  EXPECT_EQ(Ours({"DBSIZE"}), ":2505");
  // The copy is durable like any write: it survives kill -9 of counterd.
  counterd_.reset();
  node_->Kill();
  node_ = CounterdProcess::Start(dir_.path() + "/data",
                                 {"--resp-addr", "127.0.0.1:" + std::to_string(resp_port_)});
  ASSERT_NE(node_, nullptr);
  http_ = "--addr 127.0.0.1:" + std::to_string(node_->http_port());  // a new port each start
  counterd_ = ConnectRedis(resp_port_);
  ASSERT_NE(counterd_, nullptr);
  EXPECT_EQ(Ours({"GET", "views:2499"}), std::to_string(2499 * 7 - 100));
  EXPECT_EQ(Ours({"PFCOUNT", "visitors"}), Show(Command(source.get(), {"PFCOUNT", "visitors"})));

  // A second import changes nothing: SET of the same value, the same registers.
  CtlRun again = Counterctl(dir_, http_ + import);
  EXPECT_EQ(again.exit_code, 0) << again.output;
  EXPECT_EQ(Ours({"DBSIZE"}), ":2505");
  EXPECT_EQ(Ours({"GET", "views:2499"}), std::to_string(2499 * 7 - 100));
  EXPECT_EQ(Ours({"PFCOUNT", "visitors"}), Show(Command(source.get(), {"PFCOUNT", "visitors"})));
  EXPECT_EQ(Ours({"HGET", "likes:g", "eu-1"}), "5");  // a merge of the same totals adds nothing

  // --map-prefix renames on the way in; keys matching no rule keep their name.
  CtlRun mapped = Counterctl(dir_, http_ + import +
                                       " --match 'views:1*' --map-prefix views:=v2: "
                                       "--map-prefix nothing:=x:");
  EXPECT_EQ(mapped.exit_code, 0) << mapped.output;
  EXPECT_EQ(Ours({"GET", "v2:123"}), std::to_string(123 * 7 - 100));
  EXPECT_EQ(Ours({"EXISTS", "v2:200"}), ":0");
  CtlRun bad_map = Counterctl(dir_, http_ + import + " --map-prefix =x");
  EXPECT_EQ(bad_map.exit_code, 2);
  EXPECT_NE(bad_map.output.find("--map-prefix must be FROM=TO"), std::string::npos)
      << bad_map.output;
  // --cluster insists on a Redis Cluster source.
  CtlRun not_cluster = Counterctl(dir_, http_ + import + " --cluster");
  EXPECT_EQ(not_cluster.exit_code, 2);
  EXPECT_NE(not_cluster.output.find("is not a Redis Cluster node"), std::string::npos)
      << not_cluster.output;

  CtlRun unreachable = Counterctl(dir_, http_ + " import --from-redis 127.0.0.1:1");
  EXPECT_EQ(unreachable.exit_code, 2);
}

// A command sent to the cluster node that serves its key, following one MOVED redirect.
RedisReply ClusterCommand(RedisCluster& cluster, const std::vector<std::string>& args) {
  RedisConn first = ConnectRedis(cluster.ports()[0]);
  RedisReply r = Command(first.get(), args);
  if (r && r->type == REDIS_REPLY_ERROR && std::string(r->str, r->len).starts_with("MOVED")) {
    const std::string moved(r->str, r->len);
    const int port = std::stoi(moved.substr(moved.rfind(':') + 1));
    RedisConn owner = ConnectRedis(port);
    return Command(owner.get(), args);
  }
  return r;
}

TEST_F(CounterctlKeyspaceTest, ImportReadsEveryMasterOfARedisCluster) {
  std::unique_ptr<RedisCluster> cluster = RedisCluster::Start();
  ASSERT_NE(cluster, nullptr);
  for (int i = 0; i < 300; ++i) {
    RedisReply r =
        ClusterCommand(*cluster, {"SET", "likes:" + std::to_string(i), std::to_string(i)});
    ASSERT_TRUE(r && r->type == REDIS_REPLY_STATUS) << Show(r);
  }
  for (int h = 0; h < 5; ++h) {
    for (int i = 0; i <= h * 40; ++i) {
      ClusterCommand(*cluster, {"PFADD", "viewers:" + std::to_string(h), "u" + std::to_string(i)});
    }
  }
  // Seeded from any node, a replica included: the import finds the masters itself.
  ASSERT_NE(ClusterCommand(*cluster, {"HSET", "shares:1", "eu-1", "11"}), nullptr);
  const std::string import = " import --cluster --from-redis " +
                             cluster->addr(cluster->size() - 1) +
                             " --resp-addr 127.0.0.1:" + std::to_string(resp_port_);
  CtlRun run = Counterctl(dir_, http_ + import);
  EXPECT_EQ(run.exit_code, 0) << run.output;
  // (the harness's own probe keys are plain strings: scanned and skipped)
  EXPECT_NE(run.output.find(" keys scanned: 300 counters, 5 HLLs and 1 CRDTs copied, 0 refused"),
            std::string::npos)
      << run.output;
  for (int i = 0; i < 300; ++i) {
    EXPECT_EQ(Ours({"GET", "likes:" + std::to_string(i)}), std::to_string(i));
  }
  for (int h = 0; h < 5; ++h) {
    const std::string key = "viewers:" + std::to_string(h);
    EXPECT_EQ(Ours({"PFCOUNT", key}), Show(ClusterCommand(*cluster, {"PFCOUNT", key}))) << key;
  }
  CtlRun again = Counterctl(dir_, http_ + import);
  EXPECT_EQ(again.exit_code, 0) << again.output;
  EXPECT_EQ(Ours({"DBSIZE"}), ":306");
  EXPECT_EQ(Ours({"HGET", "shares:1", "eu-1"}), "11");
  EXPECT_EQ(Ours({"GET", "likes:299"}), "299");
}

}  // namespace
}  // namespace counterd::testing
