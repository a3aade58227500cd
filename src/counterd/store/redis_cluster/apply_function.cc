#include "counterd/store/redis_cluster/apply_function.h"

#include <fmt/format.h>

#include <utility>

#include "absl/container/flat_hash_map.h"
#include "counterd/common/errors.h"
#include "counterd/store/redis_cluster/marker.h"

namespace counterd::store::redis_cluster {
namespace {

// The format is documented in apply_function.h; keep both in step.
constexpr char kLibrary[] = R"lua(#!lua name=counterd
-- counterd: apply one (node, slot) group of a coalesced epoch exactly once.
-- Format and reasoning: src/counterd/store/redis_cluster/apply_function.h

-- "0" or [1-9][0-9]*: the only spelling compared below.
local function canonical(s)
  return type(s) == 'string' and (s == '0' or string.find(s, '^[1-9]%d*$') ~= nil)
end

-- a >= b for canonical decimals of any length; exact, unlike Lua's doubles above 2^53.
local function ge(a, b)
  if #a ~= #b then return #a > #b end
  return a >= b
end

local function failed(r)
  return type(r) == 'table' and r.err ~= nil
end

-- CRDT hashes keep their deadline in a field: Redis must not expire them, since their
-- baselines have to outlive the deadline (keyspace_reads.h kCrdtDeadlineField).
local DEADLINE = '@deadline'
local function is_crdt(key)
  return string.sub(key, 1, 13) == 'crdt_counter:' or string.sub(key, 1, 17) == 'crdt_counter_neg:'
end

-- A CRDT reset: every replica's baseline "#<replica>" rises to its total, so the value (totals
-- above the baselines) is 0 and older totals merged later add nothing. The name has no
-- deadline any more.
local function reset_crdt(key)
  local fields = redis.pcall('HGETALL', key)
  if failed(fields) then return fields end
  for j = 1, #fields, 2 do
    local f, v = fields[j], fields[j + 1]
    local c = string.sub(f, 1, 1)
    if c ~= '#' and c ~= '@' and canonical(v) then
      local b = redis.call('HGET', key, '#' .. f)
      if not b or not canonical(b) or not ge(b, v) then
        redis.call('HSET', key, '#' .. f, v)
      end
    end
  end
  redis.call('HDEL', key, DEADLINE)
  return nil
end

-- A CRDT whose deadline passed (by Redis's clock, `now_ms`) is reset before anything else
-- touches it; readers treat it as reset already.
-- Fails (as pcall does) when the key is not a hash, so the caller refuses only its operation.
local function lapse(key, now_ms)
  local d = redis.pcall('HGET', key, DEADLINE)
  if failed(d) then return d end
  if d and canonical(d) and tonumber(d) <= now_ms then return reset_crdt(key) end
  return nil
end

-- Validates the whole operation list before anything is written; nil when it is well formed.
local function check(keys, args)
  local i = 2
  while i <= #args do
    local op, k = args[i], tonumber(args[i + 1])
    if k == nil or k ~= math.floor(k) or k < 2 or k > #keys then
      return 'bad key index at argument ' .. i
    end
    if op == 'i' then
      local d = args[i + 2]
      if d == nil or #d > 20 or string.find(d, '^%-?%d+$') == nil then
        return 'bad delta at argument ' .. i
      end
      i = i + 3
    elseif op == 'm' then
      if args[i + 2] == nil or not canonical(args[i + 3]) then
        return 'bad total at argument ' .. i
      end
      i = i + 4
    elseif op == 'd' or op == 'z' then
      i = i + 2
    elseif op == 'x' then
      local v = args[i + 2]
      if v == nil or #v > 20 or string.find(v, '^%-?%d+$') == nil then
        return 'bad value at argument ' .. i
      end
      i = i + 3
    elseif op == 'e' then
      if not canonical(args[i + 2]) then
        return 'bad deadline at argument ' .. i
      end
      i = i + 3
    elseif op == 'p' then
      local n = tonumber(args[i + 2])
      if n == nil or n ~= math.floor(n) or n < 0 or i + 2 + n > #args then
        return 'bad item count at argument ' .. i
      end
      i = i + 3 + n
    elseif op == 'h' then
      local scratch = tonumber(args[i + 2])
      if scratch == nil or scratch ~= math.floor(scratch) or scratch < 2 or scratch > #keys or
          args[i + 3] == nil then
        return 'bad merge at argument ' .. i
      end
      i = i + 4
    elseif op == 's' then
      local cap, n = tonumber(args[i + 2]), tonumber(args[i + 3])
      if cap == nil or cap ~= math.floor(cap) or cap < 1 or cap > 10000 then
        return 'bad sample capacity at argument ' .. i
      end
      if n == nil or n ~= math.floor(n) or n < 0 or i + 3 + 2 * n > #args then
        return 'bad sample item count at argument ' .. i
      end
      for j = 0, n - 1 do
        if string.find(args[i + 4 + 2 * j], '^%d+$') == nil or #args[i + 4 + 2 * j] > 16 then
          return 'bad sample priority at argument ' .. (i + 4 + 2 * j)
        end
      end
      i = i + 4 + 2 * n
    else
      return 'unknown operation at argument ' .. i
    end
  end
  return nil
end

local function apply_epoch(keys, args)
  local lsn = args[1]
  if not canonical(lsn) or lsn == '0' then
    return redis.error_reply('ERR counterd_apply_epoch: bad epoch LSN')
  end
  local problem = check(keys, args)
  if problem then
    return redis.error_reply('ERR counterd_apply_epoch: ' .. problem)
  end
  local marker = redis.call('GET', keys[1])
  if marker then
    if not canonical(marker) then
      return redis.error_reply('ERR counterd_apply_epoch: marker ' .. keys[1] .. ' is not an LSN')
    end
    if ge(marker, lsn) then
      -- A replay: apply nothing. Rewriting the same value is propagated, so a WAIT that
      -- follows on this connection covers the original application too.
      redis.call('SET', keys[1], marker)
      return {'already', marker}
    end
  end

  local time = redis.call('TIME')
  local now_ms = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
  local out = {'applied', 0}
  local done = 0
  local function reject(key, why)
    out[#out + 1] = key .. ': ' .. why
  end
  local i = 2
  while i <= #args do
    local op, key = args[i], keys[tonumber(args[i + 1])]
    if op == 'i' then
      local r = redis.pcall('INCRBY', key, args[i + 2])
      if failed(r) then reject(key, r.err) else done = done + 1 end
      i = i + 3
    elseif op == 'm' then
      local field, total = args[i + 2], args[i + 3]
      local cur = lapse(key, now_ms)
      if not failed(cur) then cur = redis.pcall('HGET', key, field) end
      if failed(cur) then
        reject(key, cur.err)
      elseif cur and not canonical(cur) then
        reject(key, 'field ' .. field .. ' holds ' .. cur .. ', not a total')
      else
        if not cur or not ge(cur, total) then
          redis.call('HSET', key, field, total)
        end
        -- a hash that held only its deadline had Redis's TTL; now it holds totals
        if not cur then redis.call('PERSIST', key) end
        done = done + 1
      end
      i = i + 4
    elseif op == 'd' then
      redis.call('DEL', key)
      done = done + 1
      i = i + 2
    elseif op == 'x' then
      -- SET of a counter: the value, no deadline (as Redis's SET).
      redis.call('SET', key, args[i + 2])
      done = done + 1
      i = i + 3
    elseif op == 'z' then
      local r = reset_crdt(key)
      if failed(r) then reject(key, r.err) else done = done + 1 end
      i = i + 2
    elseif op == 'e' then
      -- The name's deadline, after its operations; a missing key has none to take, except a
      -- CRDT hash: it gets one holding only the deadline, so that totals written into it later
      -- lapse with the name. Such a hash alone carries Redis's TTL (nothing to outlive it).
      if is_crdt(key) then
        -- (a key that is not a hash is nothing of counterd's to give a deadline)
        if not failed(lapse(key, now_ms)) then
          if args[i + 2] == '0' then
            redis.call('HDEL', key, DEADLINE)
          else
            redis.call('HSET', key, DEADLINE, args[i + 2])
            if redis.call('HLEN', key) == 1 then redis.call('PEXPIREAT', key, args[i + 2]) end
          end
        end
      elseif args[i + 2] == '0' then
        redis.call('PERSIST', key)
      else
        redis.call('PEXPIREAT', key, args[i + 2])
      end
      done = done + 1
      i = i + 3
    elseif op == 'h' then
      -- PFMERGE of registers sent as HLL bytes: through a scratch key of the same slot.
      local scratch = keys[tonumber(args[i + 2])]
      local r = redis.pcall('SET', scratch, args[i + 3])
      if not failed(r) then r = redis.pcall('PFMERGE', key, scratch) end
      redis.pcall('DEL', scratch)
      if failed(r) then reject(key, r.err) else done = done + 1 end
      i = i + 4
    elseif op == 's' then
      -- Bottom-k: add the candidates, then keep the `cap` lowest priorities (ties by member,
      -- as Redis orders them).
      local cap, n = tonumber(args[i + 2]), tonumber(args[i + 3])
      local r = true
      for j = 0, n - 1 do
        r = redis.pcall('ZADD', key, args[i + 4 + 2 * j], args[i + 5 + 2 * j])
        if failed(r) then break end
      end
      if not failed(r) then r = redis.pcall('ZREMRANGEBYRANK', key, cap, -1) end
      if failed(r) then reject(key, r.err) else done = done + 1 end
      i = i + 4 + 2 * n
    else -- 'p'
      local n = tonumber(args[i + 2])
      local first, last = i + 3, i + 2 + n
      local r
      if n == 0 then
        r = redis.pcall('PFADD', key)
      else
        for s = first, last, 1000 do
          local e = s + 999
          if e > last then e = last end
          r = redis.pcall('PFADD', key, unpack(args, s, e))
          if failed(r) then break end
        end
      end
      if failed(r) then reject(key, r.err) else done = done + 1 end
      i = i + 3 + n
    end
  end
  out[2] = done
  redis.call('SET', keys[1], lsn)
  return out
end

redis.register_function('counterd_apply_epoch', apply_epoch)

-- A data key and this node's marker for its slot, read atomically (no epoch can land between
-- the two reads): the reader then knows exactly which of its pending deltas Redis holds.
local function read_with_marker(keys, args)
  return {redis.call('GET', keys[1]), redis.call('GET', keys[2])}
end

redis.register_function{function_name='counterd_read', callback=read_with_marker,
                        flags={'no-writes'}}
)lua";

bool StartsWith(std::string_view s, std::string_view prefix) {
  return s.substr(0, prefix.size()) == prefix;
}

absl::Status Unexpected(const redis::Reply& reply) {
  return Error(Err::kInternal, "",
               fmt::format("{}: unexpected reply {}", kApplyFunctionName, reply.DebugString()));
}

}  // namespace

const std::string& ApplyFunctionLibrary() {
  static const std::string* const library = new std::string(kLibrary);
  return *library;
}

redis::ClusterClient::Args EncodeApplyCall(const SlotGroup& group, std::string_view node_id,
                                           uint64_t last_lsn) {
  std::vector<std::string> keys = {MarkerKey(group.slot, node_id)};
  absl::flat_hash_map<std::string_view, size_t, StrHash, StrEq> index;  // key → KEYS index
  auto key_index = [&](const std::string& redis_key) {
    auto [it, added] = index.emplace(redis_key, keys.size() + 1);
    if (added) keys.push_back(redis_key);
    return std::to_string(it->second);
  };
  std::vector<std::string> args = {std::to_string(last_lsn)};
  auto field_ops = [&](const std::vector<CrdtFieldOp>& fields) {
    for (const CrdtFieldOp& f : fields) {
      args.insert(args.end(), {"m", key_index(f.redis_key), f.replica, std::to_string(f.total)});
    }
  };
  // Order per key (epoch.h): totals before a reset, the reset, the operations, the deadline.
  field_ops(group.crdt_pre_fields);
  for (const ResetOp& r : group.resets) {
    std::string k = key_index(r.redis_key);
    switch (r.reset.type) {
      case RedisReset::Type::kDelete:
        args.insert(args.end(), {"d", k});
        break;
      case RedisReset::Type::kSetCounter:
        args.insert(args.end(), {"x", k, std::to_string(r.reset.value)});
        break;
      case RedisReset::Type::kCrdtBaseline:
        args.insert(args.end(), {"z", k});
        break;
    }
  }
  for (const CounterOp& c : group.counters) {
    std::string k = key_index(c.redis_key);
    for (int64_t d : c.deltas) args.insert(args.end(), {"i", k, std::to_string(d)});
  }
  field_ops(group.crdt_fields);
  for (const UniqueOp& u : group.uniques) {
    args.insert(args.end(), {"p", key_index(u.redis_key), std::to_string(u.items.size())});
    args.insert(args.end(), u.items.begin(), u.items.end());
  }
  for (const UniqueMergeOp& op : group.unique_merges) {
    std::string k = key_index(op.redis_key);
    args.insert(args.end(), {"h", k, key_index(op.scratch_key), op.bytes});
  }
  for (const SampleOp& op : group.samples) {
    args.insert(args.end(), {"s", key_index(op.redis_key), std::to_string(op.capacity),
                             std::to_string(op.items.size())});
    for (const auto& [priority, item] : op.items) {
      args.push_back(std::to_string(priority));
      args.push_back(item);
    }
  }
  for (const ExpiryOp& e : group.expiries) {
    args.insert(args.end(), {"e", key_index(e.redis_key), std::to_string(e.deadline_ms)});
  }
  redis::ClusterClient::Args call;
  call.reserve(3 + keys.size() + args.size());
  call.push_back("FCALL");
  call.push_back(kApplyFunctionName);
  call.push_back(std::to_string(keys.size()));
  for (std::string& k : keys) call.push_back(std::move(k));
  for (std::string& a : args) call.push_back(std::move(a));
  return call;
}

absl::StatusOr<ApplyReply> DecodeApplyReply(const redis::Reply& reply) {
  if (reply.is_error()) {
    return Error(Err::kInternal, "", fmt::format("{}: {}", kApplyFunctionName, reply.str));
  }
  if (reply.type != redis::Reply::Type::kArray || reply.elements.size() < 2) {
    return Unexpected(reply);
  }
  const std::vector<redis::Reply>& e = reply.elements;
  ApplyReply out;
  if (e[0].IsString("already")) {
    out.replay = true;
    const std::string& m = e[1].str;
    if (e[1].type != redis::Reply::Type::kString || m.empty() || m.size() > 20) {
      return Unexpected(reply);
    }
    for (char c : m) {
      if (c < '0' || c > '9') return Unexpected(reply);
      out.marker = out.marker * 10 + static_cast<uint64_t>(c - '0');
    }
    return out;
  }
  if (!e[0].IsString("applied") || !e[1].is_integer()) return Unexpected(reply);
  out.ops_done = e[1].integer;
  for (size_t i = 2; i < e.size(); ++i) out.rejected.push_back(e[i].str);
  return out;
}

bool IsRetryableServerError(std::string_view error) {
  for (std::string_view prefix : {"OOM ", "BUSY ", "MISCONF ", "NOREPLICAS ", "LOADING ",
                                  "MASTERDOWN ", "TRYAGAIN", "CLUSTERDOWN "}) {
    if (StartsWith(error, prefix)) return true;
  }
  return false;
}

}  // namespace counterd::store::redis_cluster
