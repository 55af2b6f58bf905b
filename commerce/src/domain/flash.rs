//! Flash sales: sale price, stock limit, per-customer limit, countdown, a window in stream time
//! (see `sale_window`), and stock decremented by one conditional UPDATE: never oversold.

use crate::auth::Actor;
use crate::command::SanctionKind;
use crate::db::BeginWrite;
use crate::db::{json_col, to_u64, with_pool};
use crate::directory::TimelineMarker;
use crate::domain::flash_stock::{FlashStock, Release, Reservation, SeedData};
use crate::domain::flash_winners::{Winner, Won};
use crate::domain::orders::{claim_key, insert_order, key_or_fresh, OrderDraft, Restock};
use crate::domain::{new_id, positive};
use crate::error::CommerceError;
use crate::events::{append_event, Event, NewEvent};
use crate::sale_window::{Playout, ServerNow, Verdict, Window};
use crate::stamp::{from_unix_ms, Stamp};
use crate::Commerce;
use serde_json::{json, Value};
use sqlx::Row;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

pub(crate) const FLASH_CLASS: &str = "com.showroom.flash-sale";

const COLS: &str =
    "id, stream_id, product_id, sale_price_minor, currency, stock_limit, remaining, \
                    per_customer_limit, duration_ms, state, win";

#[derive(Debug, Clone, serde::Serialize)]
pub(crate) struct Sale {
    pub(crate) id: String,
    pub(crate) stream_id: String,
    pub(crate) product_id: String,
    pub(crate) sale_price_minor: i64,
    pub(crate) currency: String,
    pub(crate) stock_limit: i64,
    pub(crate) remaining: i64,
    pub(crate) per_customer_limit: i64,
    pub(crate) duration_ms: u64,
    /// `scheduled`, `live` or `ended`.
    pub(crate) state: String,
    pub(crate) window: Option<Window>,
}

macro_rules! load_sale {
    ($exec:expr, $sale_id:expr, $stream_id:expr) => {{
        let sql =
            format!("SELECT {COLS} FROM commerce_flash_sales WHERE id = $1 AND stream_id = $2");
        let r = sqlx::query(&sql)
            .bind($sale_id)
            .bind($stream_id)
            .fetch_optional($exec)
            .await?
            .ok_or_else(|| CommerceError::NotFound(format!("flash sale {}", $sale_id)))?;
        sale_from_row!(&r)
    }};
}

macro_rules! sale_from_row {
    ($r:expr) => {{
        let r = $r;
        let win: Option<String> = r.try_get("win")?;
        Sale {
            id: r.try_get("id")?,
            stream_id: r.try_get("stream_id")?,
            product_id: r.try_get("product_id")?,
            sale_price_minor: r.try_get("sale_price_minor")?,
            currency: r.try_get("currency")?,
            stock_limit: r.try_get("stock_limit")?,
            remaining: r.try_get("remaining")?,
            per_customer_limit: r.try_get("per_customer_limit")?,
            duration_ms: to_u64(r.try_get("duration_ms")?),
            state: r.try_get("state")?,
            window: match win {
                Some(w) => Some(json_col::<Window>(&w)?),
                None => None,
            },
        }
    }};
}

fn to_value(s: &Sale) -> Result<Value, CommerceError> {
    serde_json::to_value(s).map_err(crate::error::internal)
}

impl Commerce {
    fn server_now(&self, stream_id: &str) -> ServerNow {
        let wall = SystemTime::now();
        ServerNow {
            clock: self
                .streams
                .clock(stream_id)
                .map(|c| (c.epoch, c.pts.as_millis() as u64)),
            wall_ms: crate::stamp::unix_ms(wall),
        }
    }

    fn mark_sale(&self, sale: &Sale, w: &Window) {
        self.streams.mark(
            &sale.stream_id,
            TimelineMarker {
                id: sale.id.clone(),
                class: FLASH_CLASS.into(),
                start: from_unix_ms(w.start_pdt_ms),
                duration: Some(Duration::from_millis(
                    w.end_pdt_ms.saturating_sub(w.start_pdt_ms),
                )),
                attributes: vec![
                    ("X-SALE-ID".into(), sale.id.clone()),
                    ("X-PRODUCT-ID".into(), sale.product_id.clone()),
                    (
                        "X-SALE-PRICE".into(),
                        format!("{} {}", sale.sale_price_minor, sale.currency),
                    ),
                    ("X-STOCK".into(), sale.stock_limit.to_string()),
                ],
            },
        );
    }

    #[allow(clippy::too_many_arguments)]
    pub(crate) async fn flash_create(
        self: &Arc<Self>,
        actor: &Actor,
        stream_id: &str,
        product_id: &str,
        sale_price_minor: i64,
        stock: i64,
        per_customer_limit: i64,
        duration_s: u64,
    ) -> Result<Value, CommerceError> {
        actor.require_staff(stream_id, "creating a flash sale")?;
        positive("stock", stock, 10_000_000)?;
        positive("per_customer_limit", per_customer_limit, 1000)?;
        if sale_price_minor < 0 || duration_s == 0 || duration_s > 86_400 {
            return Err(CommerceError::Invalid(
                "sale_price_minor >= 0 and duration_s in 1..=86400".into(),
            ));
        }
        let product = self.product_get(product_id).await?;
        let currency = product["currency"].as_str().unwrap_or_default().to_owned();
        let sale = Sale {
            id: new_id("sale"),
            stream_id: stream_id.into(),
            product_id: product_id.into(),
            sale_price_minor,
            currency,
            stock_limit: stock,
            remaining: stock,
            per_customer_limit,
            duration_ms: duration_s * 1000,
            state: "scheduled".into(),
            window: None,
        };
        let stamp = self.stamp_now(stream_id);
        let _g = self.db.write_gate().await;
        let ev = with_pool!(self.db, |p| {
            let mut tx = p.begin_write().await?;
            sqlx::query(
                "INSERT INTO commerce_flash_sales (id, stream_id, product_id, sale_price_minor, currency, stock_limit, \
                 remaining, per_customer_limit, duration_ms, state, win, created_ms) \
                 VALUES ($1, $2, $3, $4, $5, $6, $6, $7, $8, 'scheduled', NULL, $9)",
            )
            .bind(&sale.id)
            .bind(stream_id)
            .bind(product_id)
            .bind(sale_price_minor)
            .bind(&sale.currency)
            .bind(stock)
            .bind(per_customer_limit)
            .bind(sale.duration_ms as i64)
            .bind(crate::now_ms() as i64)
            .execute(&mut *tx)
            .await?;
            let ev = append_event!(
                tx,
                stream_id,
                NewEvent::public(
                    "flash.created",
                    Some(&actor.user_id),
                    stamp,
                    to_value(&sale)?
                )
            );
            tx.commit().await?;
            Ok::<_, CommerceError>(ev)
        })?;
        drop(_g);
        self.publish(vec![ev]).await;
        to_value(&sale)
    }

    /// Open the sale after `countdown_s` of stream time, for its duration.
    pub(crate) async fn flash_start(
        self: &Arc<Self>,
        actor: &Actor,
        stream_id: &str,
        sale_id: &str,
        countdown_s: u64,
    ) -> Result<Value, CommerceError> {
        actor.require_staff(stream_id, "starting a flash sale")?;
        let stamp = self.stamp_now(stream_id);
        let _g = self.db.write_gate().await;
        let (ev, sale) = with_pool!(self.db, |p| {
            let mut tx = p.begin_write().await?;
            let mut sale = load_sale!(&mut *tx, sale_id, stream_id);
            if sale.state != "scheduled" {
                return Err(CommerceError::refused(
                    "already_started",
                    format!("flash sale is {}", sale.state),
                ));
            }
            let start = stamp.plus_ms(countdown_s.min(3600) * 1000);
            let end = start.plus_ms(sale.duration_ms);
            let w = window(start, end);
            sqlx::query("UPDATE commerce_flash_sales SET state = 'live', win = $2 WHERE id = $1 AND state = 'scheduled'")
                .bind(sale_id)
                .bind(serde_json::to_string(&w).map_err(crate::error::internal)?)
                .execute(&mut *tx)
                .await?;
            sale.state = "live".into();
            sale.window = Some(w);
            let mut data = to_value(&sale)?;
            data["countdown_ms"] = json!(countdown_s * 1000);
            let ev = append_event!(
                tx,
                stream_id,
                NewEvent::public("flash.started", Some(&actor.user_id), stamp, data)
            );
            tx.commit().await?;
            Ok::<_, CommerceError>((ev, sale))
        })?;
        drop(_g);
        if let Some(w) = &sale.window {
            self.mark_sale(&sale, w);
        }
        if let Some(w) = sale.window {
            self.spawn_sale_timer(stream_id, sale_id, w);
        }
        if let Some(stock) = &self.flash_stock {
            stock.bump(sale_id).await?;
            // Before the window opens (and before the event tells the other processes, which
            // warm it on that event): the burst's first purchase finds everything hot.
            if let Err(e) = self.flash_warm(stock, sale_id).await {
                tracing::warn!(sale_id, error = %e, "could not warm the flash sale; purchases will");
            }
        }
        self.publish(vec![ev]).await;
        to_value(&sale)
    }

    /// End the sale now (stream time); late buyers still get the latency allowance.
    pub(crate) async fn flash_end(
        self: &Arc<Self>,
        actor: &Actor,
        stream_id: &str,
        sale_id: &str,
    ) -> Result<Value, CommerceError> {
        actor.require_staff(stream_id, "ending a flash sale")?;
        let stamp = self.stamp_now(stream_id);
        let _g = self.db.write_gate().await;
        let (ev, sale) = with_pool!(self.db, |p| {
            let mut tx = p.begin_write().await?;
            let mut sale = load_sale!(&mut *tx, sale_id, stream_id);
            let Some(mut w) = sale.window.filter(|_| sale.state == "live") else {
                return Err(CommerceError::refused(
                    "not_live",
                    format!("flash sale is {}", sale.state),
                ));
            };
            if stamp.pdt_ms < w.end_pdt_ms {
                w.end_pdt_ms = stamp.pdt_ms.max(w.start_pdt_ms);
                if let (Some(now), Some(s)) = (
                    stamp.pts_ms.filter(|_| stamp.epoch == w.epoch),
                    w.start_pts_ms,
                ) {
                    w.end_pts_ms = Some(now.max(s));
                }
            }
            sqlx::query("UPDATE commerce_flash_sales SET state = 'ended', win = $2 WHERE id = $1")
                .bind(sale_id)
                .bind(serde_json::to_string(&w).map_err(crate::error::internal)?)
                .execute(&mut *tx)
                .await?;
            sale.state = "ended".into();
            sale.window = Some(w);
            let ev = append_event!(
                tx,
                stream_id,
                NewEvent::public("flash.ended", Some(&actor.user_id), stamp, {
                    let mut data = to_value(&sale)?;
                    data["reason"] = json!("ended_by_staff");
                    data
                })
            );
            tx.commit().await?;
            Ok::<_, CommerceError>((ev, sale))
        })?;
        drop(_g);
        if let Some(w) = &sale.window {
            self.mark_sale(&sale, w);
        }
        if let Some(stock) = &self.flash_stock {
            stock.bump(sale_id).await?;
        }
        self.publish(vec![ev]).await;
        to_value(&sale)
    }

    /// Arm the "window ran out" timer of a live sale (sans-IO deadline, re-read each wake-up).
    pub(crate) fn spawn_sale_timer(self: &Arc<Self>, stream_id: &str, sale_id: &str, w: Window) {
        let weak = Arc::downgrade(self);
        let (stream_id, sale_id) = (stream_id.to_owned(), sale_id.to_owned());
        tokio::spawn(async move {
            loop {
                let Some(shop) = weak.upgrade() else { return };
                let wait = w.ends_in_ms(shop.server_now(&stream_id));
                if wait == 0 {
                    if let Err(e) = shop.flash_expire(&stream_id, &sale_id).await {
                        tracing::error!(sale_id, error = %e, "flash sale end timer failed");
                    }
                    return;
                }
                drop(shop);
                tokio::time::sleep(Duration::from_millis(wait.clamp(5, 1000))).await;
            }
        });
    }

    /// Re-arm the timers of every live sale (after a restart; harmless in several processes:
    /// only one of them moves a sale from `live` to `ended`).
    pub(crate) async fn resume_sale_timers(self: &Arc<Self>) -> Result<(), CommerceError> {
        let sql = format!("SELECT {COLS} FROM commerce_flash_sales WHERE state = 'live'");
        let live = with_pool!(self.db, |p| {
            let rows = sqlx::query(&sql).fetch_all(p).await?;
            let mut out = Vec::new();
            for r in &rows {
                out.push(sale_from_row!(r));
            }
            out
        });
        for sale in live {
            if let Some(w) = sale.window {
                self.spawn_sale_timer(&sale.stream_id, &sale.id, w);
            }
            // A restarted process starts with an empty cache (and Redis may have lost the
            // counter meanwhile): warm the live sales before the first purchase.
            if let Some(stock) = &self.flash_stock {
                if let Err(e) = self.flash_warm(stock, &sale.id).await {
                    tracing::warn!(sale_id = %sale.id, error = %e, "could not warm a live flash sale");
                }
            }
        }
        Ok(())
    }

    /// A sale was started (by this process, echoed, or by another engine process on the same
    /// Redis): warm it here too, in a task of its own, so this process's first purchase finds
    /// the sale in its cache. Called for every event the Redis bus brings.
    pub(crate) fn warm_on_event(self: &Arc<Self>, ev: &Event) {
        if ev.kind != "flash.started" || self.flash_stock.is_none() {
            return;
        }
        let Some(sale_id) = ev.data["id"].as_str().map(str::to_owned) else {
            tracing::warn!(seq = ev.seq, stream_id = %ev.stream_id, "flash.started without a sale id");
            return;
        };
        let weak = Arc::downgrade(self);
        tokio::spawn(async move {
            let Some(shop) = weak.upgrade() else { return };
            if let Some(stock) = &shop.flash_stock {
                if let Err(e) = shop.flash_warm(stock, &sale_id).await {
                    tracing::warn!(sale_id, error = %e, "could not warm a started flash sale");
                }
            }
        });
    }

    /// Whether this process has the sale warm: its stock counter is in Redis and the sale is
    /// in this process's cache at its current window version (diagnostics; the warm-up tests).
    /// Always `false` without Redis (there is no cache then).
    pub async fn flash_sale_warm(&self, sale_id: &str) -> Result<bool, CommerceError> {
        let Some(stock) = &self.flash_stock else {
            return Ok(false);
        };
        let ver = stock.version(sale_id).await?;
        let cached = stock.cached(sale_id).is_some_and(|(_, v)| v == ver);
        Ok(cached && stock.is_seeded(sale_id).await?)
    }

    /// The window ran out: move the sale from `live` to `ended` (once, whichever process gets
    /// there first) and emit `flash.ended` with `reason: "window_elapsed"`, stamped now.
    pub(crate) async fn flash_expire(
        self: &Arc<Self>,
        stream_id: &str,
        sale_id: &str,
    ) -> Result<(), CommerceError> {
        let stamp = self.stamp_now(stream_id);
        let _g = self.db.write_gate().await;
        let ev = with_pool!(self.db, |p| {
            let mut tx = p.begin_write().await?;
            let moved = sqlx::query(
                "UPDATE commerce_flash_sales SET state = 'ended' WHERE id = $1 AND state = 'live'",
            )
            .bind(sale_id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if moved == 0 {
                return Ok(()); // ended by staff, or by another process's timer
            }
            let mut sale = load_sale!(&mut *tx, sale_id, stream_id);
            sale.state = "ended".into();
            let mut data = to_value(&sale)?;
            data["reason"] = json!("window_elapsed");
            let ev = append_event!(
                tx,
                stream_id,
                NewEvent::public("flash.ended", None, stamp, data)
            );
            tx.commit().await?;
            Ok::<_, CommerceError>(ev)
        })?;
        drop(_g);
        tracing::info!(sale_id, stream_id, "flash sale window elapsed");
        self.publish(vec![ev]).await;
        Ok(())
    }

    pub(crate) async fn flash_list(&self, stream_id: &str) -> Result<Value, CommerceError> {
        let sql = format!(
            "SELECT {COLS} FROM commerce_flash_sales WHERE stream_id = $1 ORDER BY created_ms, id"
        );
        with_pool!(self.db, |p| {
            let rows = sqlx::query(&sql).bind(stream_id).fetch_all(p).await?;
            let mut out = Vec::new();
            for r in &rows {
                out.push(to_value(&sale_from_row!(r))?);
            }
            Ok(json!({ "flash_sales": out }))
        })
    }

    pub(crate) async fn flash_purchase(
        self: &Arc<Self>,
        actor: &Actor,
        stream_id: &str,
        sale_id: &str,
        quantity: i64,
        playout: Playout,
        key: Option<String>,
    ) -> Result<Value, CommerceError> {
        positive("quantity", quantity, 1000)?;
        let key = key_or_fresh(key)?;
        if let Some(stock) = &self.flash_stock {
            let buy = Buy {
                stream_id,
                sale_id,
                quantity,
                playout,
                key: &key,
            };
            return self.flash_purchase_redis(stock, actor, buy).await;
        }
        if self.sold_out.lock().contains(sale_id) {
            // Retries of a successful purchase must still get their order back.
            if let Some(existing) = self.existing_order(&actor.user_id, &key).await? {
                return self.order_json(&existing, true).await;
            }
            return Err(sold_out());
        }
        self.refuse_if_sanctioned(stream_id, &actor.user_id, &[SanctionKind::Ban])
            .await?;
        // A key already used: its order back, or `invalid` if it was for another request.
        let scope = format!("flash:{sale_id}");
        if let Some((used_for, order)) = self.key_use(&actor.user_id, &key).await? {
            if used_for != scope {
                return Err(CommerceError::Invalid(format!(
                    "Idempotency-Key {key} was used for a different request ({used_for})"
                )));
            }
            if let Some(order) = order {
                return self.order_json(&order, true).await;
            }
        }
        let now = self.server_now(stream_id);
        let allowance = self.cfg.max_latency_allowance_ms;
        let _g = self.db.write_gate().await;
        let sale = with_pool!(self.db, |p| load_sale!(p, sale_id, stream_id));
        window_open(&sale, now, playout, allowance, &actor.user_id)?;
        if quantity > sale.per_customer_limit {
            return Err(over_limit(sale.per_customer_limit));
        }
        let written = self
            .flash_write_order(&sale, &actor.user_id, quantity, &key, true)
            .await;
        drop(_g);
        match written {
            Ok(Written::Existing(order)) => self.order_json(&order, true).await,
            Ok(Written::New(new)) => {
                let (draft, ev, remaining) = *new;
                if remaining == 0 {
                    self.sold_out.lock().insert(sale_id.to_owned());
                }
                self.publish(vec![ev]).await;
                self.settle(&draft, restock(sale_id, quantity)).await
            }
            Err(e) => Err(e),
        }
    }

    /// The Redis fast path: window check on the cached sale, one Lua reservation, and only a
    /// winner touches SQL (order committed before the answer; reservation given back on failure).
    async fn flash_purchase_redis(
        self: &Arc<Self>,
        stock: &FlashStock,
        actor: &Actor,
        buy: Buy<'_>,
    ) -> Result<Value, CommerceError> {
        let Buy {
            stream_id,
            sale_id,
            quantity,
            playout,
            key,
        } = buy;
        let user = actor.user_id.as_str();
        let t0 = std::time::Instant::now();
        let mut fresh = false;
        let mut seeded = false;
        let (sale, remaining) = loop {
            let (sale, ver) = match stock.cached(sale_id).filter(|_| !fresh) {
                Some(c) => c,
                None => {
                    fresh = true;
                    self.flash_load_cached(stock, sale_id).await?
                }
            };
            if sale.stream_id != stream_id {
                return Err(CommerceError::NotFound(format!("flash sale {sale_id}")));
            }
            let now = self.server_now(stream_id);
            let open = window_open(&sale, now, playout, self.cfg.max_latency_allowance_ms, user);
            if let Err(e) = open {
                // A cached window may be old (started or ended by another process since): one
                // Redis GET tells; only then is SQL read again.
                if !fresh && stock.version(sale_id).await? != ver {
                    fresh = true;
                    stock.forget(sale_id);
                    continue;
                }
                // A retry of a purchase made while the window was open still gets its order.
                if let Some(Some(o)) = stock.key_state(sale_id, user, key).await? {
                    return self.order_json(&o, true).await;
                }
                return Err(e);
            }
            if quantity > sale.per_customer_limit {
                return Err(over_limit(sale.per_customer_limit));
            }
            match stock
                .reserve(sale_id, ver, user, key, quantity, sale.per_customer_limit)
                .await?
            {
                Reservation::Reserved { remaining } => break (sale, remaining),
                Reservation::SoldOut { left } => {
                    tracing::debug!(sale_id, user, left, "refused purchase: sold out");
                    return Err(sold_out());
                }
                Reservation::CustomerLimit { had } => {
                    tracing::debug!(sale_id, user, had, "refused purchase: per-customer limit");
                    return Err(over_limit(sale.per_customer_limit));
                }
                Reservation::Replay { order_id: Some(o) } => {
                    return self.order_json(&o, true).await
                }
                Reservation::Replay { order_id: None } => {
                    // Pending in Redis: committed in SQL already (answer lost), or in flight.
                    if let Some(o) = self.existing_order(user, key).await? {
                        return self.order_json(&o, true).await;
                    }
                    return Err(CommerceError::refused(
                        "in_progress",
                        "a request with this Idempotency-Key is still in progress",
                    ));
                }
                Reservation::Stale if !fresh => {
                    fresh = true;
                    stock.forget(sale_id);
                }
                Reservation::Unseeded if !seeded => {
                    // The fallback (the sale is warmed when it starts): a restart that found
                    // no counter, or Redis lost it since.
                    seeded = true;
                    self.flash_seed_once(stock, sale_id).await?;
                }
                other => {
                    return Err(CommerceError::Internal(format!(
                        "flash sale {sale_id}: stock counter not usable ({other:?})"
                    )))
                }
            }
        };
        tracing::debug!(sale_id, user, remaining, "flash reservation taken");
        let t_reserved = t0.elapsed();
        // Winners only: the ban check and the durable order, group-committed with the other
        // winners waiting; answered after its batch's commit.
        let written = self
            .flash_winners
            .submit(Winner {
                sale: Arc::clone(&sale),
                user_id: user.to_owned(),
                quantity,
                key: key.to_owned(),
                queued: std::time::Instant::now(),
            })
            .await;
        let t_committed = t0.elapsed();
        let how = match &written {
            Ok(Won::New(..) | Won::Paying(..)) => None,
            Err(e) if e.code() == "sold_out" => Some(Release::Drain),
            Ok(Won::Existing(_)) | Err(_) => Some(Release::Restock),
        };
        if let Some(how) = how {
            if let Err(e) = stock.release(sale_id, user, key, quantity, how).await {
                tracing::error!(sale_id, user, error = %e, "could not give back a flash reservation");
            }
        }
        // Ok(new order, settled) or Err(the order an earlier use of the key made).
        let settled = match written? {
            Won::Existing(order) => Err(order),
            // Settled by the batch with its other new orders.
            Won::Paying(rx) => Ok(rx
                .await
                .map_err(|_| CommerceError::Internal("flash order settlement dropped".into()))??),
            Won::New(draft) => Ok(self.settle(&draft, restock(sale_id, quantity)).await?),
        };
        let order = match settled {
            Err(existing) => existing,
            Ok(order) => {
                tracing::debug!(
                    target: "showroom_commerce::flash_timing",
                    at_us = std::time::SystemTime::now()
                        .duration_since(std::time::UNIX_EPOCH)
                        .unwrap_or_default()
                        .saturating_sub(t0.elapsed())
                        .as_micros() as u64,
                    reserve_us = t_reserved.as_micros() as u64,
                    batch_us = (t_committed - t_reserved).as_micros() as u64,
                    settle_us = (t0.elapsed() - t_committed).as_micros() as u64,
                    "flash winner"
                );
                if order["status"] == json!("payment_failed") {
                    if let Err(e) = stock
                        .release(sale_id, user, key, quantity, Release::Refund)
                        .await
                    {
                        tracing::error!(sale_id, error = %e, "could not restock a failed payment in redis");
                    }
                }
                return Ok(order);
            }
        };
        if let Err(e) = stock.commit(sale_id, user, key, &order).await {
            tracing::warn!(sale_id, error = %e, "could not record the idempotency key in redis");
        }
        self.order_json(&order, true).await
    }

    /// Read the sale from SQL for the cache: the version first, so a window change committed
    /// after this read is seen as stale by the reserve script.
    async fn flash_load_cached(
        &self,
        stock: &FlashStock,
        sale_id: &str,
    ) -> Result<(Arc<Sale>, i64), CommerceError> {
        // One read at a time: a burst's first requests wait for one SQL read, not 100 queued on
        // the pool, and take its result without a Redis round trip each.
        let mut turn = stock.loading.turn(sale_id).await;
        if turn.reused() {
            if let Some(hit) = stock.cached(sale_id) {
                return Ok(hit);
            }
        }
        let n = turn.begin();
        let ver = stock.version(sale_id).await?;
        // One cached at the current version is as fresh as a read now would be.
        if let Some(hit) = stock.cached(sale_id).filter(|(_, v)| *v == ver) {
            turn.done(n, sale_id);
            return Ok(hit);
        }
        let sql = format!("SELECT {COLS} FROM commerce_flash_sales WHERE id = $1");
        let sale = with_pool!(self.db, |p| {
            let r = sqlx::query(&sql)
                .bind(sale_id)
                .fetch_optional(p)
                .await?
                .ok_or_else(|| CommerceError::NotFound(format!("flash sale {sale_id}")))?;
            sale_from_row!(&r)
        });
        let sale = Arc::new(sale);
        stock.remember(Arc::clone(&sale), ver);
        turn.done(n, sale_id);
        Ok((sale, ver))
    }

    /// Seed the stock counter unless it is in Redis, one seeding at a time per process: a
    /// burst's first requests that all find it missing wait for one seeding and take its result.
    async fn flash_seed_once(
        &self,
        stock: &FlashStock,
        sale_id: &str,
    ) -> Result<(), CommerceError> {
        let mut turn = stock.seeding.turn(sale_id).await;
        if turn.reused() {
            return Ok(());
        }
        let n = turn.begin();
        if !stock.is_seeded(sale_id).await? {
            self.flash_seed(stock, sale_id).await?;
        }
        turn.done(n, sale_id);
        Ok(())
    }

    /// Make a started sale hot in this process before its burst: its Redis counter seeded from
    /// SQL (idempotent: a counter already there, seeded by another process or holding
    /// reservations, is kept) and the sale in the process cache.
    pub(crate) async fn flash_warm(
        &self,
        stock: &FlashStock,
        sale_id: &str,
    ) -> Result<(), CommerceError> {
        self.flash_seed_once(stock, sale_id).await?;
        self.flash_load_cached(stock, sale_id).await?;
        Ok(())
    }

    /// Seed the Redis counters from SQL (units left, units per buyer, committed keys).
    pub(crate) async fn flash_seed(
        &self,
        stock: &FlashStock,
        sale_id: &str,
    ) -> Result<(), CommerceError> {
        let scope = format!("flash:{sale_id}");
        let data = with_pool!(self.db, |p| {
            let r = sqlx::query("SELECT remaining FROM commerce_flash_sales WHERE id = $1")
                .bind(sale_id)
                .fetch_optional(p)
                .await?
                .ok_or_else(|| CommerceError::NotFound(format!("flash sale {sale_id}")))?;
            let remaining: i64 = r.try_get("remaining")?;
            let mut bought = Vec::new();
            for r in
                sqlx::query("SELECT user_id, qty FROM commerce_flash_purchases WHERE sale_id = $1")
                    .bind(sale_id)
                    .fetch_all(p)
                    .await?
            {
                bought.push((r.try_get("user_id")?, r.try_get("qty")?));
            }
            let mut keys = Vec::new();
            for r in sqlx::query(
                "SELECT user_id, idem_key, result FROM commerce_idempotency WHERE scope = $1 AND result IS NOT NULL",
            )
            .bind(&scope)
            .fetch_all(p)
            .await?
            {
                keys.push((r.try_get("user_id")?, r.try_get("idem_key")?, r.try_get("result")?));
            }
            SeedData {
                remaining,
                bought,
                keys,
            }
        });
        let fresh = stock.seed(sale_id, &data).await?;
        tracing::info!(
            sale_id,
            remaining = data.remaining,
            fresh,
            "flash stock seeded in redis"
        );
        Ok(())
    }

    /// The winner's SQL transaction: claim the key, take the stock (conditional UPDATE: the
    /// backstop that never oversells), count the buyer's units, insert the order and the
    /// `flash.stock` event. `sold_out` / `customer_limit` refusals come back as errors.
    pub(crate) async fn flash_write_order(
        &self,
        sale: &Sale,
        user_id: &str,
        quantity: i64,
        key: &str,
        mark_sold_out: bool,
    ) -> Result<Written, CommerceError> {
        let scope = format!("flash:{}", sale.id);
        let provider = self.payments.name();
        let stamp = self.stamp_now(&sale.stream_id);
        let (sale_id, stream_id) = (sale.id.as_str(), sale.stream_id.as_str());
        with_pool!(self.db, |p| {
            let mut tx = p.begin_write().await?;
            if let Some(existing) = claim_key!(tx, user_id, key, &scope) {
                return Ok(Written::Existing(existing));
            }
            // The conditional UPDATE is the stock guard (row lock on PostgreSQL, one writer on SQLite).
            let left = sqlx::query(
                "UPDATE commerce_flash_sales SET remaining = remaining - $2 WHERE id = $1 AND remaining >= $2 RETURNING remaining",
            )
            .bind(sale_id)
            .bind(quantity)
            .fetch_optional(&mut *tx)
            .await?;
            let Some(left) = left else {
                drop(tx);
                if mark_sold_out {
                    self.sold_out.lock().insert(sale_id.to_owned());
                }
                tracing::info!(sale_id, user = %user_id, "refused purchase: sold out");
                return Err(sold_out());
            };
            let remaining: i64 = left.try_get("remaining")?;
            let bought = sqlx::query(
                "INSERT INTO commerce_flash_purchases (sale_id, user_id, qty) VALUES ($1, $2, $3) \
                 ON CONFLICT (sale_id, user_id) DO UPDATE SET qty = commerce_flash_purchases.qty + $3 \
                 WHERE commerce_flash_purchases.qty + $3 <= $4 RETURNING qty",
            )
            .bind(sale_id)
            .bind(user_id)
            .bind(quantity)
            .bind(sale.per_customer_limit)
            .fetch_optional(&mut *tx)
            .await?;
            if bought.is_none() {
                tracing::info!(sale_id, user = %user_id, "refused purchase: per-customer limit");
                return Err(over_limit(sale.per_customer_limit));
            }
            let draft = OrderDraft {
                id: new_id("ord"),
                stream_id: stream_id.to_owned(),
                user_id: user_id.to_owned(),
                source: scope.clone(),
                items: vec![json!({ "product_id": sale.product_id, "quantity": quantity,
                                    "unit_price_minor": sale.sale_price_minor, "sale_id": sale_id })],
                total_minor: sale.sale_price_minor * quantity,
                currency: sale.currency.clone(),
                created_ms: crate::now_ms() as i64,
            };
            insert_order!(tx, &draft, key, provider);
            let ev = append_event!(
                tx,
                stream_id,
                NewEvent::public(
                    "flash.stock",
                    None,
                    stamp,
                    json!({ "sale_id": sale_id, "remaining": remaining })
                )
            );
            tx.commit().await?;
            Ok(Written::New(Box::new((draft, ev, remaining))))
        })
    }

    /// What an Idempotency-Key of this user was used for (scope) and its order, if any.
    async fn key_use(
        &self,
        user_id: &str,
        key: &str,
    ) -> Result<Option<(String, Option<String>)>, CommerceError> {
        with_pool!(self.db, |p| {
            let r = sqlx::query(
                "SELECT scope, result FROM commerce_idempotency WHERE user_id = $1 AND idem_key = $2",
            )
            .bind(user_id)
            .bind(key)
            .fetch_optional(p)
            .await?;
            Ok(match r {
                Some(r) => Some((r.try_get("scope")?, r.try_get("result")?)),
                None => None,
            })
        })
    }

    /// The order an Idempotency-Key of this user already produced, if any.
    async fn existing_order(
        &self,
        user_id: &str,
        key: &str,
    ) -> Result<Option<String>, CommerceError> {
        Ok(self
            .key_use(user_id, key)
            .await?
            .and_then(|(_, order)| order))
    }
}

fn window(start: Stamp, end: Stamp) -> Window {
    Window {
        epoch: start.epoch,
        start_pts_ms: start.pts_ms,
        end_pts_ms: end.pts_ms,
        start_pdt_ms: start.pdt_ms,
        end_pdt_ms: end.pdt_ms,
    }
}

/// One purchase attempt's arguments.
struct Buy<'a> {
    stream_id: &'a str,
    sale_id: &'a str,
    quantity: i64,
    playout: Playout,
    key: &'a str,
}

/// What the winner's SQL transaction did.
pub(crate) enum Written {
    /// A new pending order, its `flash.stock` event and the units left.
    New(Box<(OrderDraft, Event, i64)>),
    /// The Idempotency-Key already has this order.
    Existing(String),
}

fn sold_out() -> CommerceError {
    CommerceError::refused("sold_out", "this flash sale is sold out")
}

fn over_limit(limit: i64) -> CommerceError {
    CommerceError::refused("customer_limit", format!("at most {limit} per customer"))
}

fn restock(sale_id: &str, qty: i64) -> Restock {
    Restock::Flash {
        sale_id: sale_id.to_owned(),
        qty,
    }
}

/// The stream-time window decision for one buyer (refusals carry the reason).
fn window_open(
    sale: &Sale,
    now: ServerNow,
    playout: Playout,
    allowance_ms: u64,
    user: &str,
) -> Result<(), CommerceError> {
    let Some(w) = sale.window else {
        return Err(CommerceError::refused(
            "not_started",
            "this flash sale has not started",
        ));
    };
    match w.check(now, playout, allowance_ms) {
        Verdict::Open | Verdict::OpenByAllowance { .. } => Ok(()),
        Verdict::NotStarted { starts_in_ms } => Err(CommerceError::refused(
            "not_started",
            format!("the sale opens in {starts_in_ms} ms"),
        )),
        Verdict::Ended { reason } => {
            tracing::info!(sale_id = %sale.id, user, %reason, "refused purchase: sale over");
            Err(CommerceError::refused("sale_ended", reason))
        }
    }
}
