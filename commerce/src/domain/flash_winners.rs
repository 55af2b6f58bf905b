//! Flash-sale winners (reservations taken in Redis), group-committed: the winners that arrived
//! while the previous batch was committing go into one transaction — the ban check (one query),
//! their keys and orders
//! (multi-row inserts), the buyers' counts, one conditional `UPDATE` of each sale row and one
//! `flash.stock` event per sale (one bump of the stream's sequence row). Every winner waits for
//! its batch's commit before it is answered; if the commit fails, every winner of the batch gets
//! an error (and gives its reservation back). If SQL refuses what Redis granted (the backstop:
//! fewer units or a buyer over the limit in SQL), the batch is rolled back and its winners are
//! written one transaction each, as without batching.

use crate::command::SanctionKind;
use crate::db::with_pool;
use crate::db::BeginWrite;
use crate::domain::flash::{Sale, Written};
use crate::domain::group_commit::{fail_all, values};
use crate::domain::new_id;
use crate::domain::orders::OrderDraft;
use crate::error::CommerceError;
use crate::events::{append_events, Event, NewEvent};
use crate::Commerce;
use serde_json::json;
use sqlx::Row;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

/// Most winners per transaction (bind parameters stay far below both backends' limits).
pub(crate) const MAX_BATCH: usize = 128;

/// One reservation that won in Redis.
pub(crate) struct Winner {
    pub sale: Arc<Sale>,
    pub user_id: String,
    pub quantity: i64,
    pub key: String,
}

/// What a winner's batch did for it.
pub(crate) enum Won {
    /// A new `pending` order, committed.
    New(OrderDraft),
    /// The Idempotency-Key already had this order.
    Existing(String),
}

/// The batch transaction's outcome.
enum Batch {
    Done(Vec<Result<Won, CommerceError>>, Vec<Event>),
    /// SQL refused a reservation Redis granted: rolled back, redo one by one.
    Backstop,
}

fn draft(w: &Winner) -> OrderDraft {
    let s = &w.sale;
    OrderDraft {
        id: new_id("ord"),
        stream_id: s.stream_id.clone(),
        user_id: w.user_id.clone(),
        source: format!("flash:{}", s.id),
        items: vec![json!({ "product_id": s.product_id, "quantity": w.quantity,
                            "unit_price_minor": s.sale_price_minor, "sale_id": s.id })],
        total_minor: s.sale_price_minor * w.quantity,
        currency: s.currency.clone(),
        created_ms: crate::now_ms() as i64,
    }
}

impl Commerce {
    /// The winners' batcher body.
    pub(crate) async fn commit_winners(
        self: &Arc<Self>,
        batch: Vec<Winner>,
    ) -> Vec<Result<Won, CommerceError>> {
        let n = batch.len();
        let _g = self.db.write_gate().await;
        match self.winners_tx(&batch).await {
            Ok(Batch::Done(results, events)) => {
                drop(_g);
                tracing::debug!(winners = n, "flash winners committed in one transaction");
                self.publish(events).await;
                results
            }
            Ok(Batch::Backstop) => {
                tracing::warn!(
                    winners = n,
                    "SQL refused a Redis reservation; writing this batch one order at a time"
                );
                let mut out = Vec::with_capacity(n);
                let mut events = Vec::new();
                for w in &batch {
                    let banned = self
                        .refuse_if_sanctioned(&w.sale.stream_id, &w.user_id, &[SanctionKind::Ban])
                        .await;
                    if let Err(e) = banned {
                        out.push(Err(e));
                        continue;
                    }
                    out.push(
                        match self
                            .flash_write_order(&w.sale, &w.user_id, w.quantity, &w.key, false)
                            .await
                        {
                            Ok(Written::New(b)) => {
                                let (d, ev, _) = *b;
                                events.push(ev);
                                Ok(Won::New(d))
                            }
                            Ok(Written::Existing(o)) => Ok(Won::Existing(o)),
                            Err(e) => Err(e),
                        },
                    );
                }
                drop(_g);
                self.publish(events).await;
                out
            }
            Err(e) => fail_all(n, "flash winners", &e),
        }
    }

    async fn winners_tx(&self, batch: &[Winner]) -> Result<Batch, CommerceError> {
        let drafts: Vec<OrderDraft> = batch.iter().map(draft).collect();
        let provider = self.payments.name();
        let now = crate::now_ms() as i64;
        let stamps: BTreeMap<&str, crate::stamp::Stamp> = batch
            .iter()
            .map(|w| (w.sale.stream_id.as_str(), self.stamp_now(&w.sale.stream_id)))
            .collect();
        with_pool!(self.db, |p| {
            let mut tx = p.begin_write().await?;
            // 1. Banned buyers (one query per stream in the batch) get no order.
            let mut by_stream: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
            for w in batch {
                by_stream
                    .entry(&w.sale.stream_id)
                    .or_default()
                    .push(&w.user_id);
            }
            let mut banned: HashMap<(String, String), i64> = HashMap::new();
            for (stream, users) in &by_stream {
                let sql = format!(
                    "SELECT user_id, until_ms FROM commerce_sanctions WHERE stream_id = $1 AND kind = 'ban' \
                     AND until_ms > $2 AND user_id IN ({})",
                    (0..users.len()).map(|i| format!("${}", i + 3)).collect::<Vec<_>>().join(", ")
                );
                let mut q = sqlx::query(&sql).bind(*stream).bind(now);
                for u in users {
                    q = q.bind(*u);
                }
                for r in q.fetch_all(&mut *tx).await? {
                    let until: i64 = r.try_get("until_ms")?;
                    banned.insert(((*stream).to_owned(), r.try_get("user_id")?), until);
                }
            }
            let until_of = |w: &Winner| {
                banned
                    .get(&(w.sale.stream_id.clone(), w.user_id.clone()))
                    .copied()
            };
            // 2. Claim every other key, bound to its new order at once (same transaction).
            let candidates: Vec<usize> = (0..batch.len())
                .filter(|&i| until_of(&batch[i]).is_none())
                .collect();
            let mut claimed = HashSet::new();
            if !candidates.is_empty() {
                let sql = format!(
                    "INSERT INTO commerce_idempotency (user_id, idem_key, scope, result, created_ms) VALUES {} \
                     ON CONFLICT (user_id, idem_key) DO NOTHING RETURNING user_id, idem_key",
                    values(candidates.len(), 5, 0)
                );
                let mut q = sqlx::query(&sql);
                for &i in &candidates {
                    let (w, d) = (&batch[i], &drafts[i]);
                    q = q
                        .bind(&w.user_id)
                        .bind(&w.key)
                        .bind(&d.source)
                        .bind(&d.id)
                        .bind(now);
                }
                for r in q.fetch_all(&mut *tx).await? {
                    claimed.insert((
                        r.try_get::<String, _>("user_id")?,
                        r.try_get::<String, _>("idem_key")?,
                    ));
                }
            }
            let mut results: Vec<Option<Result<Won, CommerceError>>> =
                Vec::with_capacity(batch.len());
            let mut fresh = Vec::new();
            for (i, (w, d)) in batch.iter().zip(&drafts).enumerate() {
                if let Some(until) = until_of(w) {
                    tracing::info!(stream_id = %w.sale.stream_id, user_id = %w.user_id, "refused: user sanctioned");
                    results.push(Some(Err(CommerceError::refused(
                        "banned",
                        format!(
                            "you are banned on this stream for {} more seconds",
                            (until - now) / 1000 + 1
                        ),
                    ))));
                    continue;
                }
                if claimed.remove(&(w.user_id.clone(), w.key.clone())) {
                    fresh.push(i);
                    results.push(None);
                    continue;
                }
                // Used before (a retry racing its first attempt, or the key of another request).
                let r = sqlx::query("SELECT scope, result FROM commerce_idempotency WHERE user_id = $1 AND idem_key = $2")
                    .bind(&w.user_id)
                    .bind(&w.key)
                    .fetch_one(&mut *tx)
                    .await?;
                let scope: String = r.try_get("scope")?;
                let result: Option<String> = r.try_get("result")?;
                results.push(Some(match result {
                    _ if scope != d.source => Err(CommerceError::Invalid(format!(
                        "Idempotency-Key {} was used for a different request ({scope})",
                        w.key
                    ))),
                    Some(o) => Ok(Won::Existing(o)),
                    None => Err(CommerceError::refused(
                        "in_progress",
                        "a request with this Idempotency-Key is still in progress",
                    )),
                }));
            }
            if !fresh.is_empty() {
                // 2. The orders.
                let sql = format!(
                    "INSERT INTO commerce_orders (id, stream_id, user_id, source, items, total_minor, currency, status, \
                     payment_provider, payment_ref, test_mode, created_ms) VALUES {}",
                    values(fresh.len(), 12, 0)
                );
                let mut q = sqlx::query(&sql);
                for &i in &fresh {
                    let d = &drafts[i];
                    q = q
                        .bind(&d.id)
                        .bind(&d.stream_id)
                        .bind(&d.user_id)
                        .bind(&d.source)
                        .bind(serde_json::to_string(&d.items).map_err(crate::error::internal)?)
                        .bind(d.total_minor)
                        .bind(&d.currency)
                        .bind("pending")
                        .bind(provider)
                        .bind(None::<String>)
                        .bind(0i64)
                        .bind(d.created_ms);
                }
                q.execute(&mut *tx).await?;
            }
            // 3. Per sale: the buyers' counts, then the sale row (hot: taken late).
            let mut per_sale: BTreeMap<&str, (&Sale, BTreeMap<&str, i64>)> = BTreeMap::new();
            for &i in &fresh {
                let w = &batch[i];
                let e = per_sale
                    .entry(w.sale.id.as_str())
                    .or_insert((&w.sale, BTreeMap::new()));
                *e.1.entry(w.user_id.as_str()).or_default() += w.quantity;
            }
            let mut stock_events: BTreeMap<&str, Vec<NewEvent>> = BTreeMap::new();
            for (sale_id, (sale, buyers)) in &per_sale {
                let sql = format!(
                    "INSERT INTO commerce_flash_purchases (sale_id, user_id, qty) VALUES {} \
                     ON CONFLICT (sale_id, user_id) DO UPDATE SET qty = commerce_flash_purchases.qty + EXCLUDED.qty \
                     WHERE commerce_flash_purchases.qty + EXCLUDED.qty <= $1 RETURNING user_id",
                    values(buyers.len(), 3, 1)
                );
                let mut q = sqlx::query(&sql).bind(sale.per_customer_limit);
                for (user, qty) in buyers {
                    q = q.bind(*sale_id).bind(*user).bind(*qty);
                }
                if q.fetch_all(&mut *tx).await?.len() != buyers.len() {
                    return Ok(Batch::Backstop);
                }
                let total: i64 = buyers.values().sum();
                let left = sqlx::query(
                    "UPDATE commerce_flash_sales SET remaining = remaining - $2 WHERE id = $1 AND remaining >= $2 RETURNING remaining",
                )
                .bind(*sale_id)
                .bind(total)
                .fetch_optional(&mut *tx)
                .await?;
                let Some(left) = left else {
                    return Ok(Batch::Backstop);
                };
                let remaining: i64 = left.try_get("remaining")?;
                let stamp = stamps
                    .get(sale.stream_id.as_str())
                    .copied()
                    .unwrap_or_else(|| self.stamp_now(&sale.stream_id));
                stock_events
                    .entry(sale.stream_id.as_str())
                    .or_default()
                    .push(NewEvent::public(
                        "flash.stock",
                        None,
                        stamp,
                        json!({ "sale_id": sale_id, "remaining": remaining, "sold": total }),
                    ));
            }
            // 4. One `flash.stock` per sale: one bump of each stream's sequence row.
            let mut events = Vec::new();
            for (stream, evs) in stock_events {
                events.extend(append_events!(tx, stream, evs));
            }
            tx.commit().await?;
            let mut out = Vec::with_capacity(batch.len());
            for (r, d) in results.into_iter().zip(drafts) {
                out.push(r.unwrap_or(Ok(Won::New(d))));
            }
            Ok::<_, CommerceError>(Batch::Done(out, events))
        })
    }
}
