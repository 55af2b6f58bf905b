//! Events: every change on a stream gets the stream's next sequence number, is stored (history
//! and timeline), then fanned out through the bus.

use crate::db::{to_u64, with_pool, Db};
use crate::error::CommerceError;
use crate::stamp::Stamp;
use serde::{Deserialize, Serialize};
use sqlx::Row;

/// One event on a stream.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    pub stream_id: String,
    /// Monotonic per stream, starting at 1, without gaps.
    pub seq: u64,
    /// e.g. `pin.added`, `poll.results`, `flash.stock`, `chat.message`.
    pub kind: String,
    /// User id of whoever caused it.
    pub actor: Option<String>,
    /// Only this user (and staff) receive it, e.g. order updates; `None` = everyone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<String>,
    pub stamp: Stamp,
    pub data: serde_json::Value,
}

/// An event not yet sequenced (produced inside a domain transaction).
#[derive(Debug, Clone)]
pub(crate) struct NewEvent {
    pub kind: &'static str,
    pub actor: Option<String>,
    pub to: Option<String>,
    pub stamp: Stamp,
    pub data: serde_json::Value,
}

impl NewEvent {
    /// A public event.
    pub fn public(
        kind: &'static str,
        actor: Option<&str>,
        stamp: Stamp,
        data: serde_json::Value,
    ) -> Self {
        Self {
            kind,
            actor: actor.map(str::to_owned),
            to: None,
            stamp,
            data,
        }
    }
}

/// Sequence and store `$evs` (a `Vec<`[`NewEvent`]`>`) for `$stream` inside transaction `$tx`:
/// one bump of the stream's counter row by the number of events, one multi-row insert. The
/// counter row stays locked until commit, so commits happen in sequence order and the
/// sequence has no gaps (see docs/commerce.md, "Why a counter row"). Evaluates to the events.
macro_rules! append_events {
    ($tx:expr, $stream:expr, $evs:expr) => {{
        let evs: Vec<$crate::events::NewEvent> = $evs;
        let stream: &str = $stream;
        let mut out = Vec::with_capacity(evs.len());
        if !evs.is_empty() {
            let n = evs.len() as i64;
            let row = sqlx::query(
                "INSERT INTO commerce_stream_seq (stream_id, seq) VALUES ($1, $2) \
                 ON CONFLICT (stream_id) DO UPDATE SET seq = commerce_stream_seq.seq + $2 RETURNING seq",
            )
            .bind(stream)
            .bind(n)
            .fetch_one(&mut *$tx)
            .await?;
            let last: i64 = sqlx::Row::try_get(&row, "seq")?;
            let mut datas = Vec::with_capacity(evs.len());
            for ev in &evs {
                datas.push(serde_json::to_string(&ev.data).map_err($crate::error::internal)?);
            }
            let sql = format!(
                "INSERT INTO commerce_events (stream_id, seq, kind, actor, audience, data, epoch, pts_ms, pdt_ms) VALUES {}",
                $crate::domain::group_commit::values(evs.len(), 9, 0)
            );
            let mut q = sqlx::query(&sql);
            for (i, (ev, data)) in evs.iter().zip(datas).enumerate() {
                q = q
                    .bind(stream)
                    .bind(last - n + 1 + i as i64)
                    .bind(ev.kind)
                    .bind(ev.actor.clone())
                    .bind(ev.to.clone())
                    .bind(data)
                    .bind(ev.stamp.epoch.map(|v| v as i64))
                    .bind(ev.stamp.pts_ms.map(|v| v as i64))
                    .bind(ev.stamp.pdt_ms as i64);
            }
            q.execute(&mut *$tx).await?;
            for (i, ev) in evs.into_iter().enumerate() {
                out.push($crate::events::Event {
                    stream_id: stream.to_owned(),
                    seq: $crate::db::to_u64(last - n + 1 + i as i64),
                    kind: ev.kind.to_owned(),
                    actor: ev.actor,
                    to: ev.to,
                    stamp: ev.stamp,
                    data: ev.data,
                });
            }
        }
        out
    }};
}
pub(crate) use append_events;

/// Sequence and store one `$ev` (a [`NewEvent`]) for `$stream` inside transaction `$tx`.
macro_rules! append_event {
    ($tx:expr, $stream:expr, $ev:expr) => {{
        let ev: $crate::events::NewEvent = $ev;
        $crate::events::append_events!($tx, $stream, vec![ev])
            .pop()
            .ok_or_else(|| $crate::error::internal("event not sequenced"))?
    }};
}
pub(crate) use append_event;

const SELECT: &str = "SELECT stream_id, seq, kind, actor, audience, data, epoch, pts_ms, pdt_ms FROM commerce_events";

fn from_row<R: Row>(r: &R) -> Result<Event, CommerceError>
where
    for<'a> &'a str: sqlx::ColumnIndex<R>,
    for<'a> String: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
    for<'a> i64: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
    for<'a> Option<String>: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
    for<'a> Option<i64>: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
{
    let data: String = r.try_get("data")?;
    Ok(Event {
        stream_id: r.try_get("stream_id")?,
        seq: to_u64(r.try_get("seq")?),
        kind: r.try_get("kind")?,
        actor: r.try_get("actor")?,
        to: r.try_get("audience")?,
        stamp: Stamp {
            epoch: r.try_get::<Option<i64>, _>("epoch")?.map(to_u64),
            pts_ms: r.try_get::<Option<i64>, _>("pts_ms")?.map(to_u64),
            pdt_ms: to_u64(r.try_get("pdt_ms")?),
        },
        data: crate::db::json_col(&data)?,
    })
}

impl Db {
    /// Events with `after < seq <= upto`, oldest first, at most `limit`.
    pub(crate) async fn events_range(
        &self,
        stream_id: &str,
        after: u64,
        upto: u64,
        limit: u64,
    ) -> Result<Vec<Event>, CommerceError> {
        let sql = format!(
            "{SELECT} WHERE stream_id = $1 AND seq > $2 AND seq <= $3 ORDER BY seq LIMIT $4"
        );
        let after = crate::db::to_i64(after)?;
        let upto = crate::db::to_i64(upto.min(i64::MAX as u64))?;
        let limit = crate::db::to_i64(limit)?;
        with_pool!(self, |p| {
            let rows = sqlx::query(&sql)
                .bind(stream_id)
                .bind(after)
                .bind(upto)
                .bind(limit)
                .fetch_all(p)
                .await?;
            rows.iter().map(from_row).collect()
        })
    }

    /// The newest sequence number of a stream (0 = no events yet).
    pub(crate) async fn head_seq(&self, stream_id: &str) -> Result<u64, CommerceError> {
        with_pool!(self, |p| {
            let row = sqlx::query("SELECT seq FROM commerce_stream_seq WHERE stream_id = $1")
                .bind(stream_id)
                .fetch_optional(p)
                .await?;
            Ok(match row {
                Some(r) => to_u64(r.try_get("seq")?),
                None => 0,
            })
        })
    }
}
