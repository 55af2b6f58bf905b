//! Payment outcomes of committed orders, group-committed: every settlement that arrived while
//! the previous batch was committing goes in one transaction: every order's status in one
//! `UPDATE ... FROM (VALUES ...)`, any restock, and the `order.updated` events (one multi-row
//! insert, one bump of each stream's sequence row).

use crate::db::with_pool;
use crate::db::BeginWrite;
use crate::domain::group_commit::{fail_all, values};
use crate::domain::orders::{OrderDraft, Restock};
use crate::error::CommerceError;
use crate::events::{append_events, Event, NewEvent};
use crate::stamp::Stamp;
use crate::Commerce;
use serde_json::json;
use std::collections::BTreeMap;
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
}

impl Commerce {
    /// The settlement batcher's body: one transaction, events published after commit.
    pub(crate) async fn commit_settlements(
        self: &Arc<Self>,
        batch: Vec<Settlement>,
    ) -> Vec<Result<(), CommerceError>> {
        let n = batch.len();
        let _g = self.db.write_gate().await;
        let res = self.settlements_tx(&batch).await;
        drop(_g);
        match res {
            Ok(events) => {
                self.publish(events).await;
                (0..n).map(|_| Ok(())).collect()
            }
            Err(e) => fail_all(n, "order settlement", &e),
        }
    }

    async fn settlements_tx(&self, batch: &[Settlement]) -> Result<Vec<Event>, CommerceError> {
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
                by_stream.entry(&d.stream_id).or_default().push(NewEvent {
                    kind: "order.updated",
                    actor: None,
                    to: Some(d.user_id.clone()),
                    stamp: s.stamp,
                    data: json!({ "order_id": d.id, "status": s.status, "total_minor": d.total_minor,
                                  "currency": d.currency, "test_mode": s.test_mode }),
                });
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
