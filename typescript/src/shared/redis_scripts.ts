// The bot's Lua scripts, each registered once per Redis client (ioredis defineCommand: sent by
// EVALSHA, loaded again by ioredis after a Redis restart) under a name that says what it does.
// Each is one atomic step where two round trips would leave a window: a lease taken with its
// fencing token, a Cancel recorded together with its request, /train's limits checked and reserved,
// an event stored once per text, a channel message appended to the log once across bots, a
// request counted in a window that always expires. No Lua is sent any other way (no EVAL strings).

import type { Redis, Result } from "ioredis";

declare module "ioredis" {
  interface RedisCommander<Context> {
    /**
     * KEYS the job's set (events or batches), its texts hash (SHA-1 of a text -> the position
     * stored); ARGV the member (`<position>|<text>`). Keeps one member per text, the one first in
     * the log: 1 when this member was stored, 0 when an earlier copy of its text is.
     */
    digitsStoreFirstCopy(set: string, texts: string, member: string): Result<number, Context>;
    /**
     * KEYS the text's seen key, the log; ARGV the text, the claim's TTL s, MAXLEN, and the MINID
     * to trim to ("" when no age trim is due). 1 when this call appended the text, 0 when the
     * text was claimed already (its producer logged it, or another bot appended it).
     */
    digitsAppendUnseenEvent(
      seenKey: string,
      stream: string,
      text: Buffer,
      ttlS: number,
      maxlen: number,
      minId: string,
    ): Result<number, Context>;
    /** KEYS lease, fencing counter; ARGV owner, lease ms, counter TTL s. The new token, or 0 when another holds it. */
    digitsLeaseAcquire(lease: string, counter: string, owner: string, leaseMs: number, counterTtlS: number): Result<number, Context>;
    /**
     * KEYS lease, open set; ARGV holder, lease ms, job key, oldest open score. 1: renewed; 0: not
     * ours any more; -1: the job left the open set or had no event for the key expiry (lease freed).
     */
    digitsLeaseRenew(lease: string, open: string, holder: string, leaseMs: number, job: string, minScore: number): Result<number, Context>;
    /** KEYS lease; ARGV holder. The lease's remaining ms, or -3 when `holder` does not hold it. */
    digitsLeaseRemaining(lease: string, holder: string): Result<number, Context>;
    /** KEYS lease; ARGV holder. Deletes the lease only when `holder` holds it. */
    digitsLeaseRelease(lease: string, holder: string): Result<number, Context>;
    /**
     * KEYS cancel key, requests stream; ARGV who presses, TTL s, stream MAXLEN, field, request.
     * Who pressed first, or nil when this press is the first: its request is appended, then the
     * press recorded (an append that fails records nothing: Lua does not roll back).
     */
    digitsCancelClaimAndRequest(
      cancel: string,
      stream: string,
      by: string,
      ttlS: number,
      maxLen: number,
      field: string,
      request: string,
    ): Result<string | null, Context>;
    /** KEYS user set, all set; ARGV now ms, expiry ms, request id, user:request, per user, total, TTL s. {verdict, count}. */
    digitsActiveReserve(
      user: string,
      all: string,
      nowMs: number,
      expiresMs: number,
      requestId: string,
      member: string,
      perUser: number,
      total: number,
      ttlS: number,
    ): Result<unknown, Context>;
    /**
     * KEYS the counter; ARGV the window in s. Counts one more request in the window that the first
     * request opened (the key's TTL is set with its first value, so the window always expires).
     */
    digitsCountInWindow(counter: string, windowS: number): Result<number, Context>;
  }
}

const LEASE_ACQUIRE = `
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
local token = redis.call('INCR', KEYS[2])
redis.call('EXPIRE', KEYS[2], ARGV[3])
redis.call('SET', KEYS[1], ARGV[1] .. '#' .. token, 'PX', ARGV[2])
return token`;

const LEASE_RENEW = `
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
local score = redis.call('ZSCORE', KEYS[2], ARGV[3])
if not score or tonumber(score) < tonumber(ARGV[4]) then
  redis.call('DEL', KEYS[1])
  return -1
end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 1`;

const LEASE_REMAINING = `
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return -3 end
return redis.call('PTTL', KEYS[1])`;

const LEASE_RELEASE = `
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0`;

const CANCEL_CLAIM_AND_REQUEST = `
local earlier = redis.call('GET', KEYS[1])
if earlier then return earlier end
redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[3], '*', ARGV[4], ARGV[5])
redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
return false`;

const ACTIVE_RESERVE = `
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', ARGV[1])
local mine = redis.call('ZCARD', KEYS[1])
if mine >= tonumber(ARGV[5]) then return {0, mine} end
local all = redis.call('ZCARD', KEYS[2])
if all >= tonumber(ARGV[6]) then return {-1, all} end
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[3])
redis.call('ZADD', KEYS[2], ARGV[2], ARGV[4])
redis.call('EXPIRE', KEYS[1], ARGV[7])
redis.call('EXPIRE', KEYS[2], ARGV[7])
return {1, all}`;

const STORE_FIRST_COPY = `
local bar = string.find(ARGV[1], '|', 1, true)
local position, text = string.sub(ARGV[1], 1, bar - 1), string.sub(ARGV[1], bar + 1)
local field = redis.sha1hex(text)
local stored = redis.call('HGET', KEYS[2], field)
if stored and stored <= position then return 0 end
if stored then redis.call('ZREM', KEYS[1], stored .. '|' .. text) end
redis.call('HSET', KEYS[2], field, position)
redis.call('ZADD', KEYS[1], 0, ARGV[1])
return 1`;

const COUNT_IN_WINDOW = `
redis.call('SET', KEYS[1], 0, 'EX', ARGV[1], 'NX')
return redis.call('INCR', KEYS[1])`;

// The Python publisher's field and trimming (events/publishers.py).
const APPEND_UNSEEN_EVENT = `
if not redis.call('SET', KEYS[1], '1', 'NX', 'EX', ARGV[2]) then return 0 end
redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[3], '*', 'event', ARGV[1])
if ARGV[4] ~= '' then redis.call('XTRIM', KEYS[2], 'MINID', '~', ARGV[4]) end
return 1`;

const SCRIPTS: readonly (readonly [name: string, keys: number, lua: string])[] = [
  ["digitsLeaseAcquire", 2, LEASE_ACQUIRE],
  ["digitsLeaseRenew", 2, LEASE_RENEW],
  ["digitsLeaseRemaining", 1, LEASE_REMAINING],
  ["digitsLeaseRelease", 1, LEASE_RELEASE],
  ["digitsCancelClaimAndRequest", 2, CANCEL_CLAIM_AND_REQUEST],
  ["digitsActiveReserve", 2, ACTIVE_RESERVE],
  ["digitsStoreFirstCopy", 2, STORE_FIRST_COPY],
  ["digitsAppendUnseenEvent", 2, APPEND_UNSEEN_EVENT],
  ["digitsCountInWindow", 1, COUNT_IN_WINDOW],
];

const registered = new WeakSet<Redis>();

/** `redis` with the scripts above defined on it (once per client; later calls return it as is). */
export function scripted(redis: Redis): Redis {
  if (registered.has(redis)) return redis;
  for (const [name, numberOfKeys, lua] of SCRIPTS) redis.defineCommand(name, { numberOfKeys, lua });
  registered.add(redis);
  return redis;
}
