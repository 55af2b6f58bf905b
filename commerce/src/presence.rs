//! Viewer counts: how many people watch a stream, summed over engine processes.
//!
//! The engine knows the players (commerce never sees media): every couple of seconds it reports,
//! per stream, the WebRTC (WHEP) sessions and LL-HLS player sessions it serves ([`Players`]) via
//! [`Commerce::report_viewers`]. Commerce adds the `/ws/{id}` connections it holds for the stream
//! (viewer pages, studio, moderator panels). Without Redis that is the count. With `redis_url`,
//! each process stores its own figures under `showroom:viewers:{stream}:{node}` with a TTL of
//! [`NODE_TTL_S`] and sums the entries of every process still alive (listed in the set
//! `showroom:viewers:{stream}`), so engines behind one load balancer show the same total; a
//! process that stops drops out when its entry expires.
//!
//! The total reaches WebSocket clients as a `viewers` frame ([`frame`]:
//! `{"v":1,"type":"viewers","stream_id":…,"viewers":…,"webrtc":…,"llhls":…,"connected":…}`): not an event — it is not sequenced, stored or replayed,
//! and a newer count replaces an unsent older one (a `watch` channel per stream). It is sent when
//! it changes (checked at each report), not on connect: `/info` has the current count.

use std::collections::HashMap;

use parking_lot::Mutex;
use serde::{Deserialize, Serialize};
use tokio::sync::watch;

use crate::error::CommerceError;
use crate::Commerce;

/// Seconds a process's figures stay in Redis without a refresh (the engine reports every 2 s).
pub const NODE_TTL_S: u64 = 10;
const KEY_PREFIX: &str = "showroom:viewers:";

/// Players one engine process serves for one stream.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Players {
    /// WebRTC (WHEP) viewer sessions.
    pub webrtc: u64,
    /// LL-HLS player sessions seen recently (the engine's estimate; see its docs).
    pub llhls: u64,
}

/// A stream's audience, over every engine process that reported it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Viewers {
    /// People playing the video: `webrtc + llhls`.
    pub viewers: u64,
    pub webrtc: u64,
    pub llhls: u64,
    /// Open `/ws/{id}` connections (viewer pages, studio, moderator panels).
    pub connected: u64,
}

impl Viewers {
    fn add(&mut self, p: Players, connected: u64) {
        self.webrtc += p.webrtc;
        self.llhls += p.llhls;
        self.viewers = self.webrtc + self.llhls;
        self.connected += connected;
    }
}

/// One process's entry in Redis.
#[derive(Serialize, Deserialize)]
struct NodeEntry {
    players: Players,
    connected: u64,
}

/// Per-stream latest totals and their subscribers (one per WebSocket session).
pub(crate) struct Presence {
    node: String,
    redis: Option<redis::aio::MultiplexedConnection>,
    streams: Mutex<HashMap<String, watch::Sender<Viewers>>>,
}

impl Presence {
    pub async fn connect(redis_url: Option<&str>) -> Result<Self, CommerceError> {
        let redis = match redis_url {
            None => None,
            Some(url) => Some(
                redis::Client::open(url)?
                    .get_multiplexed_async_connection()
                    .await?,
            ),
        };
        Ok(Self {
            node: crate::domain_id("node"),
            redis,
            streams: Mutex::new(HashMap::new()),
        })
    }

    fn sender(&self, stream_id: &str) -> watch::Sender<Viewers> {
        self.streams
            .lock()
            .entry(stream_id.to_owned())
            .or_insert_with(|| watch::channel(Viewers::default()).0)
            .clone()
    }

    /// A WebSocket session's view of the stream's total; counts as one connection while held.
    /// Only changes are sent (the new connection itself changes `connected` at the next report);
    /// pages read the current count from `/info` when they load.
    pub fn subscribe(&self, stream_id: &str) -> watch::Receiver<Viewers> {
        self.sender(stream_id).subscribe()
    }

    /// Local `/ws` connections to this stream.
    fn connected(&self, stream_id: &str) -> u64 {
        self.streams
            .lock()
            .get(stream_id)
            .map_or(0, |tx| tx.receiver_count() as u64)
    }

    /// Store this process's figures and sum every live process's (Redis).
    async fn sum_redis(
        &self,
        conn: &redis::aio::MultiplexedConnection,
        stream_id: &str,
        mine: &NodeEntry,
    ) -> Result<Viewers, CommerceError> {
        let mut conn = conn.clone();
        let set_key = format!("{KEY_PREFIX}{stream_id}");
        let my_key = format!("{set_key}:{}", self.node);
        let payload = serde_json::to_string(mine).map_err(crate::error::internal)?;
        let (nodes,): (Vec<String>,) = redis::pipe()
            .atomic()
            .cmd("SET")
            .arg(&my_key)
            .arg(payload)
            .arg("EX")
            .arg(NODE_TTL_S)
            .ignore()
            .cmd("SADD")
            .arg(&set_key)
            .arg(&self.node)
            .ignore()
            .cmd("EXPIRE")
            .arg(&set_key)
            .arg(NODE_TTL_S * 6)
            .ignore()
            .cmd("SMEMBERS")
            .arg(&set_key)
            .query_async(&mut conn)
            .await?;
        let keys: Vec<String> = nodes.iter().map(|n| format!("{set_key}:{n}")).collect();
        let values: Vec<Option<String>> =
            redis::cmd("MGET").arg(&keys).query_async(&mut conn).await?;
        let mut total = Viewers::default();
        let mut gone = Vec::new();
        for (node, value) in nodes.iter().zip(values) {
            match value.map(|v| serde_json::from_str::<NodeEntry>(&v)) {
                Some(Ok(e)) => total.add(e.players, e.connected),
                Some(Err(e)) => {
                    tracing::warn!(stream = stream_id, node, error = %e, "undecodable viewer entry")
                }
                None => gone.push(node.clone()),
            }
        }
        if !gone.is_empty() {
            let _: Result<i64, _> = redis::cmd("SREM")
                .arg(&set_key)
                .arg(&gone)
                .query_async(&mut conn)
                .await;
        }
        Ok(total)
    }
}

/// The `viewers` frame of protocol `showroom.commerce.v1`.
pub fn frame(stream_id: &str, v: &Viewers) -> String {
    serde_json::json!({ "v": crate::transport::wire::VERSION, "type": "viewers", "stream_id": stream_id,
        "viewers": v.viewers, "webrtc": v.webrtc, "llhls": v.llhls, "connected": v.connected })
    .to_string()
}

impl Commerce {
    /// The engine reports the players it serves for a stream (every ~2 s); returns the total over
    /// all engine processes and pushes it to the stream's WebSocket clients when it changed.
    /// On a Redis error the local figures are used (and logged).
    pub async fn report_viewers(&self, stream_id: &str, players: Players) -> Viewers {
        let p = &self.presence;
        let mine = NodeEntry {
            players,
            connected: p.connected(stream_id),
        };
        let mut local = Viewers::default();
        local.add(mine.players, mine.connected);
        let total = match &p.redis {
            None => local,
            Some(conn) => match p.sum_redis(conn, stream_id, &mine).await {
                Ok(t) => t,
                Err(e) => {
                    tracing::warn!(stream = stream_id, error = %e, "viewer count: redis failed; local figures only");
                    local
                }
            },
        };
        p.sender(stream_id).send_if_modified(|v| {
            let changed = *v != total;
            *v = total;
            changed
        });
        total
    }

    /// The stream's latest total (as of the engine's last report; zeros before the first).
    pub fn viewers(&self, stream_id: &str) -> Viewers {
        self.presence
            .streams
            .lock()
            .get(stream_id)
            .map(|tx| *tx.borrow())
            .unwrap_or_default()
    }

    /// For a WebSocket session: the stream's totals as they change.
    pub(crate) fn watch_viewers(&self, stream_id: &str) -> watch::Receiver<Viewers> {
        self.presence.subscribe(stream_id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn local_total_counts_players_and_sockets() {
        let p = Presence::connect(None).await.unwrap();
        let _a = p.subscribe("s1");
        let _b = p.subscribe("s1");
        let _other = p.subscribe("s2");
        assert_eq!(p.connected("s1"), 2);
        assert_eq!(p.connected("nope"), 0);
        let mut v = Viewers::default();
        v.add(
            Players {
                webrtc: 2,
                llhls: 3,
            },
            p.connected("s1"),
        );
        assert_eq!(
            v,
            Viewers {
                viewers: 5,
                webrtc: 2,
                llhls: 3,
                connected: 2
            }
        );
    }
}
