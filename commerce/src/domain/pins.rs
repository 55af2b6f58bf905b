//! Pins: staff pin up to `pin_limit` products at once; each pin is also an LL-HLS DATERANGE.

use crate::auth::Actor;
use crate::db::BeginWrite;
use crate::db::{to_u64, with_pool};
use crate::directory::TimelineMarker;
use crate::error::CommerceError;
use crate::events::{append_event, NewEvent};
use crate::stamp::from_unix_ms;
use crate::Commerce;
use serde_json::{json, Value};
use sqlx::Row;
use std::sync::Arc;
use std::time::Duration;

pub(crate) const PIN_CLASS: &str = "com.showroom.pin";

impl Commerce {
    pub(crate) async fn pin_add(
        self: &Arc<Self>,
        actor: &Actor,
        stream_id: &str,
        product_id: &str,
    ) -> Result<Value, CommerceError> {
        actor.require_staff(stream_id, "pinning a product")?;
        let stamp = self.stamp_now(stream_id);
        let limit = i64::from(self.cfg.pin_limit);
        let marker_id = crate::domain::new_id("pin");
        let _g = self.db.write_gate().await;
        let (ev, title, price, currency) = with_pool!(self.db, |p| {
            let mut tx = p.begin_write().await?;
            let prod = sqlx::query(
                "SELECT title, price_minor, currency FROM commerce_products WHERE id = $1",
            )
            .bind(product_id)
            .fetch_optional(&mut *tx)
            .await?
            .ok_or_else(|| CommerceError::NotFound(format!("product {product_id}")))?;
            let title: String = prod.try_get("title")?;
            let price: i64 = prod.try_get("price_minor")?;
            let currency: String = prod.try_get("currency")?;
            // The event row first: it locks the stream's counter, serialising concurrent pins.
            let ev = append_event!(
                tx,
                stream_id,
                NewEvent {
                    to: None,
                    kind: "pin.added",
                    actor: Some(actor.user_id.clone()),
                    stamp,
                    data: json!({ "product_id": product_id, "title": title, "price_minor": price,
                                  "currency": currency, "marker_id": marker_id }),
                }
            );
            let existing = sqlx::query("SELECT product_id FROM commerce_pins WHERE stream_id = $1")
                .bind(stream_id)
                .fetch_all(&mut *tx)
                .await?;
            let mut pinned = Vec::new();
            for r in &existing {
                pinned.push(r.try_get::<String, _>("product_id")?);
            }
            if pinned.iter().any(|p| p == product_id) {
                return Err(CommerceError::refused(
                    "already_pinned",
                    format!("product {product_id} is already pinned"),
                ));
            }
            if pinned.len() as i64 >= limit {
                tracing::info!(stream_id, product_id, limit, "refused pin: limit reached");
                return Err(CommerceError::refused(
                    "pin_limit",
                    format!("at most {limit} products can be pinned at once; unpin one first"),
                ));
            }
            sqlx::query("INSERT INTO commerce_pins (stream_id, product_id, marker_id, pinned_pdt_ms) VALUES ($1, $2, $3, $4)")
                .bind(stream_id)
                .bind(product_id)
                .bind(&marker_id)
                .bind(stamp.pdt_ms as i64)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            Ok::<_, CommerceError>((ev, title, price, currency))
        })?;
        drop(_g);
        self.streams.mark(
            stream_id,
            TimelineMarker {
                id: marker_id,
                class: PIN_CLASS.into(),
                start: from_unix_ms(stamp.pdt_ms),
                duration: None,
                attributes: vec![
                    ("X-PRODUCT-ID".into(), product_id.into()),
                    ("X-TITLE".into(), title),
                    ("X-PRICE".into(), format!("{price} {currency}")),
                ],
            },
        );
        let out = json!({ "seq": ev.seq, "stamp": ev.stamp, "product_id": product_id });
        self.publish(vec![ev]).await;
        Ok(out)
    }

    pub(crate) async fn pin_remove(
        self: &Arc<Self>,
        actor: &Actor,
        stream_id: &str,
        product_id: &str,
    ) -> Result<Value, CommerceError> {
        actor.require_staff(stream_id, "unpinning a product")?;
        let stamp = self.stamp_now(stream_id);
        let _g = self.db.write_gate().await;
        let (ev, marker_id, since) = with_pool!(self.db, |p| {
            let mut tx = p.begin_write().await?;
            let ev = append_event!(
                tx,
                stream_id,
                NewEvent {
                    to: None,
                    kind: "pin.removed",
                    actor: Some(actor.user_id.clone()),
                    stamp,
                    data: json!({ "product_id": product_id }),
                }
            );
            let row = sqlx::query(
                "DELETE FROM commerce_pins WHERE stream_id = $1 AND product_id = $2 RETURNING marker_id, pinned_pdt_ms",
            )
            .bind(stream_id)
            .bind(product_id)
            .fetch_optional(&mut *tx)
            .await?
            .ok_or_else(|| CommerceError::NotFound(format!("pin of product {product_id}")))?;
            let marker_id: String = row.try_get("marker_id")?;
            let since: i64 = row.try_get("pinned_pdt_ms")?;
            tx.commit().await?;
            Ok::<_, CommerceError>((ev, marker_id, to_u64(since)))
        })?;
        drop(_g);
        self.streams.mark(
            stream_id,
            TimelineMarker {
                id: marker_id,
                class: PIN_CLASS.into(),
                start: from_unix_ms(since),
                duration: Some(Duration::from_millis(stamp.pdt_ms.saturating_sub(since))),
                attributes: vec![("X-PRODUCT-ID".into(), product_id.into())],
            },
        );
        let out = json!({ "seq": ev.seq, "stamp": ev.stamp, "product_id": product_id });
        self.publish(vec![ev]).await;
        Ok(out)
    }

    pub(crate) async fn pin_list(&self, stream_id: &str) -> Result<Value, CommerceError> {
        with_pool!(self.db, |p| {
            let rows = sqlx::query(
                "SELECT product_id, pinned_pdt_ms FROM commerce_pins WHERE stream_id = $1 ORDER BY pinned_pdt_ms",
            )
            .bind(stream_id)
            .fetch_all(p)
            .await?;
            let mut out = Vec::new();
            for r in &rows {
                out.push(json!({
                    "product_id": r.try_get::<String, _>("product_id")?,
                    "pinned_pdt_ms": to_u64(r.try_get("pinned_pdt_ms")?),
                }));
            }
            Ok(json!({ "pins": out, "limit": self.cfg.pin_limit }))
        })
    }
}
