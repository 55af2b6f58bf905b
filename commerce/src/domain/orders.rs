//! Cart, checkout and orders. An order is committed (status `pending`) before payment and before
//! it is acknowledged; `Idempotency-Key` retries return the first order, never a second one.

use crate::auth::{Actor, Role};
use crate::db::BeginWrite;
use crate::db::{json_col, to_u64, with_pool};
use crate::domain::settlements::Settlement;
use crate::domain::{new_id, positive};
use crate::error::CommerceError;
use crate::payment::ChargeRequest;
use crate::Commerce;
use serde_json::{json, Value};
use sqlx::Row;
use std::sync::Arc;

/// Claim idempotency key `$key` for `$user`/`$scope` inside `$tx`. Evaluates to `Some(order_id)`
/// when an earlier request with this key already produced an order (the caller returns it).
macro_rules! claim_key {
    ($tx:expr, $user:expr, $key:expr, $scope:expr) => {{
        let claimed = sqlx::query(
            "INSERT INTO commerce_idempotency (user_id, idem_key, scope, result, created_ms) VALUES ($1, $2, $3, NULL, $4) \
             ON CONFLICT (user_id, idem_key) DO NOTHING RETURNING idem_key",
        )
        .bind($user)
        .bind($key)
        .bind($scope)
        .bind($crate::now_ms() as i64)
        .fetch_optional(&mut *$tx)
        .await?;
        if claimed.is_some() {
            None
        } else {
            let r = sqlx::query("SELECT scope, result FROM commerce_idempotency WHERE user_id = $1 AND idem_key = $2")
                .bind($user)
                .bind($key)
                .fetch_one(&mut *$tx)
                .await?;
            let scope: String = r.try_get("scope")?;
            if scope.as_str() != AsRef::<str>::as_ref($scope) {
                return Err(CommerceError::Invalid(format!(
                    "Idempotency-Key {} was used for a different request ({scope})",
                    $key
                )));
            }
            let result: Option<String> = r.try_get("result")?;
            Some(result.ok_or_else(|| CommerceError::refused("in_progress", "a request with this Idempotency-Key is still in progress"))?)
        }
    }};
}
pub(crate) use claim_key;

/// Insert order `$o` (an [`OrderDraft`]) and bind the idempotency key to it, inside `$tx`.
macro_rules! insert_order {
    ($tx:expr, $o:expr, $key:expr, $provider:expr) => {{
        let o: &$crate::domain::orders::OrderDraft = $o;
        sqlx::query(
            "INSERT INTO commerce_orders (id, stream_id, user_id, source, items, total_minor, currency, status, \
             payment_provider, payment_ref, test_mode, created_ms) VALUES ($1, $2, $3, $4, $5, $6, $7, 'pending', $8, NULL, 0, $9)",
        )
        .bind(&o.id)
        .bind(&o.stream_id)
        .bind(&o.user_id)
        .bind(&o.source)
        .bind(serde_json::to_string(&o.items).map_err($crate::error::internal)?)
        .bind(o.total_minor)
        .bind(&o.currency)
        .bind($provider)
        .bind(o.created_ms)
        .execute(&mut *$tx)
        .await?;
        sqlx::query("UPDATE commerce_idempotency SET result = $3 WHERE user_id = $1 AND idem_key = $2")
            .bind(&o.user_id)
            .bind($key)
            .bind(&o.id)
            .execute(&mut *$tx)
            .await?;
    }};
}
pub(crate) use insert_order;

/// An order about to be inserted.
#[derive(Debug, Clone)]
pub(crate) struct OrderDraft {
    pub id: String,
    pub stream_id: String,
    pub user_id: String,
    /// `cart` or `flash:<sale id>`.
    pub source: String,
    pub items: Vec<Value>,
    pub total_minor: i64,
    pub currency: String,
    /// Unix ms, stored as the order's `created_ms`.
    pub created_ms: i64,
}

/// What to undo if payment fails.
#[derive(Debug, Clone)]
pub(crate) enum Restock {
    Products(Vec<(String, i64)>),
    Flash { sale_id: String, qty: i64 },
}

/// Key to use when the client sent none (no deduplication possible).
pub(crate) fn key_or_fresh(key: Option<String>) -> Result<String, CommerceError> {
    match key {
        Some(k) if k.is_empty() || k.len() > 200 => Err(CommerceError::Invalid(
            "Idempotency-Key must be 1..=200 characters".into(),
        )),
        Some(k) => Ok(k),
        None => Ok(new_id("auto")),
    }
}

impl Commerce {
    /// Charge a committed `pending` order, then record the outcome (and restock on failure),
    /// group-committed with the other settlements waiting (see `settlements`).
    pub(crate) async fn settle(
        self: &Arc<Self>,
        draft: &OrderDraft,
        restock: Restock,
    ) -> Result<Value, CommerceError> {
        let charge = self
            .payments
            .charge(ChargeRequest {
                order_id: draft.id.clone(),
                user_id: draft.user_id.clone(),
                amount_minor: draft.total_minor,
                currency: draft.currency.clone(),
            })
            .await;
        let (status, reference, test_mode) = match &charge {
            Ok(c) => ("paid", Some(c.reference.clone()), c.test_mode),
            Err(reason) => {
                tracing::info!(order = %draft.id, %reason, "payment declined");
                ("payment_failed", None, false)
            }
        };
        let failed = charge.is_err();
        self.settlements
            .submit(Settlement {
                draft: draft.clone(),
                status,
                reference: reference.clone(),
                test_mode,
                restock: failed.then(|| restock.clone()),
                stamp: self.stamp_now(&draft.stream_id),
                queued: std::time::Instant::now(),
            })
            .await?;
        if let Restock::Flash { sale_id, .. } = &restock {
            if failed {
                self.sold_out.lock().remove(sale_id);
            }
        }
        // The answer is what was just committed (no read-back).
        Ok(json!({
            "id": draft.id,
            "stream_id": draft.stream_id,
            "user_id": draft.user_id,
            "source": draft.source,
            "items": draft.items,
            "total_minor": draft.total_minor,
            "currency": draft.currency,
            "status": status,
            "payment": { "provider": self.payments.name(), "reference": reference, "test_mode": test_mode },
            "created_ms": to_u64(draft.created_ms),
            "replayed": false,
        }))
    }

    pub(crate) async fn order_json(
        &self,
        order_id: &str,
        replayed: bool,
    ) -> Result<Value, CommerceError> {
        with_pool!(self.db, |p| {
            let r = sqlx::query(
                "SELECT id, stream_id, user_id, source, items, total_minor, currency, status, payment_provider, \
                 payment_ref, test_mode, created_ms FROM commerce_orders WHERE id = $1",
            )
            .bind(order_id)
            .fetch_optional(p)
            .await?
            .ok_or_else(|| CommerceError::NotFound(format!("order {order_id}")))?;
            Ok(json!({
                "id": r.try_get::<String, _>("id")?,
                "stream_id": r.try_get::<String, _>("stream_id")?,
                "user_id": r.try_get::<String, _>("user_id")?,
                "source": r.try_get::<String, _>("source")?,
                "items": json_col::<Value>(&r.try_get::<String, _>("items")?)?,
                "total_minor": r.try_get::<i64, _>("total_minor")?,
                "currency": r.try_get::<String, _>("currency")?,
                "status": r.try_get::<String, _>("status")?,
                "payment": {
                    "provider": r.try_get::<Option<String>, _>("payment_provider")?,
                    "reference": r.try_get::<Option<String>, _>("payment_ref")?,
                    "test_mode": r.try_get::<i64, _>("test_mode")? != 0,
                },
                "created_ms": to_u64(r.try_get("created_ms")?),
                "replayed": replayed,
            }))
        })
    }

    pub(crate) async fn order_get(
        &self,
        actor: &Actor,
        order_id: &str,
    ) -> Result<Value, CommerceError> {
        let o = self.order_json(order_id, false).await?;
        if actor.role != Role::Admin && o["user_id"] != json!(actor.user_id) {
            return Err(CommerceError::NotFound(format!("order {order_id}")));
        }
        Ok(o)
    }

    pub(crate) async fn order_list(&self, actor: &Actor) -> Result<Value, CommerceError> {
        let ids: Vec<String> = with_pool!(self.db, |p| {
            let rows = sqlx::query("SELECT id FROM commerce_orders WHERE user_id = $1 ORDER BY created_ms DESC, id LIMIT 200")
                .bind(&actor.user_id)
                .fetch_all(p)
                .await?;
            rows.iter()
                .map(|r| r.try_get("id"))
                .collect::<Result<_, _>>()?
        });
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            out.push(self.order_json(&id, false).await?);
        }
        Ok(json!({ "orders": out }))
    }

    pub(crate) async fn cart_set(
        &self,
        actor: &Actor,
        stream_id: &str,
        product_id: &str,
        quantity: i64,
    ) -> Result<Value, CommerceError> {
        if quantity != 0 {
            positive("quantity", quantity, 100)?;
        }
        self.product_get(product_id).await?;
        let _g = self.db.write_gate().await;
        with_pool!(self.db, |p| {
            if quantity == 0 {
                sqlx::query("DELETE FROM commerce_carts WHERE user_id = $1 AND stream_id = $2 AND product_id = $3")
                    .bind(&actor.user_id)
                    .bind(stream_id)
                    .bind(product_id)
                    .execute(p)
                    .await?;
            } else {
                sqlx::query(
                    "INSERT INTO commerce_carts (user_id, stream_id, product_id, qty) VALUES ($1, $2, $3, $4) \
                     ON CONFLICT (user_id, stream_id, product_id) DO UPDATE SET qty = $4",
                )
                .bind(&actor.user_id)
                .bind(stream_id)
                .bind(product_id)
                .bind(quantity)
                .execute(p)
                .await?;
            }
        });
        drop(_g);
        self.cart_get(actor, stream_id).await
    }

    pub(crate) async fn cart_get(
        &self,
        actor: &Actor,
        stream_id: &str,
    ) -> Result<Value, CommerceError> {
        with_pool!(self.db, |p| {
            let rows = sqlx::query(
                "SELECT c.product_id, c.qty, p.title, p.price_minor, p.currency FROM commerce_carts c \
                 JOIN commerce_products p ON p.id = c.product_id WHERE c.user_id = $1 AND c.stream_id = $2 ORDER BY c.product_id",
            )
            .bind(&actor.user_id)
            .bind(stream_id)
            .fetch_all(p)
            .await?;
            let mut items = Vec::new();
            for r in &rows {
                let qty: i64 = r.try_get("qty")?;
                let price: i64 = r.try_get("price_minor")?;
                items.push(json!({
                    "product_id": r.try_get::<String, _>("product_id")?,
                    "title": r.try_get::<String, _>("title")?,
                    "quantity": qty,
                    "unit_price_minor": price,
                    "currency": r.try_get::<String, _>("currency")?,
                }));
            }
            Ok(json!({ "stream_id": stream_id, "items": items }))
        })
    }

    pub(crate) async fn checkout(
        self: &Arc<Self>,
        actor: &Actor,
        stream_id: &str,
        key: Option<String>,
    ) -> Result<Value, CommerceError> {
        let key = key_or_fresh(key)?;
        let scope = format!("checkout:{stream_id}");
        let order_id = new_id("ord");
        let provider = self.payments.name();
        let _g = self.db.write_gate().await;
        let (draft, restock) = with_pool!(self.db, |p| {
            let mut tx = p.begin_write().await?;
            if let Some(existing) = claim_key!(tx, &actor.user_id, &key, &scope) {
                drop(tx);
                return self.order_json(&existing, true).await;
            }
            let rows = sqlx::query(
                "SELECT c.product_id, c.qty, p.title, p.price_minor, p.currency FROM commerce_carts c \
                 JOIN commerce_products p ON p.id = c.product_id WHERE c.user_id = $1 AND c.stream_id = $2 ORDER BY c.product_id",
            )
            .bind(&actor.user_id)
            .bind(stream_id)
            .fetch_all(&mut *tx)
            .await?;
            if rows.is_empty() {
                return Err(CommerceError::refused("cart_empty", "your cart is empty"));
            }
            let mut items = Vec::new();
            let mut restock = Vec::new();
            let mut total = 0i64;
            let mut currency: Option<String> = None;
            for r in &rows {
                let pid: String = r.try_get("product_id")?;
                let qty: i64 = r.try_get("qty")?;
                let price: i64 = r.try_get("price_minor")?;
                let cur: String = r.try_get("currency")?;
                if currency.as_ref().is_some_and(|c| *c != cur) {
                    return Err(CommerceError::refused(
                        "mixed_currency",
                        "the cart mixes currencies",
                    ));
                }
                let took = sqlx::query("UPDATE commerce_products SET stock = stock - $2 WHERE id = $1 AND stock >= $2 RETURNING stock")
                    .bind(&pid)
                    .bind(qty)
                    .fetch_optional(&mut *tx)
                    .await?;
                let title: String = r.try_get("title")?;
                if took.is_none() {
                    tracing::info!(product = %pid, qty, "refused checkout: out of stock");
                    return Err(CommerceError::refused(
                        "out_of_stock",
                        format!("not enough stock for {title}"),
                    ));
                }
                total += price * qty;
                currency = Some(cur);
                restock.push((pid.clone(), qty));
                items.push(json!({ "product_id": pid, "title": title, "quantity": qty, "unit_price_minor": price }));
            }
            let draft = OrderDraft {
                id: order_id.clone(),
                stream_id: stream_id.to_owned(),
                user_id: actor.user_id.clone(),
                source: "cart".into(),
                items,
                total_minor: total,
                currency: currency.unwrap_or_default(),
                created_ms: crate::now_ms() as i64,
            };
            insert_order!(tx, &draft, &key, provider);
            sqlx::query("DELETE FROM commerce_carts WHERE user_id = $1 AND stream_id = $2")
                .bind(&actor.user_id)
                .bind(stream_id)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            Ok::<_, CommerceError>((draft, Restock::Products(restock)))
        })?;
        drop(_g);
        self.settle(&draft, restock).await
    }
}
