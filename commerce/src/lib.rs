//! Showroom's live-commerce interaction layer: products, pins, polls, gifts, chat and
//! moderation, flash sales and orders, synced to stream time.
//!
//! **Who drives it.** The engine calls [`Commerce::start`] with a database pool, secrets and a
//! [`StreamDirectory`] (its view of streams: existence, stream keys, clock, LL-HLS timeline),
//! and mounts the REST/WebSocket handlers of [`transport`]. Commerce does I/O: SQL (sqlx,
//! SQLite or PostgreSQL) and, when `redis_url` is set, Redis pub/sub. It never touches media.
//!
//! **Data flow.**
//! ```text
//! REST / WebSocket frame ─▶ Command ─▶ Commerce::execute ─▶ domain transaction (SQL)
//!                                                  │  + event row (per-stream seq, stamp)
//!                                                  ▼ after commit
//!                               bus (in-process, or Redis PUBLISH) ─▶ per-stream hub (orders,
//!                               fills gaps from the event table) ─▶ fan-out shard per core:
//!                               one pre-built frame written to each socket, bounded queue per
//!                               socket for what it does not take at once
//! ```
//!
//! **Time model.** Every event is stamped with the stream clock at the moment it is caused
//! ([`stamp::Stamp`]: publish epoch, PTS, PROGRAM-DATE-TIME), or wall time when not live.
//! Pins and flash sales are also marked on the LL-HLS timeline via [`StreamDirectory::mark`].
//! Flash-sale windows are decided by the sans-IO [`sale_window`] core: time is an argument.
//!
//! **Viewers and stats.** The engine reports the players it serves ([`presence`]); commerce adds
//! its sockets, sums engines over Redis and pushes `viewers` frames. [`stats`] gives a stream's
//! staff its live figures (orders, revenue by currency, reactions, gifts).
//!
//! ```no_run
//! # async fn demo(dir: std::sync::Arc<dyn showroom_commerce::StreamDirectory>) -> Result<(), showroom_commerce::CommerceError> {
//! use showroom_commerce::{Commerce, CommerceConfig, CommerceDb, Secrets};
//! let pool = sqlx::SqlitePool::connect("sqlite::memory:").await?;
//! let secrets = Secrets { admin_key: "k".into(), jwt_secret: "s".into() };
//! let shop = Commerce::start(CommerceConfig::default(), secrets, CommerceDb::Sqlite(pool), dir).await?;
//! # let _ = shop; Ok(()) }
//! ```

pub mod auth;
mod bus;
pub mod command;
pub mod config;
pub mod db;
pub mod directory;
mod domain;
pub mod error;
pub mod events;
pub mod payment;
pub mod presence;
pub mod ratelimit;
pub mod sale_window;
mod shared_limit;
pub mod stamp;
pub mod stats;
pub mod transport;

pub use auth::{Actor, Claims, Role};
pub use command::Command;
pub use config::{CommerceConfig, Secrets};
pub use db::CommerceDb;
pub use directory::{StreamClock, StreamDirectory, TimelineMarker};
pub use error::CommerceError;
pub use events::Event;
pub use payment::{PaymentProvider, TestPaymentProvider};
pub use presence::{Players, Viewers};
pub use stats::StreamStats;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::SystemTime;

/// The running commerce layer (one per engine process).
pub struct Commerce {
    pub(crate) cfg: CommerceConfig,
    pub(crate) auth: auth::Auth,
    pub(crate) db: db::Db,
    pub(crate) streams: Arc<dyn StreamDirectory>,
    pub(crate) bus: bus::Bus,
    /// Viewer counts reported by the engine, summed over processes with Redis.
    pub(crate) presence: presence::Presence,
    pub(crate) payments: Arc<dyn PaymentProvider>,
    pub(crate) user_limits: parking_lot::Mutex<HashMap<String, ratelimit::TokenBucket>>,
    /// Flash sales known to be sold out (monotone: stock never comes back). SQL path only.
    pub(crate) sold_out: parking_lot::Mutex<HashSet<String>>,
    /// Flash-sale stock counters in Redis (when `redis_url` is set).
    pub(crate) flash_stock: Option<domain::flash_stock::FlashStock>,
    /// The per-user rate shared through Redis (when `redis_url` is set; replaces `user_limits`).
    pub(crate) shared_limit: Option<shared_limit::SharedLimiter>,
    /// Group commit of flash-sale winners (Redis path).
    pub(crate) flash_winners:
        domain::group_commit::Batcher<domain::flash_winners::Winner, domain::flash_winners::Won>,
    /// Group commit of payment outcomes.
    pub(crate) settlements: domain::group_commit::Batcher<domain::settlements::Settlement, ()>,
}

impl Commerce {
    /// Migrate, connect the bus, and start. Uses the built-in `test` payment provider.
    pub async fn start(
        config: CommerceConfig,
        secrets: Secrets,
        db: CommerceDb,
        streams: Arc<dyn StreamDirectory>,
    ) -> Result<Arc<Commerce>, CommerceError> {
        Self::start_with_payments(config, secrets, db, streams, Arc::new(TestPaymentProvider)).await
    }

    /// As [`Commerce::start`], with a real payment provider.
    pub async fn start_with_payments(
        config: CommerceConfig,
        secrets: Secrets,
        db: CommerceDb,
        streams: Arc<dyn StreamDirectory>,
        payments: Arc<dyn PaymentProvider>,
    ) -> Result<Arc<Commerce>, CommerceError> {
        if secrets.jwt_secret.len() < 8 {
            return Err(CommerceError::Invalid(
                "jwt_secret must be at least 8 bytes".into(),
            ));
        }
        let db = db::Db::open(db).await?;
        let bus = bus::Bus::connect(config.redis_url.as_deref()).await?;
        let presence = presence::Presence::connect(config.redis_url.as_deref()).await?;
        let (flash_stock, shared_limit) = match config.redis_url.as_deref() {
            Some(url) => (
                Some(domain::flash_stock::FlashStock::connect(url).await?),
                Some(
                    shared_limit::SharedLimiter::connect(
                        url,
                        config.user_rate_per_s,
                        config.user_burst,
                    )
                    .await?,
                ),
            ),
            None => (None, None),
        };
        tracing::info!(
            backend = db.backend(),
            bus = bus.name(),
            payments = payments.name(),
            "commerce started"
        );
        // PostgreSQL: two batches in flight per committer, each on a kept connection of its own;
        // SQLite has one writer, so one.
        let lanes = db.group_commit_lanes();
        let shop = Arc::new_cyclic(|weak: &std::sync::Weak<Commerce>| Commerce {
            flash_winners: group_committer(
                weak,
                domain::flash_winners::MAX_BATCH,
                lanes,
                |shop, lane, jobs| async move { shop.commit_winners(lane, jobs).await },
            ),
            settlements: group_committer(
                weak,
                domain::settlements::MAX_BATCH,
                lanes,
                |shop, lane, jobs| async move { shop.commit_settlements(lane, jobs).await },
            ),
            auth: auth::Auth::new(&secrets.admin_key, &secrets.jwt_secret),
            cfg: config,
            db,
            streams,
            bus,
            presence,
            payments,
            user_limits: parking_lot::Mutex::new(HashMap::new()),
            sold_out: parking_lot::Mutex::new(HashSet::new()),
            flash_stock,
            shared_limit,
        });
        bus::spawn_subscriber(&shop);
        // On the committers' thread: their kept connections are opened there.
        let warm = Arc::clone(&shop);
        let warmed = domain::commit_thread::handle()
            .spawn(async move { warm.warm_group_commits().await })
            .await;
        if let Err(e) = warmed {
            tracing::warn!(error = %e, "group commit warm-up did not run");
        }
        shop.resume_sale_timers().await?;
        Ok(shop)
    }

    pub fn config(&self) -> &CommerceConfig {
        &self.cfg
    }

    /// Verify a bearer credential (admin key or JWT).
    pub fn authenticate(&self, bearer: &str) -> Result<Actor, CommerceError> {
        self.auth.verify(bearer)
    }

    /// The stream clock now, as a stamp.
    pub(crate) fn stamp_now(&self, stream_id: &str) -> stamp::Stamp {
        stamp::Stamp::new(self.streams.clock(stream_id), SystemTime::now())
    }

    /// As `require_stream`, but a miss asks the directory to look again in the shared store
    /// (a stream another engine process created a moment ago is found at once).
    pub async fn require_stream_fresh(&self, stream_id: &str) -> Result<(), CommerceError> {
        if self.streams.exists(stream_id) || self.streams.exists_fresh(stream_id).await {
            Ok(())
        } else {
            tracing::info!(stream_id, "refused: unknown stream");
            Err(CommerceError::NotFound(format!("stream {stream_id}")))
        }
    }

    pub(crate) fn require_stream(&self, stream_id: &str) -> Result<(), CommerceError> {
        if self.streams.exists(stream_id) {
            Ok(())
        } else {
            tracing::info!(stream_id, "refused: unknown stream");
            Err(CommerceError::NotFound(format!("stream {stream_id}")))
        }
    }

    /// Fan out committed events (local hub now, then Redis if configured: one pipeline).
    pub(crate) async fn publish(self: &Arc<Self>, events: Vec<Event>) {
        for ev in &events {
            bus::deliver(self, ev.clone()).await;
        }
        self.bus.publish_all(&events).await;
    }
}

/// A [`domain::group_commit::Batcher`] whose batches run `commit` on the shop (jobs left when
/// the shop is gone are answered with an error).
fn group_committer<J, R, F, Fut>(
    weak: &std::sync::Weak<Commerce>,
    max: usize,
    lanes: usize,
    commit: F,
) -> domain::group_commit::Batcher<J, R>
where
    J: Send + 'static,
    R: Send + 'static,
    F: Fn(Arc<Commerce>, usize, Vec<J>) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = domain::group_commit::Committed<R>> + Send + 'static,
{
    let weak = weak.clone();
    domain::group_commit::Batcher::spawn(max, lanes, move |lane, jobs: Vec<J>| {
        let n = jobs.len();
        let run = weak.upgrade().map(|shop| commit(shop, lane, jobs));
        async move {
            match run {
                Some(f) => f.await,
                None => (
                    domain::group_commit::fail_all(
                        n,
                        "group commit",
                        &CommerceError::Internal("shutting down".into()),
                    ),
                    None,
                ),
            }
        }
    })
}

pub(crate) fn now_ms() -> u64 {
    stamp::unix_ms(SystemTime::now())
}

/// Unix time in µs (timing logs only: lines of one process put on one timeline).
pub(crate) fn now_us() -> u64 {
    SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as u64)
}

pub(crate) fn domain_id(prefix: &str) -> String {
    domain::new_id(prefix)
}

impl Commerce {
    /// Per-user token bucket shared by all of the user's connections in this process. With
    /// Redis this is a no-op: [`Commerce::take_shared_user_token`] counts across processes.
    pub(crate) fn take_user_token(
        &self,
        user_id: &str,
        now: std::time::Instant,
    ) -> Result<(), u64> {
        if self.shared_limit.is_some() {
            return Ok(());
        }
        let mut map = self.user_limits.lock();
        if map.len() > 100_000 {
            map.clear(); // bound memory; buckets refill fully anyway after a second or two
        }
        map.entry(user_id.to_owned())
            .or_insert_with(|| {
                ratelimit::TokenBucket::new(self.cfg.user_rate_per_s, self.cfg.user_burst, now)
            })
            .try_take(now)
    }
}

impl Commerce {
    /// The per-user command rate across every engine process on the same Redis (no-op without
    /// Redis: the per-process bucket applies). Refusal: `rate_limited` with `retry_after_ms`.
    pub(crate) async fn take_shared_user_token(&self, user_id: &str) -> Result<(), CommerceError> {
        match &self.shared_limit {
            Some(l) => l
                .take(user_id)
                .await
                .map_err(|retry_after_ms| CommerceError::RateLimited {
                    limit: "per_user",
                    retry_after_ms,
                }),
            None => Ok(()),
        }
    }

    /// The per-user limit for one REST command: the same budget as the user's WebSocket
    /// commands (per process, or shared over Redis). Admin actors (the operator's key and admin
    /// tokens: back-office automation) are not limited.
    pub async fn take_rest_user_token(&self, actor: &Actor) -> Result<(), CommerceError> {
        if actor.role == Role::Admin {
            return Ok(());
        }
        let user = actor.user_id.as_str();
        match self.take_user_token(user, std::time::Instant::now()) {
            Err(retry_after_ms) => Err(CommerceError::RateLimited {
                limit: "per_user",
                retry_after_ms,
            }),
            Ok(()) => self.take_shared_user_token(user).await,
        }
    }
}
