//! The event bus: per-stream hubs in this process, fed locally and (with `redis_url`) by Redis
//! pub/sub so several engine processes share one stream's events.
//!
//! A hub delivers each stream's events in sequence order without gaps: a duplicate (our own
//! event echoed by Redis) is dropped; a gap (another process's commit published late) is filled
//! from the event table, whose commits happen in sequence order.

use crate::error::CommerceError;
use crate::events::Event;
use crate::Commerce;
use bytes::Bytes;
use futures::StreamExt;
use std::collections::HashMap;
use std::sync::Arc;
use tokio::sync::broadcast;

const CHANNEL_PREFIX: &str = "showroom:commerce:";

/// One event ready for the wire: its seq and its whole `event` WebSocket frame (header and
/// JSON, built once: a server frame is unmasked, so every subscriber gets the same bytes).
#[derive(Debug, Clone)]
pub(crate) struct Delivered {
    pub seq: u64,
    /// Private events go to this user only.
    pub to: Option<String>,
    pub wire: Bytes,
}

impl Delivered {
    pub fn of(ev: &Event) -> Self {
        Self {
            seq: ev.seq,
            to: ev.to.clone(),
            wire: crate::transport::ws_conn::text_frame(event_json(ev).as_bytes()),
        }
    }
}

fn event_json(ev: &Event) -> String {
    #[derive(serde::Serialize)]
    struct Frame<'a> {
        v: u32,
        #[serde(rename = "type")]
        ty: &'static str,
        #[serde(flatten)]
        ev: &'a Event,
    }
    serde_json::to_string(&Frame {
        v: 1,
        ty: "event",
        ev,
    })
    .unwrap_or_default()
}

/// A stream's local fan-out point: the broadcast its WebSocket fan-out shards read.
pub(crate) struct Hub {
    pub tx: broadcast::Sender<Delivered>,
    pub fanout: crate::transport::fanout::Fanout,
    last: tokio::sync::Mutex<u64>,
}

/// Where events go after commit.
pub(crate) struct Bus {
    redis: Option<RedisBus>,
    hubs: parking_lot::Mutex<HashMap<String, Arc<Hub>>>,
}

struct RedisBus {
    client: redis::Client,
    conn: redis::aio::MultiplexedConnection,
}

impl Bus {
    pub async fn connect(redis_url: Option<&str>) -> Result<Self, CommerceError> {
        let redis = match redis_url {
            None => None,
            Some(url) => {
                let client = redis::Client::open(url)?;
                let conn = client.get_multiplexed_async_connection().await?;
                Some(RedisBus { client, conn })
            }
        };
        Ok(Self {
            redis,
            hubs: parking_lot::Mutex::new(HashMap::new()),
        })
    }

    pub fn name(&self) -> &'static str {
        if self.redis.is_some() {
            "redis"
        } else {
            "in-process"
        }
    }

    /// Publish to the other processes (no-op on the in-process bus).
    pub async fn publish(&self, ev: &Event) {
        let Some(r) = &self.redis else { return };
        let payload = match serde_json::to_string(ev) {
            Ok(p) => p,
            Err(e) => return tracing::error!(error = %e, "event not serialisable"),
        };
        let mut conn = r.conn.clone();
        let res: Result<i64, _> = redis::cmd("PUBLISH")
            .arg(format!("{CHANNEL_PREFIX}{}", ev.stream_id))
            .arg(payload)
            .query_async(&mut conn)
            .await;
        if let Err(e) = res {
            // Other processes fill the gap from the event table on their next event.
            tracing::warn!(error = %e, stream = %ev.stream_id, seq = ev.seq, "redis publish failed");
        }
    }

    /// Publish several events in one pipeline (one round trip, in order).
    pub async fn publish_all(&self, evs: &[Event]) {
        let Some(r) = &self.redis else { return };
        if evs.is_empty() {
            return;
        }
        if evs.len() == 1 {
            return self.publish(&evs[0]).await;
        }
        let mut pipe = redis::pipe();
        for ev in evs {
            match serde_json::to_string(ev) {
                Ok(p) => {
                    pipe.cmd("PUBLISH")
                        .arg(format!("{CHANNEL_PREFIX}{}", ev.stream_id))
                        .arg(p)
                        .ignore();
                }
                Err(e) => tracing::error!(error = %e, "event not serialisable"),
            }
        }
        let res: Result<(), _> = pipe.query_async(&mut r.conn.clone()).await;
        if let Err(e) = res {
            // Other processes fill the gap from the event table on their next event.
            tracing::warn!(error = %e, events = evs.len(), "redis publish failed");
        }
    }

    fn hub(&self, stream_id: &str) -> Option<Arc<Hub>> {
        self.hubs.lock().get(stream_id).cloned()
    }
}

impl Commerce {
    /// The stream's hub, created with its sequence position at the current history head.
    pub(crate) async fn hub(&self, stream_id: &str) -> Result<Arc<Hub>, CommerceError> {
        if let Some(h) = self.bus.hub(stream_id) {
            return Ok(h);
        }
        let head = self.db.head_seq(stream_id).await?;
        let mut hubs = self.bus.hubs.lock();
        let hub = hubs.entry(stream_id.to_owned()).or_insert_with(|| {
            let tx = broadcast::channel(self.cfg.send_queue.max(16)).0;
            Arc::new(Hub {
                fanout: crate::transport::fanout::Fanout::start(&tx, head),
                tx,
                last: tokio::sync::Mutex::new(head),
            })
        });
        Ok(hub.clone())
    }
}

/// Hand one committed event to its stream's hub (in order, gaps filled from history).
pub(crate) async fn deliver(shop: &Commerce, ev: Event) {
    let Some(hub) = shop.bus.hub(&ev.stream_id) else {
        return; // nobody here listens to this stream; history has it
    };
    let mut last = hub.last.lock().await;
    if ev.seq <= *last {
        return;
    }
    if ev.seq > *last + 1 {
        match shop
            .db
            .events_range(&ev.stream_id, *last, ev.seq - 1, ev.seq - *last)
            .await
        {
            Ok(missing) => {
                for m in missing {
                    let _ = hub.tx.send(Delivered::of(&m));
                    *last = m.seq;
                }
            }
            Err(e) => tracing::error!(error = %e, stream = %ev.stream_id, "gap fill failed"),
        }
    }
    let _ = hub.tx.send(Delivered::of(&ev));
    *last = ev.seq;
}

/// With Redis: one subscriber task per process feeding every hub; reconnects with backoff.
pub(crate) fn spawn_subscriber(shop: &Arc<Commerce>) {
    let Some(r) = &shop.bus.redis else { return };
    let client = r.client.clone();
    let weak = Arc::downgrade(shop);
    tokio::spawn(async move {
        let mut backoff = std::time::Duration::from_millis(100);
        loop {
            match client.get_async_pubsub().await {
                Ok(mut ps) => {
                    if let Err(e) = ps.psubscribe(format!("{CHANNEL_PREFIX}*")).await {
                        tracing::warn!(error = %e, "redis psubscribe failed");
                    } else {
                        backoff = std::time::Duration::from_millis(100);
                        let mut msgs = ps.on_message();
                        while let Some(msg) = msgs.next().await {
                            let Some(shop) = weak.upgrade() else { return };
                            let payload: String = match msg.get_payload() {
                                Ok(p) => p,
                                Err(e) => {
                                    tracing::warn!(error = %e, "bad redis payload");
                                    continue;
                                }
                            };
                            match serde_json::from_str::<Event>(&payload) {
                                Ok(ev) => {
                                    shop.warm_on_event(&ev);
                                    deliver(&shop, ev).await
                                }
                                Err(e) => tracing::warn!(error = %e, "undecodable redis event"),
                            }
                        }
                    }
                }
                Err(e) => tracing::warn!(error = %e, "redis subscribe connection failed"),
            }
            if weak.strong_count() == 0 {
                return;
            }
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(std::time::Duration::from_secs(5));
        }
    });
}
