//! Payment outcomes of committed orders, group-committed: every settlement that arrived while
//! the previous batch was committing goes in one transaction: every order's status in one
//! `UPDATE ... FROM (VALUES ...)`, any restock, and the `order.updated` events (one multi-row
//! insert, one bump of each stream's sequence row). On PostgreSQL, a batch without restock is
//! one call of `commerce_settle` (migration 1002): one round trip on the batcher's connection.
//! Callers are answered before the events are published.

use crate::db::BeginWrite;
use crate::db::{fetch_pinned, to_u64, with_pool, CommerceDb, Pinned};
use crate::domain::group_commit::{fail_all, values, After, BatchClock, Committed};
use crate::domain::orders::{OrderDraft, Restock};
use crate::error::CommerceError;
use crate::events::{append_events, Event, NewEvent};
use crate::stamp::Stamp;
use crate::Commerce;
use serde_json::json;
use sqlx::Row;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

/// Most settlements per transaction.
pub(crate) const MAX_BATCH: usize = 128;

/// One order's payment outcome, to be recorded.
pub(crate) struct Settlement {
    pub draft: OrderDraft,
    /// `paid` or `payment_failed`.
    pub status: &'static str,
    pub reference: Option<String>,
    pub test_mode: bool,
    /// What to give back (payment failed only).
    pub restock: Option<Restock>,
    pub stamp: Stamp,
    /// When it was handed to the batcher (timing report only).
    pub queued: std::time::Instant,
}

impl Commerce {
    /// The settlement batcher's body: one transaction (on lane `lane`'s kept connection, see
    /// `group_commit`), events published after commit.
    pub(crate) async fn commit_settlements(
        self: &Arc<Self>,
        lane: usize,
        batch: Vec<Settlement>,
    ) -> Committed<()> {
        let n = batch.len();
        let clock = BatchClock::start(batch.iter().map(|j| j.queued));
        let _g = self.db.write_gate().await;
        let res = self.settlements_tx(lane, &batch).await;
        drop(_g);
        tracing::debug!(
            target: "showroom_commerce::flash_timing",
            settlements = n,
            lane,
            at_us = clock.at_us,
            waited_us = clock.waited_us,
            tx_us = clock.elapsed_us(),
            "settlement batch committed"
        );
        match res {
            // Answered first, then published (in commit order).
            Ok(events) => {
                let shop = Arc::clone(self);
                let after: After = Box::pin(async move { shop.publish(events).await });
                ((0..n).map(|_| Ok(())).collect(), Some(after))
            }
            Err(e) => (fail_all(n, "order settlement", &e), None),
        }
    }

    async fn settlements_tx(
        &self,
        lane: usize,
        batch: &[Settlement],
    ) -> Result<Vec<Event>, CommerceError> {
        if let (CommerceDb::Postgres(p), true) =
            (&self.db.pool, batch.iter().all(|s| s.restock.is_none()))
        {
            return settle_pg(&self.db.settle_conn[lane], p, batch).await;
        }
        with_pool!(self.db, |p| {
            let mut tx = p.begin_write().await?;
            // Every order's outcome in one statement (VALUES columns are column1.. on both).
            let sql = format!(
                "UPDATE commerce_orders SET status = v.column2, payment_ref = v.column3, test_mode = v.column4 \
                 FROM (VALUES {}) AS v WHERE commerce_orders.id = v.column1 AND commerce_orders.status = 'pending'",
                values(batch.len(), 4, 0)
            );
            let mut q = sqlx::query(&sql);
            for s in batch {
                q = q
                    .bind(&s.draft.id)
                    .bind(s.status)
                    .bind(&s.reference)
                    .bind(i64::from(s.test_mode));
            }
            q.execute(&mut *tx).await?;
            let mut by_stream: BTreeMap<&str, Vec<NewEvent>> = BTreeMap::new();
            for s in batch {
                let d = &s.draft;
                match &s.restock {
                    None => {}
                    Some(Restock::Products(items)) => {
                        for (pid, qty) in items {
                            sqlx::query(
                                "UPDATE commerce_products SET stock = stock + $2 WHERE id = $1",
                            )
                            .bind(pid)
                            .bind(*qty)
                            .execute(&mut *tx)
                            .await?;
                        }
                    }
                    Some(Restock::Flash { sale_id, qty }) => {
                        sqlx::query("UPDATE commerce_flash_sales SET remaining = remaining + $2 WHERE id = $1")
                            .bind(sale_id)
                            .bind(*qty)
                            .execute(&mut *tx)
                            .await?;
                        sqlx::query("UPDATE commerce_flash_purchases SET qty = qty - $3 WHERE sale_id = $1 AND user_id = $2")
                            .bind(sale_id)
                            .bind(&d.user_id)
                            .bind(*qty)
                            .execute(&mut *tx)
                            .await?;
                    }
                }
                by_stream.entry(&d.stream_id).or_default().push(event(s));
            }
            // The stream's sequence row last: it is the hot row, held only until commit.
            let mut events = Vec::new();
            for (stream, evs) in by_stream {
                events.extend(append_events!(tx, stream, evs));
            }
            tx.commit().await?;
            Ok::<_, CommerceError>(events)
        })
    }
}

/// The `order.updated` event of one settlement (private to the buyer).
fn event(s: &Settlement) -> NewEvent {
    let d = &s.draft;
    NewEvent {
        kind: "order.updated",
        actor: None,
        to: Some(d.user_id.clone()),
        stamp: s.stamp,
        data: json!({ "order_id": d.id, "status": s.status, "total_minor": d.total_minor,
                      "currency": d.currency, "test_mode": s.test_mode }),
    }
}

/// PostgreSQL, no restock in the batch: one round trip (`commerce_settle`, migration 1002), its
/// own transaction. Events are numbered per stream in batch order.
pub(crate) async fn settle_pg(
    conn: &Pinned,
    p: &sqlx::PgPool,
    batch: &[Settlement],
) -> Result<Vec<Event>, CommerceError> {
    let evs: Vec<NewEvent> = batch.iter().map(event).collect();
    let mut datas = Vec::with_capacity(evs.len());
    for ev in &evs {
        datas.push(serde_json::to_string(&ev.data).map_err(crate::error::internal)?);
    }
    let query = sqlx::query(
        "SELECT stream, last, events FROM commerce_settle($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
    )
    .bind(
        batch
            .iter()
            .map(|s| s.draft.id.as_str())
            .collect::<Vec<_>>(),
    )
    .bind(batch.iter().map(|s| s.status).collect::<Vec<_>>())
    .bind(
        batch
            .iter()
            .map(|s| s.reference.clone())
            .collect::<Vec<_>>(),
    )
    .bind(
        batch
            .iter()
            .map(|s| i64::from(s.test_mode))
            .collect::<Vec<_>>(),
    )
    .bind(
        batch
            .iter()
            .map(|s| s.draft.stream_id.as_str())
            .collect::<Vec<_>>(),
    )
    .bind(evs.iter().map(|e| e.to.clone()).collect::<Vec<_>>())
    .bind(datas)
    .bind(
        evs.iter()
            .map(|e| e.stamp.epoch.map(|v| v as i64))
            .collect::<Vec<_>>(),
    )
    .bind(
        evs.iter()
            .map(|e| e.stamp.pts_ms.map(|v| v as i64))
            .collect::<Vec<_>>(),
    )
    .bind(
        evs.iter()
            .map(|e| e.stamp.pdt_ms as i64)
            .collect::<Vec<_>>(),
    );
    let rows = fetch_pinned!(conn, p, query)?;
    // Next seq per stream: last - events + 1, handed out in batch order.
    let mut next: HashMap<String, i64> = HashMap::new();
    for r in rows {
        let (last, n): (i64, i64) = (r.try_get("last")?, r.try_get("events")?);
        next.insert(r.try_get("stream")?, last - n + 1);
    }
    let mut out = Vec::with_capacity(evs.len());
    for (s, ev) in batch.iter().zip(evs) {
        let stream = &s.draft.stream_id;
        let Some(seq) = next.get_mut(stream) else {
            return Err(CommerceError::Internal(format!(
                "order settlement: no sequence for stream {stream}"
            )));
        };
        out.push(Event {
            stream_id: stream.clone(),
            seq: to_u64(*seq),
            kind: ev.kind.to_owned(),
            actor: ev.actor,
            to: ev.to,
            stamp: ev.stamp,
            data: ev.data,
        });
        *seq += 1;
    }
    Ok(out)
}
