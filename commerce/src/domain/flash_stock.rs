//! Flash-sale stock in Redis (when `redis_url` is set): one Lua script checks and takes stock,
//! the buyer's per-customer count and the Idempotency-Key atomically, so every engine process
//! on the same Redis shares one counter. SQL stays the truth for orders: only a reservation that
//! wins here writes an order (with the conditional SQL decrement as a backstop), and a failed
//! SQL write gives the reservation back.
//!
//! Keys, per sale (one hash tag, so a Redis Cluster keeps them on one shard):
//! `showroom:flash:{<sale>}:stock` (units left), `:bought` (hash user → units),
//! `:idem` (hash user␟key → "" while pending, the order id once committed),
//! `:ver` (bumped when the sale's window changes, so cached windows are reloaded).

use super::flash::Sale;
use crate::error::CommerceError;
use redis::aio::MultiplexedConnection;
use redis::Script;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// Keys live this long after seeding (a sale lasts at most a day).
const TTL_S: u64 = 7 * 24 * 3600;

const RESERVE: &str = r"
local f = ARGV[1] .. '\31' .. ARGV[2]
if (redis.call('GET', KEYS[4]) or '0') ~= ARGV[5] then return {'stale', ''} end
local prev = redis.call('HGET', KEYS[3], f)
if prev then return {'replay', prev} end
local stock = redis.call('GET', KEYS[1])
if not stock then return {'unseeded', ''} end
stock = tonumber(stock)
local qty = tonumber(ARGV[3])
if stock < qty then return {'sold_out', tostring(stock)} end
local had = tonumber(redis.call('HGET', KEYS[2], ARGV[1]) or '0')
if had + qty > tonumber(ARGV[4]) then return {'customer_limit', tostring(had)} end
redis.call('DECRBY', KEYS[1], qty)
redis.call('HINCRBY', KEYS[2], ARGV[1], qty)
redis.call('HSET', KEYS[3], f, '')
return {'ok', tostring(stock - qty)}
";

/// ARGV[4] = `restock`: give back a pending reservation; `drain`: drop it and set the counter
/// to 0 (SQL found no stock); `refund`: give back the units of a committed order whose payment
/// failed (the key keeps pointing at that order).
const RELEASE: &str = r"
local f = ARGV[1] .. '\31' .. ARGV[2]
local mode = ARGV[4]
if mode == 'refund' then
  if not redis.call('HGET', KEYS[3], f) then return 0 end
else
  if redis.call('HGET', KEYS[3], f) ~= '' then return 0 end
  redis.call('HDEL', KEYS[3], f)
end
redis.call('HINCRBY', KEYS[2], ARGV[1], -tonumber(ARGV[3]))
if redis.call('EXISTS', KEYS[1]) == 1 then
  if mode == 'drain' then redis.call('SET', KEYS[1], 0, 'KEEPTTL') else redis.call('INCRBY', KEYS[1], ARGV[3]) end
end
return 1
";

/// How [`FlashStock::release`] undoes a reservation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Release {
    /// SQL did not take the pending reservation: give the units back.
    Restock,
    /// SQL had no stock left: drop the reservation, set the counter to 0.
    Drain,
    /// A committed order's payment failed: give the units back, keep the key.
    Refund,
}

/// Seed from SQL unless already seeded: ARGV = ttl, remaining, n, n × (user, qty), (field, order)…
const SEED: &str = r"
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
local ttl = tonumber(ARGV[1])
local n = tonumber(ARGV[3])
redis.call('DEL', KEYS[2], KEYS[3])
for i = 0, n - 1 do redis.call('HSET', KEYS[2], ARGV[4 + 2 * i], ARGV[5 + 2 * i]) end
for i = 4 + 2 * n, #ARGV, 2 do redis.call('HSET', KEYS[3], ARGV[i], ARGV[i + 1]) end
redis.call('SET', KEYS[1], ARGV[2], 'EX', ttl)
redis.call('EXPIRE', KEYS[2], ttl)
redis.call('EXPIRE', KEYS[3], ttl)
return 1
";

/// The outcome of one reservation attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Reservation {
    /// Units taken; this many left.
    Reserved { remaining: i64 },
    /// Fewer than the quantity left.
    SoldOut { left: i64 },
    /// The buyer already has this many; one more would pass the limit.
    CustomerLimit { had: i64 },
    /// This Idempotency-Key was seen: the order id, or `None` while the first one is pending.
    Replay { order_id: Option<String> },
    /// No stock counter yet (never seeded, or Redis lost it): seed from SQL and retry.
    Unseeded,
    /// The caller's cached sale is older than the sale's window version: reload and retry.
    Stale,
}

/// The Redis side of flash sales.
pub(crate) struct FlashStock {
    conn: MultiplexedConnection,
    reserve: Script,
    release: Script,
    seed: Script,
    /// Sales read from SQL, with the window version they were read at.
    cache: parking_lot::Mutex<HashMap<String, (Arc<Sale>, i64)>>,
    /// Reading a sale from SQL into the cache: the first requests of a burst, which all miss
    /// the cache, wait for one read instead of each making its own.
    pub(crate) loading: OneAtATime,
    /// Seeding the stock counter from SQL: the first requests of a burst all find it missing;
    /// one seeds it, the others take that seeding's result.
    pub(crate) seeding: OneAtATime,
}

/// One run at a time of a per-sale step (reading it into the cache, seeding its counter). A
/// caller that waited behind a run for the same sale which *began after the caller arrived*
/// takes that run's result without checking again: what the run read is at least as fresh as
/// what the caller would read now. So a burst's first requests wait for one run instead of
/// queueing one Redis round trip each behind the lock.
pub(crate) struct OneAtATime {
    /// Runs begun so far (numbered from 1).
    begun: AtomicU64,
    /// The last run that completed: its number and sale.
    last: tokio::sync::Mutex<(u64, String)>,
}

/// A caller's turn (see [`OneAtATime::turn`]); the next caller waits until it is dropped.
pub(crate) struct Turn<'a> {
    last: tokio::sync::MutexGuard<'a, (u64, String)>,
    begun: &'a AtomicU64,
    reused: bool,
}

impl OneAtATime {
    fn new() -> Self {
        Self {
            begun: AtomicU64::new(0),
            last: tokio::sync::Mutex::new((0, String::new())),
        }
    }

    /// Wait for the turn. [`Turn::reused`] tells whether a run for `sale_id` began after this
    /// call and completed meanwhile.
    pub async fn turn(&self, sale_id: &str) -> Turn<'_> {
        let arrived = self.begun.load(Ordering::SeqCst);
        let last = self.last.lock().await;
        let reused = last.0 > arrived && last.1 == sale_id;
        Turn {
            last,
            begun: &self.begun,
            reused,
        }
    }
}

impl Turn<'_> {
    /// A run for this sale began after the caller arrived and completed: use its result.
    pub fn reused(&self) -> bool {
        self.reused
    }

    /// Number this turn's own run (call before its first read), then [`Turn::done`] after it.
    pub fn begin(&mut self) -> u64 {
        self.begun.fetch_add(1, Ordering::SeqCst) + 1
    }

    /// The run numbered `n` (from [`Turn::begin`]) completed for `sale_id`.
    pub fn done(&mut self, n: u64, sale_id: &str) {
        *self.last = (n, sale_id.to_owned());
    }
}

/// What SQL says about a sale, for seeding Redis.
pub(crate) struct SeedData {
    pub remaining: i64,
    /// (user id, units bought).
    pub bought: Vec<(String, i64)>,
    /// (user id, Idempotency-Key, order id) of committed purchases.
    pub keys: Vec<(String, String, String)>,
}

fn keys(sale_id: &str) -> [String; 4] {
    let base = format!("showroom:flash:{{{sale_id}}}");
    [
        format!("{base}:stock"),
        format!("{base}:bought"),
        format!("{base}:idem"),
        format!("{base}:ver"),
    ]
}

fn field(user: &str, key: &str) -> String {
    format!("{user}\u{1f}{key}")
}

impl FlashStock {
    pub async fn connect(url: &str) -> Result<Self, CommerceError> {
        let client = redis::Client::open(url)?;
        let mut conn = client.get_multiplexed_async_connection().await?;
        let (reserve, release, seed) = (
            Script::new(RESERVE),
            Script::new(RELEASE),
            Script::new(SEED),
        );
        // Loaded now, not by a burst's first calls: each of those would get NOSCRIPT, load the
        // script and call again (three round trips each, all at once). A Redis restart still
        // falls back to that.
        for script in [&reserve, &release, &seed] {
            script.load_async(&mut conn).await?;
        }
        Ok(Self {
            conn,
            reserve,
            release,
            seed,
            cache: parking_lot::Mutex::new(HashMap::new()),
            loading: OneAtATime::new(),
            seeding: OneAtATime::new(),
        })
    }

    /// The cached sale and the version it was read at.
    pub fn cached(&self, sale_id: &str) -> Option<(Arc<Sale>, i64)> {
        self.cache.lock().get(sale_id).cloned()
    }

    pub fn remember(&self, sale: Arc<Sale>, version: i64) {
        let mut c = self.cache.lock();
        if c.len() > 10_000 {
            c.clear(); // bound memory; entries are re-read on demand
        }
        c.insert(sale.id.clone(), (sale, version));
    }

    pub fn forget(&self, sale_id: &str) {
        self.cache.lock().remove(sale_id);
    }

    /// Whether the sale's stock counter is in Redis (seeded, and not lost since).
    pub async fn is_seeded(&self, sale_id: &str) -> Result<bool, CommerceError> {
        let [stock, ..] = keys(sale_id);
        let n: i64 = redis::cmd("EXISTS")
            .arg(stock)
            .query_async(&mut self.conn.clone())
            .await?;
        Ok(n == 1)
    }

    /// The sale's window version (0 before any change).
    pub async fn version(&self, sale_id: &str) -> Result<i64, CommerceError> {
        let [.., ver] = keys(sale_id);
        let v: Option<i64> = redis::cmd("GET")
            .arg(ver)
            .query_async(&mut self.conn.clone())
            .await?;
        Ok(v.unwrap_or(0))
    }

    /// Bump the window version after the sale's window changed in SQL.
    pub async fn bump(&self, sale_id: &str) -> Result<(), CommerceError> {
        let [.., ver] = keys(sale_id);
        redis::pipe()
            .cmd("INCR")
            .arg(&ver)
            .ignore()
            .cmd("EXPIRE")
            .arg(&ver)
            .arg(TTL_S)
            .ignore()
            .query_async::<()>(&mut self.conn.clone())
            .await?;
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    pub async fn reserve(
        &self,
        sale_id: &str,
        version: i64,
        user: &str,
        key: &str,
        qty: i64,
        limit: i64,
    ) -> Result<Reservation, CommerceError> {
        let k = keys(sale_id);
        let ver = version.to_string();
        let (tag, val): (String, String) = self
            .reserve
            .key(&k[0])
            .key(&k[1])
            .key(&k[2])
            .key(&k[3])
            .arg(user)
            .arg(key)
            .arg(qty)
            .arg(limit)
            .arg(ver)
            .invoke_async(&mut self.conn.clone())
            .await
            .map(|v: Vec<String>| {
                let mut it = v.into_iter();
                (it.next().unwrap_or_default(), it.next().unwrap_or_default())
            })?;
        let num = || val.parse::<i64>().unwrap_or(0);
        Ok(match tag.as_str() {
            "ok" => Reservation::Reserved { remaining: num() },
            "sold_out" => Reservation::SoldOut { left: num() },
            "customer_limit" => Reservation::CustomerLimit { had: num() },
            "replay" if val.is_empty() => Reservation::Replay { order_id: None },
            "replay" => Reservation::Replay {
                order_id: Some(val),
            },
            "unseeded" => Reservation::Unseeded,
            "stale" => Reservation::Stale,
            other => {
                return Err(CommerceError::Internal(format!(
                    "flash reserve script answered {other:?}"
                )))
            }
        })
    }

    /// What this Idempotency-Key holds for the sale: `Some(None)` pending, `Some(Some(order))`.
    pub async fn key_state(
        &self,
        sale_id: &str,
        user: &str,
        key: &str,
    ) -> Result<Option<Option<String>>, CommerceError> {
        let [_, _, idem, _] = keys(sale_id);
        let v: Option<String> = redis::cmd("HGET")
            .arg(idem)
            .arg(field(user, key))
            .query_async(&mut self.conn.clone())
            .await?;
        Ok(v.map(|o| Some(o).filter(|o| !o.is_empty())))
    }

    /// The reservation became an order: remember the order for retries with the same key.
    pub async fn commit(
        &self,
        sale_id: &str,
        user: &str,
        key: &str,
        order_id: &str,
    ) -> Result<(), CommerceError> {
        self.commit_all(&[(
            sale_id.to_owned(),
            user.to_owned(),
            key.to_owned(),
            order_id.to_owned(),
        )])
        .await
    }

    /// [`FlashStock::commit`] for several reservations, in one pipeline:
    /// (sale, user, key, order id) each.
    pub async fn commit_all(
        &self,
        done: &[(String, String, String, String)],
    ) -> Result<(), CommerceError> {
        if done.is_empty() {
            return Ok(());
        }
        let mut pipe = redis::pipe();
        for (sale_id, user, key, order_id) in done {
            let [_, _, idem, _] = keys(sale_id);
            pipe.cmd("HSET")
                .arg(idem)
                .arg(field(user, key))
                .arg(order_id)
                .ignore();
        }
        pipe.query_async::<()>(&mut self.conn.clone()).await?;
        Ok(())
    }

    /// Undo a reservation (see [`Release`]).
    pub async fn release(
        &self,
        sale_id: &str,
        user: &str,
        key: &str,
        qty: i64,
        how: Release,
    ) -> Result<(), CommerceError> {
        let k = keys(sale_id);
        self.release
            .key(&k[0])
            .key(&k[1])
            .key(&k[2])
            .arg(user)
            .arg(key)
            .arg(qty)
            .arg(match how {
                Release::Restock => "restock",
                Release::Drain => "drain",
                Release::Refund => "refund",
            })
            .invoke_async::<i64>(&mut self.conn.clone())
            .await?;
        Ok(())
    }

    /// Seed the counters from SQL if they do not exist (idempotent across processes).
    pub async fn seed(&self, sale_id: &str, data: &SeedData) -> Result<bool, CommerceError> {
        let k = keys(sale_id);
        let mut inv = self.seed.key(&k[0]);
        inv.key(&k[1])
            .key(&k[2])
            .arg(TTL_S)
            .arg(data.remaining)
            .arg(data.bought.len());
        for (user, qty) in &data.bought {
            inv.arg(user).arg(*qty);
        }
        for (user, key, order) in &data.keys {
            inv.arg(field(user, key)).arg(order);
        }
        let seeded: i64 = inv.invoke_async(&mut self.conn.clone()).await?;
        Ok(seeded == 1)
    }
}
