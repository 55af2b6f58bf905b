//! Products and each stream's product list ("shop the show").

use crate::auth::Actor;
use crate::command::ProductEdit;
use crate::db::BeginWrite;
use crate::db::{json_col, to_u64, with_pool};
use crate::domain::{check_len, new_id};
use crate::error::CommerceError;
use crate::events::{append_event, NewEvent};
use crate::Commerce;
use serde_json::{json, Value};
use sqlx::Row;
use std::sync::Arc;

const COLS: &str = "id, title, price_minor, currency, stock, image_url, variants";

macro_rules! product_json {
    ($r:expr) => {{
        let r = $r;
        let variants: String = r.try_get("variants")?;
        json!({
            "id": r.try_get::<String, _>("id")?,
            "title": r.try_get::<String, _>("title")?,
            "price_minor": r.try_get::<i64, _>("price_minor")?,
            "currency": r.try_get::<String, _>("currency")?,
            "stock": to_u64(r.try_get::<i64, _>("stock")?),
            "image_url": r.try_get::<Option<String>, _>("image_url")?,
            "variants": json_col::<Value>(&variants)?,
        })
    }};
}

/// The streams listing or pinning product `$pid`, inside transaction `$tx`.
macro_rules! showing {
    ($tx:expr, $pid:expr) => {{
        let rows = sqlx::query(
            "SELECT stream_id FROM commerce_stream_products WHERE product_id = $1 \
             UNION SELECT stream_id FROM commerce_pins WHERE product_id = $1",
        )
        .bind($pid)
        .fetch_all(&mut *$tx)
        .await?;
        let mut out = Vec::with_capacity(rows.len());
        for r in &rows {
            out.push(r.try_get::<String, _>("stream_id")?);
        }
        out
    }};
}

fn check_currency(currency: &str) -> Result<(), CommerceError> {
    if currency.len() != 3 || !currency.chars().all(|c| c.is_ascii_uppercase()) {
        return Err(CommerceError::Invalid(format!(
            "currency must be an ISO 4217 code like EUR, got {currency:?}"
        )));
    }
    Ok(())
}

/// Append event `$kind` (data `$data`) on each stream of `$streams`, inside `$tx`.
macro_rules! on_streams {
    ($shop:expr, $tx:expr, $streams:expr, $kind:expr, $actor:expr, $data:expr) => {{
        let mut events = Vec::new();
        for stream in $streams {
            let stamp = $shop.stamp_now(stream);
            let ev = NewEvent::public($kind, Some(&$actor.user_id), stamp, $data.clone());
            events.push(append_event!($tx, stream, ev));
        }
        events
    }};
}

impl Commerce {
    #[allow(clippy::too_many_arguments)]
    pub(crate) async fn product_create(
        &self,
        actor: &Actor,
        title: String,
        price_minor: i64,
        currency: String,
        stock: i64,
        image_url: Option<String>,
        variants: Vec<Value>,
    ) -> Result<Value, CommerceError> {
        actor.require_admin("creating products")?;
        check_len("title", &title, 200)?;
        if price_minor < 0 || stock < 0 {
            return Err(CommerceError::Invalid(
                "price and stock must be >= 0".into(),
            ));
        }
        check_currency(&currency)?;
        let id = new_id("prod");
        let variants = serde_json::to_string(&variants).map_err(crate::error::internal)?;
        let _g = self.db.write_gate().await;
        with_pool!(self.db, |p| {
            sqlx::query(
                "INSERT INTO commerce_products (id, title, price_minor, currency, stock, image_url, variants, created_ms) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            )
            .bind(&id)
            .bind(&title)
            .bind(price_minor)
            .bind(&currency)
            .bind(stock)
            .bind(&image_url)
            .bind(&variants)
            .bind(crate::now_ms() as i64)
            .execute(p)
            .await?;
        });
        drop(_g);
        self.product_get(&id).await
    }

    /// Change some fields of a product (admin). Streams listing or pinning it get
    /// `product.updated` with the new product; orders keep their own snapshot.
    pub(crate) async fn product_update(
        self: &Arc<Self>,
        actor: &Actor,
        edit: ProductEdit,
    ) -> Result<Value, CommerceError> {
        actor.require_admin("editing products")?;
        let product_id = edit.product_id.as_str();
        if let Some(t) = &edit.title {
            check_len("title", t, 200)?;
        }
        if edit.price_minor.is_some_and(|v| v < 0) || edit.stock.is_some_and(|v| v < 0) {
            return Err(CommerceError::Invalid(
                "price and stock must be >= 0".into(),
            ));
        }
        if let Some(c) = &edit.currency {
            check_currency(c)?;
        }
        let variants = match &edit.variants {
            Some(v) => Some(serde_json::to_string(v).map_err(crate::error::internal)?),
            None => None,
        };
        // `image_url: ""` clears it.
        let (set_image, image) = match &edit.image_url {
            Some(u) if u.is_empty() => (true, None),
            Some(u) => (true, Some(u.clone())),
            None => (false, None),
        };
        let sql = format!("SELECT {COLS} FROM commerce_products WHERE id = $1");
        let _g = self.db.write_gate().await;
        let events = with_pool!(self.db, |p| {
            let mut tx = p.begin_write().await?;
            let changed = sqlx::query(
                "UPDATE commerce_products SET title = COALESCE($2, title), price_minor = COALESCE($3, price_minor), \
                 currency = COALESCE($4, currency), stock = COALESCE($5, stock), \
                 image_url = CASE WHEN $6 THEN $7 ELSE image_url END, variants = COALESCE($8, variants) WHERE id = $1",
            )
            .bind(product_id)
            .bind(&edit.title)
            .bind(edit.price_minor)
            .bind(&edit.currency)
            .bind(edit.stock)
            .bind(set_image)
            .bind(&image)
            .bind(&variants)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if changed == 0 {
                return Err(CommerceError::NotFound(format!("product {product_id}")));
            }
            let r = sqlx::query(&sql)
                .bind(product_id)
                .fetch_one(&mut *tx)
                .await?;
            let product = product_json!(&r);
            let streams = showing!(tx, product_id);
            let data = json!({ "product": product });
            let events = on_streams!(self, tx, &streams, "product.updated", actor, data);
            tx.commit().await?;
            Ok::<_, CommerceError>(events)
        })?;
        drop(_g);
        self.publish(events).await;
        self.product_get(product_id).await
    }

    /// Delete a product (admin): unpinned wherever it is pinned (`pin.removed`, timeline range
    /// closed), taken off every stream's list and cart (`product.deleted`). Orders keep their
    /// snapshot; flash sales keep their own price.
    pub(crate) async fn product_delete(
        self: &Arc<Self>,
        actor: &Actor,
        product_id: &str,
    ) -> Result<Value, CommerceError> {
        actor.require_admin("deleting products")?;
        self.product_get(product_id).await?;
        let pinned_on = with_pool!(self.db, |p| {
            let rows = sqlx::query("SELECT stream_id FROM commerce_pins WHERE product_id = $1")
                .bind(product_id)
                .fetch_all(p)
                .await?;
            let mut out = Vec::new();
            for r in &rows {
                out.push(r.try_get::<String, _>("stream_id")?);
            }
            out
        });
        for stream in &pinned_on {
            match self.pin_remove(actor, stream, product_id).await {
                Ok(_) => {}
                Err(CommerceError::NotFound(_)) => {} // unpinned meanwhile
                Err(e) => return Err(e),
            }
        }
        let _g = self.db.write_gate().await;
        let events = with_pool!(self.db, |p| {
            let mut tx = p.begin_write().await?;
            let streams = showing!(tx, product_id);
            for table in [
                "commerce_stream_products",
                "commerce_carts",
                "commerce_pins",
            ] {
                sqlx::query(&format!("DELETE FROM {table} WHERE product_id = $1"))
                    .bind(product_id)
                    .execute(&mut *tx)
                    .await?;
            }
            let gone = sqlx::query("DELETE FROM commerce_products WHERE id = $1")
                .bind(product_id)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            if gone == 0 {
                return Err(CommerceError::NotFound(format!("product {product_id}")));
            }
            let all: std::collections::BTreeSet<&String> =
                streams.iter().chain(pinned_on.iter()).collect();
            let data = json!({ "product_id": product_id });
            let events = on_streams!(self, tx, all, "product.deleted", actor, data);
            tx.commit().await?;
            Ok::<_, CommerceError>(events)
        })?;
        drop(_g);
        tracing::info!(product_id, streams = events.len(), "product deleted");
        self.publish(events).await;
        Ok(json!({ "deleted": product_id }))
    }

    pub(crate) async fn product_get(&self, product_id: &str) -> Result<Value, CommerceError> {
        let sql = format!("SELECT {COLS} FROM commerce_products WHERE id = $1");
        with_pool!(self.db, |p| {
            let row = sqlx::query(&sql).bind(product_id).fetch_optional(p).await?;
            match row {
                Some(r) => Ok(product_json!(&r)),
                None => Err(CommerceError::NotFound(format!("product {product_id}"))),
            }
        })
    }

    pub(crate) async fn product_list(&self) -> Result<Value, CommerceError> {
        let sql = format!("SELECT {COLS} FROM commerce_products ORDER BY created_ms, id");
        with_pool!(self.db, |p| {
            let rows = sqlx::query(&sql).fetch_all(p).await?;
            let mut out = Vec::with_capacity(rows.len());
            for r in &rows {
                out.push(product_json!(r));
            }
            Ok(json!({ "products": out }))
        })
    }

    pub(crate) async fn stream_products_set(
        self: &Arc<Self>,
        actor: &Actor,
        stream_id: &str,
        product_ids: Vec<String>,
    ) -> Result<Value, CommerceError> {
        actor.require_staff(stream_id, "setting the stream's product list")?;
        let stamp = self.stamp_now(stream_id);
        let _g = self.db.write_gate().await;
        let ev = with_pool!(self.db, |p| {
            let mut tx = p.begin_write().await?;
            for pid in &product_ids {
                let found = sqlx::query("SELECT id FROM commerce_products WHERE id = $1")
                    .bind(pid)
                    .fetch_optional(&mut *tx)
                    .await?;
                if found.is_none() {
                    return Err(CommerceError::NotFound(format!("product {pid}")));
                }
            }
            sqlx::query("DELETE FROM commerce_stream_products WHERE stream_id = $1")
                .bind(stream_id)
                .execute(&mut *tx)
                .await?;
            for (i, pid) in product_ids.iter().enumerate() {
                sqlx::query(
                    "INSERT INTO commerce_stream_products (stream_id, product_id, position) VALUES ($1, $2, $3) \
                     ON CONFLICT (stream_id, product_id) DO NOTHING",
                )
                .bind(stream_id)
                .bind(pid)
                .bind(i as i64)
                .execute(&mut *tx)
                .await?;
            }
            let ev = append_event!(
                tx,
                stream_id,
                NewEvent {
                    to: None,
                    kind: "products.updated",
                    actor: Some(actor.user_id.clone()),
                    stamp,
                    data: json!({ "product_ids": product_ids }),
                }
            );
            tx.commit().await?;
            Ok::<_, CommerceError>(ev)
        })?;
        drop(_g);
        self.publish(vec![ev]).await;
        self.stream_products_list(stream_id).await
    }

    pub(crate) async fn stream_products_list(
        &self,
        stream_id: &str,
    ) -> Result<Value, CommerceError> {
        let sql =
            "SELECT p.id, p.title, p.price_minor, p.currency, p.stock, p.image_url, p.variants \
                   FROM commerce_stream_products s JOIN commerce_products p ON p.id = s.product_id \
                   WHERE s.stream_id = $1 ORDER BY s.position";
        with_pool!(self.db, |p| {
            let rows = sqlx::query(sql).bind(stream_id).fetch_all(p).await?;
            let mut out = Vec::with_capacity(rows.len());
            for r in &rows {
                out.push(product_json!(r));
            }
            Ok(json!({ "stream_id": stream_id, "products": out }))
        })
    }
}
