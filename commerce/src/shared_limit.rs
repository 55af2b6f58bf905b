//! The per-user command rate shared by every engine process on one Redis (used instead of the
//! per-process token bucket when `redis_url` is set): a fixed window counted by one Lua call.
//!
//! The bucket's `user_rate_per_s` / `user_burst` map to a window of `burst / rate` seconds that
//! admits `burst` commands: the same sustained rate and the same burst.

use redis::aio::MultiplexedConnection;
use redis::Script;

const WINDOW: &str = r"
local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
if n <= tonumber(ARGV[2]) then return -1 end
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 then redis.call('PEXPIRE', KEYS[1], ARGV[1]); ttl = tonumber(ARGV[1]) end
return ttl
";

/// Fixed-window counters in Redis, one per user.
pub(crate) struct SharedLimiter {
    conn: MultiplexedConnection,
    script: Script,
    window_ms: u64,
    limit: u32,
}

/// `(window_ms, limit)` for a token bucket of `rate_per_s` and `burst`.
pub(crate) fn window_for(rate_per_s: u32, burst: u32) -> (u64, u32) {
    let (rate, burst) = (u64::from(rate_per_s.max(1)), burst.max(1));
    ((u64::from(burst) * 1000 / rate).max(1), burst)
}

impl SharedLimiter {
    pub async fn connect(
        url: &str,
        rate_per_s: u32,
        burst: u32,
    ) -> Result<Self, crate::CommerceError> {
        let client = redis::Client::open(url)?;
        let mut conn = client.get_multiplexed_async_connection().await?;
        let (window_ms, limit) = window_for(rate_per_s, burst);
        // Loaded now, not on NOSCRIPT by the first burst's every call (see `FlashStock::connect`).
        let script = Script::new(WINDOW);
        script.load_async(&mut conn).await?;
        Ok(Self {
            conn,
            script,
            window_ms,
            limit,
        })
    }

    /// Count one command of `user`; `Err(ms)` = over the limit, retry after this long. A Redis
    /// failure lets the command through (logged): the limit protects, it must not take the
    /// service down with Redis.
    pub async fn take(&self, user: &str) -> Result<(), u64> {
        let r: Result<i64, _> = self
            .script
            .key(format!("showroom:rate:user:{user}"))
            .arg(self.window_ms)
            .arg(self.limit)
            .invoke_async(&mut self.conn.clone())
            .await;
        match r {
            Ok(ms) if ms >= 0 => Err(u64::try_from(ms).unwrap_or(0).max(1)),
            Ok(_) => Ok(()),
            Err(e) => {
                tracing::warn!(user, error = %e, "shared rate limit unavailable; command let through");
                Ok(())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::window_for;

    #[test]
    fn bucket_maps_to_same_rate_and_burst() {
        assert_eq!(window_for(30, 60), (2000, 60));
        assert_eq!(window_for(20, 40), (2000, 40));
        assert_eq!(window_for(10, 1), (100, 1));
        assert_eq!(window_for(0, 0), (1000, 1));
    }
}
