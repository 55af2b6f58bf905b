//! Flash-sale winners (reservations taken in Redis), group-committed: the winners that arrived
//! while the previous batch was committing go into one transaction — the ban check (one query),
//! their keys and orders
//! (multi-row inserts), the buyers' counts, one conditional `UPDATE` of each sale row and one
//! `flash.stock` event per sale (one bump of the stream's sequence row). On PostgreSQL all of it
//! is one call of `commerce_flash_winners` (migration 1002): one round trip, its own
//! transaction, on a connection the batcher keeps (two batches in flight, one kept connection
//! each, on the committers' own thread: see `group_commit`, `commit_thread`); SQLite runs the same
//! steps as statements, one batch at a time.
//! Every winner waits for
//! its batch's commit before it is answered; if the commit fails, every winner of the batch gets
//! an error (and gives its reservation back). If SQL refuses what Redis granted (the backstop:
//! fewer units or a buyer over the limit in SQL), the batch is rolled back and its winners are
//! written one transaction each, as without batching. A batch's new orders are then settled
//! together (one settlement batch, see `settlements`); its events are published and its keys
//! recorded in Redis after the answers.

use crate::command::SanctionKind;
use crate::db::BeginWrite;
use crate::db::{fetch_pinned, to_u64, with_pool, CommerceDb};
use crate::domain::flash::{Sale, Written};
use crate::domain::group_commit::{fail_all, values, After, BatchClock, Committed};
use crate::domain::new_id;
use crate::domain::orders::{OrderDraft, Restock};
use crate::error::CommerceError;
use crate::events::{append_events, Event, NewEvent};
use crate::Commerce;
use serde_json::json;
use sqlx::Row;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use tokio::sync::oneshot;

/// Most winners per transaction (bind parameters stay far below both backends' limits).
pub(crate) const MAX_BATCH: usize = 128;

/// One reservation that won in Redis.
pub(crate) struct Winner {
    pub sale: Arc<Sale>,
    pub user_id: String,
    pub quantity: i64,
    pub key: String,
    /// When it was handed to the batcher (timing report only).
    pub queued: std::time::Instant,
}

/// What a winner's batch did for it.
pub(crate) enum Won {
    /// A new `pending` order, committed (inside the batch only: answered as `Paying`).
    New(OrderDraft),
    /// A new order, committed; its payment is being settled with the batch's other new orders:
    /// the settled order (or the settlement's error) comes through here.
    Paying(oneshot::Receiver<Result<serde_json::Value, CommerceError>>),
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
    /// The winners' batcher body (`lane`: which kept connection, see `group_commit`).
    pub(crate) async fn commit_winners(
        self: &Arc<Self>,
        lane: usize,
        batch: Vec<Winner>,
    ) -> Committed<Won> {
        let n = batch.len();
        let clock = BatchClock::start(batch.iter().map(|j| j.queued));
        let _g = self.db.write_gate().await;
        match self.winners_tx(lane, &batch).await {
            Ok(Batch::Done(results, events)) => {
                drop(_g);
                tracing::debug!(
                    target: "showroom_commerce::flash_timing",
                    winners = n,
                    lane,
                    at_us = clock.at_us,
                    waited_us = clock.waited_us,
                    tx_us = clock.elapsed_us(),
                    "flash winners batch committed"
                );
                let (results, after) = self.after_winners(&batch, results, events);
                (results, Some(after))
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
                let (out, after) = self.after_winners(&batch, out, events);
                (out, Some(after))
            }
            Err(e) => (fail_all(n, "flash winners", &e), None),
        }
    }

    /// Settle the batch's new orders together (one settlement batch, started now), each winner
    /// getting its settled order through [`Won::Paying`]; once the winners are answered, publish
    /// the batch's events and record each new order under its Idempotency-Key in Redis (one
    /// pipeline; until then a retry finds the key pending in Redis and reads the order from SQL).
    fn after_winners(
        self: &Arc<Self>,
        batch: &[Winner],
        results: Vec<Result<Won, CommerceError>>,
        events: Vec<Event>,
    ) -> (Vec<Result<Won, CommerceError>>, After) {
        let mut keys = Vec::new();
        let mut to_settle = Vec::new();
        let mut out = Vec::with_capacity(results.len());
        for (w, r) in batch.iter().zip(results) {
            out.push(match r {
                Ok(Won::New(d)) => {
                    keys.push((
                        w.sale.id.clone(),
                        w.user_id.clone(),
                        w.key.clone(),
                        d.id.clone(),
                    ));
                    let restock = Restock::Flash {
                        sale_id: w.sale.id.clone(),
                        qty: w.quantity,
                    };
                    let (tx, rx) = oneshot::channel();
                    to_settle.push((d, restock, tx));
                    Ok(Won::Paying(rx))
                }
                other => other,
            });
        }
        // Settled at once (the settlement batcher merges what arrives together), not behind
        // earlier batches' `after`.
        let shop = Arc::clone(self);
        let committed = std::time::Instant::now();
        tokio::spawn(async move {
            tracing::debug!(
                target: "showroom_commerce::flash_timing",
                orders = to_settle.len(),
                started_us = committed.elapsed().as_micros() as u64,
                "flash settlements started"
            );
            let settled = futures::future::join_all(
                to_settle
                    .iter()
                    .map(|(d, restock, _)| shop.settle(d, restock.clone())),
            )
            .await;
            for ((_, _, tx), order) in to_settle.into_iter().zip(settled) {
                let _ = tx.send(order); // the buyer may have gone
            }
        });
        let shop = Arc::clone(self);
        let after: After = Box::pin(async move {
            shop.publish(events).await;
            if let Some(stock) = &shop.flash_stock {
                if let Err(e) = stock.commit_all(&keys).await {
                    tracing::warn!(error = %e, "could not record flash idempotency keys in redis");
                }
            }
        });
        (out, after)
    }

    async fn winners_tx(&self, lane: usize, batch: &[Winner]) -> Result<Batch, CommerceError> {
        if let CommerceDb::Postgres(p) = &self.db.pool {
            return self.winners_pg(lane, p, batch).await;
        }
        let drafts: Vec<OrderDraft> = batch.iter().map(draft).collect();
        let provider = self.payments.name();
        let now = crate::now_ms() as i64;
        let stamps: BTreeMap<&str, crate::stamp::Stamp> = batch
            .iter()
            .map(|w| (w.sale.stream_id.as_str(), self.stamp_now(&w.sale.stream_id)))
            .collect();
        with_pool!(self.db, |p| {
            let t = std::time::Instant::now();
            let mut laps: Vec<(&str, u64)> = Vec::new();
            let mut lap = |name| laps.push((name, t.elapsed().as_micros() as u64));
            let mut tx = p.begin_write().await?;
            lap("begin");
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
            lap("bans");
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
            lap("keys");
            let mut results: Vec<Option<Result<Won, CommerceError>>> =
                Vec::with_capacity(batch.len());
            let mut fresh = Vec::new();
            for (i, (w, d)) in batch.iter().zip(&drafts).enumerate() {
                if let Some(until) = until_of(w) {
                    tracing::info!(stream_id = %w.sale.stream_id, user_id = %w.user_id, "refused: user sanctioned");
                    results.push(Some(Err(banned_for(until - now))));
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
                results.push(Some(used(w, d, r.try_get("scope")?, r.try_get("result")?)));
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
            lap("orders");
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
            lap("counts+sale");
            // 4. One `flash.stock` per sale: one bump of each stream's sequence row.
            let mut events = Vec::new();
            for (stream, evs) in stock_events {
                events.extend(append_events!(tx, stream, evs));
            }
            lap("event");
            tx.commit().await?;
            lap("commit");
            tracing::debug!(target: "showroom_commerce::flash_timing", ?laps, "flash winners statements");
            let mut out = Vec::with_capacity(batch.len());
            for (r, d) in results.into_iter().zip(drafts) {
                out.push(r.unwrap_or(Ok(Won::New(d))));
            }
            Ok::<_, CommerceError>(Batch::Done(out, events))
        })
    }
}

impl Commerce {
    /// PostgreSQL: run both batch functions once with nothing in them, on each of the
    /// committers' kept connections, so the first real batch does not also plan them.
    pub(crate) async fn warm_group_commits(&self) {
        if let CommerceDb::Postgres(p) = &self.db.pool {
            for lane in 0..crate::db::LANES {
                let warm = async {
                    self.winners_pg(lane, p, &[]).await?;
                    crate::domain::settlements::settle_pg(&self.db.settle_conn[lane], p, &[])
                        .await?;
                    for conn in [&self.db.winners_conn[lane], &self.db.settle_conn[lane]] {
                        let mut slot = conn.get(p).await?;
                        if let Some(c) = slot.as_mut() {
                            warm_whole_batch(c).await?;
                        }
                    }
                    Ok::<_, CommerceError>(())
                };
                if let Err(e) = warm.await {
                    tracing::warn!(error = %e, "group commit functions not warmed up");
                }
            }
        }
    }

    /// PostgreSQL: the whole batch in one round trip (`commerce_flash_winners`, migration 1002),
    /// run as one statement outside `BEGIN`, i.e. its own transaction, on lane `lane`'s kept
    /// connection. The winners go to the function sorted by (user, key): batches on two lanes
    /// then claim keys in the same order (no deadlock between them on a retried key).
    async fn winners_pg(
        &self,
        lane: usize,
        p: &sqlx::PgPool,
        batch: &[Winner],
    ) -> Result<Batch, CommerceError> {
        let mut ord: Vec<usize> = (0..batch.len()).collect();
        ord.sort_by(|&x, &y| {
            (&batch[x].user_id, &batch[x].key).cmp(&(&batch[y].user_id, &batch[y].key))
        });
        let sorted: Vec<&Winner> = ord.iter().map(|&k| &batch[k]).collect();
        let drafts: Vec<OrderDraft> = sorted.iter().map(|w| draft(w)).collect();
        let now = crate::now_ms() as i64;
        let stamps: BTreeMap<&str, crate::stamp::Stamp> = sorted
            .iter()
            .map(|w| (w.sale.stream_id.as_str(), self.stamp_now(&w.sale.stream_id)))
            .collect();
        let stamp_of = |w: &Winner| stamps[w.sale.stream_id.as_str()];
        let col = |f: fn(&Winner, &OrderDraft) -> String| -> Vec<String> {
            sorted.iter().zip(&drafts).map(|(w, d)| f(w, d)).collect()
        };
        let num = |f: fn(&Winner, &OrderDraft) -> i64| -> Vec<i64> {
            sorted.iter().zip(&drafts).map(|(w, d)| f(w, d)).collect()
        };
        let mut items = Vec::with_capacity(batch.len());
        for d in &drafts {
            items.push(serde_json::to_string(&d.items).map_err(crate::error::internal)?);
        }
        let opt = |f: fn(crate::stamp::Stamp) -> Option<u64>| -> Vec<Option<i64>> {
            sorted
                .iter()
                .map(|w| f(stamp_of(w)).map(|v| v as i64))
                .collect()
        };
        let query = sqlx::query(
            "SELECT i, outcome, a, b, n, seq FROM commerce_flash_winners($1, $2, $3, $4, $5, $6, $7, $8, \
             $9, $10, $11, $12, $13, $14, $15, $16, $17)",
        )
        .bind(now)
        .bind(self.payments.name())
        .bind(col(|w, _| w.user_id.clone()))
        .bind(col(|w, _| w.key.clone()))
        .bind(col(|w, _| w.sale.stream_id.clone()))
        .bind(col(|w, _| w.sale.id.clone()))
        .bind(col(|_, d| d.source.clone()))
        .bind(col(|_, d| d.id.clone()))
        .bind(items)
        .bind(num(|_, d| d.total_minor))
        .bind(col(|_, d| d.currency.clone()))
        .bind(num(|w, _| w.quantity))
        .bind(num(|w, _| w.sale.per_customer_limit))
        .bind(num(|_, d| d.created_ms))
        .bind(opt(|s| s.epoch))
        .bind(opt(|s| s.pts_ms))
        .bind(sorted.iter().map(|w| stamp_of(w).pdt_ms as i64).collect::<Vec<_>>());
        let rows = fetch_pinned!(self.db.winners_conn[lane], p, query);
        let rows = match rows {
            Err(sqlx::Error::Database(e)) if e.code().as_deref() == Some("SR001") => {
                tracing::debug!(error = %e, "flash winners: SQL refused a reservation");
                return Ok(Batch::Backstop);
            }
            r => r?,
        };
        let mut results: Vec<Option<Result<Won, CommerceError>>> =
            (0..batch.len()).map(|_| None).collect();
        let mut stock = Vec::new();
        for r in rows {
            let i: i32 = r.try_get("i")?;
            let outcome: String = r.try_get("outcome")?;
            let a: Option<String> = r.try_get("a")?;
            let b: Option<String> = r.try_get("b")?;
            let n: Option<i64> = r.try_get("n")?;
            if outcome == "stock" {
                let seq: Option<i64> = r.try_get("seq")?;
                stock.push((a.unwrap_or_default(), b.unwrap_or_default(), n, seq));
                continue;
            }
            let Some(k) = usize::try_from(i - 1).ok().filter(|&k| k < batch.len()) else {
                return Err(CommerceError::Internal(format!(
                    "flash winners: row for winner {i} of {}",
                    batch.len()
                )));
            };
            let (w, d) = (sorted[k], &drafts[k]);
            results[ord[k]] = Some(match outcome.as_str() {
                "new" => Ok(Won::New(d.clone())),
                "banned" => {
                    tracing::info!(stream_id = %w.sale.stream_id, user_id = %w.user_id, "refused: user sanctioned");
                    Err(banned_for(n.unwrap_or(now) - now))
                }
                _ => used(w, d, a.unwrap_or_default(), b),
            });
        }
        // One `flash.stock` event per sale with new orders (numbered by the function).
        let mut events = Vec::with_capacity(stock.len());
        for (sale_id, stream, remaining, seq) in stock {
            let sold: i64 = batch
                .iter()
                .zip(&results)
                .filter(|(w, r)| w.sale.id == sale_id && matches!(r, Some(Ok(Won::New(_)))))
                .map(|(w, _)| w.quantity)
                .sum();
            let Some(stamp) = stamps.get(stream.as_str()).copied() else {
                return Err(CommerceError::Internal(format!(
                    "flash winners: event for stream {stream} not in the batch"
                )));
            };
            events.push(Event {
                seq: to_u64(seq.unwrap_or(0)),
                kind: "flash.stock".into(),
                actor: None,
                to: None,
                stamp,
                data: json!({ "sale_id": sale_id, "remaining": remaining.unwrap_or(0), "sold": sold }),
                stream_id: stream,
            });
        }
        let mut out = Vec::with_capacity(batch.len());
        for r in results {
            out.push(r.unwrap_or_else(|| {
                Err(CommerceError::Internal(
                    "flash winners: no outcome for a winner".into(),
                ))
            }));
        }
        Ok(Batch::Done(out, events))
    }
}

/// One winner and its settlement on a sale that exists only in this transaction, rolled back:
/// every statement of both batch functions runs once on this connection (the empty warm-up
/// above skips their per-sale/per-stream loops), so the first real batch of a burst finds them
/// planned and their tables' metadata loaded. Nothing is left behind (another stream's
/// sequence row, rolled back).
async fn warm_whole_batch(c: &mut sqlx::PgConnection) -> Result<(), CommerceError> {
    use sqlx::Connection;
    const ID: &str = "\u{1}warm-up";
    let mut tx = c.begin().await?;
    sqlx::query(
        "INSERT INTO commerce_flash_sales (id, stream_id, product_id, sale_price_minor, currency, \
         stock_limit, remaining, per_customer_limit, duration_ms, state, created_ms) \
         VALUES ($1, $1, $1, 1, 'EUR', 1, 1, 1, 1, 'live', 0)",
    )
    .bind(ID)
    .execute(&mut *tx)
    .await?;
    let one = vec![ID];
    sqlx::query(
        "SELECT i FROM commerce_flash_winners(0, 'warm-up', $1, $1, $1, $1, $1, $1, $2, $3, $4, \
         $3, $3, $5, $6, $6, $5)",
    )
    .bind(&one)
    .bind(vec!["[]"])
    .bind(vec![1i64])
    .bind(vec!["EUR"])
    .bind(vec![0i64])
    .bind(vec![None::<i64>])
    .fetch_all(&mut *tx)
    .await?;
    sqlx::query("SELECT last FROM commerce_settle($1, $2, $3, $4, $1, $1, $5, $6, $6, $4)")
        .bind(&one)
        .bind(vec!["paid"])
        .bind(vec![None::<String>])
        .bind(vec![0i64])
        .bind(vec!["{}"])
        .bind(vec![None::<i64>])
        .fetch_all(&mut *tx)
        .await?;
    tx.rollback().await?;
    Ok(())
}

/// A winner whose buyer is banned for `left_ms` more.
fn banned_for(left_ms: i64) -> CommerceError {
    CommerceError::refused(
        "banned",
        format!(
            "you are banned on this stream for {} more seconds",
            left_ms / 1000 + 1
        ),
    )
}

/// A winner whose Idempotency-Key was used before (for `scope`, with `order` if committed).
fn used(
    w: &Winner,
    d: &OrderDraft,
    scope: String,
    order: Option<String>,
) -> Result<Won, CommerceError> {
    match order {
        _ if scope != d.source => Err(CommerceError::Invalid(format!(
            "Idempotency-Key {} was used for a different request ({scope})",
            w.key
        ))),
        Some(o) => Ok(Won::Existing(o)),
        None => Err(CommerceError::refused(
            "in_progress",
            "a request with this Idempotency-Key is still in progress",
        )),
    }
}
