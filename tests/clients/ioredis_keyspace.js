// Drives the keyspace commands through ioredis (a Node Redis client) against one server and
// prints every reply as one JSON line, so the test can compare counterd with redis-server
// reply by reply. Usage: node ioredis_keyspace.js PORT
'use strict';
const Redis = require('ioredis');

async function main() {
  const port = Number(process.argv[2]);
  const redis = new Redis({ host: '127.0.0.1', port, lazyConnect: true, maxRetriesPerRequest: 0 });
  await redis.connect();
  const out = [];
  // Runs one call; records its reply or its error message.
  const step = async (name, call) => {
    try {
      out.push([name, await call()]);
    } catch (e) {
      out.push([name, { error: e.message }]);
    }
  };
  await step('get missing', () => redis.get('missing'));
  await step('mget', () => redis.mget('missing', 'a'));
  await step('incr', () => redis.incr('a'));
  await step('incrby', () => redis.incrby('b', 41));
  await step('exists', () => redis.exists('a', 'b', 'missing'));
  await step('type counter', () => redis.type('a'));
  await step('type missing', () => redis.type('missing'));
  await step('set', () => redis.set('c', 10));
  await step('set get', () => redis.set('c', 11, 'GET'));
  await step('get c', () => redis.get('c'));
  await step('set ex', () => redis.set('d', 5, 'EX', 100));
  await step('ttl', () => redis.ttl('d'));
  await step('expire', () => redis.expire('a', 50));
  await step('ttl a', () => redis.ttl('a'));
  await step('persist', () => redis.persist('a'));
  await step('ttl persisted', () => redis.ttl('a'));
  await step('pttl missing', () => redis.pttl('missing'));
  await step('del', () => redis.del('a', 'missing', 'b'));
  await step('exists after del', () => redis.exists('a', 'b'));
  await step('get deleted', () => redis.get('a'));
  await step('pfadd', () => redis.pfadd('u', 'x', 'y'));
  await step('type hll', () => redis.type('u'));
  for (let i = 0; i < 120; i++) await redis.incr(`item:${i}`);
  // A whole SCAN with MATCH and COUNT, as ioredis's scanStream pages it.
  const scanned = new Set();
  await new Promise((resolve, reject) => {
    const stream = redis.scanStream({ match: 'item:1*', count: 7 });
    stream.on('data', (keys) => keys.forEach((k) => scanned.add(k)));
    stream.on('end', resolve);
    stream.on('error', reject);
  });
  out.push(['scan match count', [...scanned].sort()]);
  await step('dbsize', () => redis.dbsize());
  await step('expire 0 deletes', () => redis.expire('c', 0));
  await step('get expired', () => redis.get('c'));
  await step('set px', () => redis.set('short', 1, 'PX', 200));
  // Polled, not slept: the key must go once its deadline passes (up to 10 s here).
  let gone = 1;
  for (let i = 0; i < 1000 && gone !== 0; i++) {
    gone = await redis.exists('short');
    if (gone !== 0) await new Promise((r) => setTimeout(r, 10));
  }
  out.push(['gone after px', gone]);
  for (const line of out) console.log(JSON.stringify(line));
  redis.disconnect();
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
