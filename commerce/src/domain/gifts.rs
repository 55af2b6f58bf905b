//! Gifts: a catalog with coin values, per-user coin balances, atomic sends, per-stream leaderboard.

use crate::auth::Actor;
use crate::command::SanctionKind;
use crate::db::BeginWrite;
use crate::db::{to_u64, with_pool};
use crate::domain::{check_len, new_id, positive};
use crate::error::CommerceError;
use crate::events::{append_event, NewEvent};
use crate::Commerce;
use serde_json::{json, Value};
use sqlx::Row;
use std::sync::Arc;

impl Commerce {
    pub(crate) async fn gift_create(
        &self,
        actor: &Actor,
        name: String,
        coins: i64,
    ) -> Result<Value, CommerceError> {
        actor.require_admin("adding gifts to the catalog")?;
        check_len("name", &name, 100)?;
        positive("coins", coins, 1_000_000_000)?;
        let id = new_id("gift");
        let _g = self.db.write_gate().await;
        with_pool!(self.db, |p| {
            sqlx::query("INSERT INTO commerce_gift_catalog (id, name, coins) VALUES ($1, $2, $3)")
                .bind(&id)
                .bind(&name)
                .bind(coins)
                .execute(p)
                .await?;
        });
        Ok(json!({ "id": id, "name": name, "coins": coins }))
    }

    pub(crate) async fn gift_catalog(&self) -> Result<Value, CommerceError> {
        with_pool!(self.db, |p| {
            let rows =
                sqlx::query("SELECT id, name, coins FROM commerce_gift_catalog ORDER BY coins, id")
                    .fetch_all(p)
                    .await?;
            let mut out = Vec::new();
            for r in &rows {
                out.push(json!({
                    "id": r.try_get::<String, _>("id")?,
                    "name": r.try_get::<String, _>("name")?,
                    "coins": r.try_get::<i64, _>("coins")?,
                }));
            }
            Ok(json!({ "gifts": out }))
        })
    }

    /// Credit coins (admin; stands in for a coin purchase flow).
    pub(crate) async fn coins_grant(
        &self,
        actor: &Actor,
        user_id: &str,
        amount: i64,
    ) -> Result<Value, CommerceError> {
        actor.require_admin("granting coins")?;
        positive("amount", amount, 1_000_000_000)?;
        let _g = self.db.write_gate().await;
        let balance: i64 = with_pool!(self.db, |p| {
            let r = sqlx::query(
                "INSERT INTO commerce_balances (user_id, coins) VALUES ($1, $2) \
                 ON CONFLICT (user_id) DO UPDATE SET coins = commerce_balances.coins + $2 RETURNING coins",
            )
            .bind(user_id)
            .bind(amount)
            .fetch_one(p)
            .await?;
            r.try_get("coins")?
        });
        Ok(json!({ "user_id": user_id, "coins": balance }))
    }

    pub(crate) async fn coins_balance(&self, actor: &Actor) -> Result<Value, CommerceError> {
        let coins: i64 = with_pool!(self.db, |p| {
            let r = sqlx::query("SELECT coins FROM commerce_balances WHERE user_id = $1")
                .bind(&actor.user_id)
                .fetch_optional(p)
                .await?;
            match r {
                Some(r) => r.try_get("coins")?,
                None => 0,
            }
        });
        Ok(json!({ "user_id": actor.user_id, "coins": coins }))
    }

    pub(crate) async fn gift_send(
        self: &Arc<Self>,
        actor: &Actor,
        stream_id: &str,
        gift_id: &str,
        count: i64,
    ) -> Result<Value, CommerceError> {
        positive("count", count, 1000)?;
        self.refuse_if_sanctioned(stream_id, &actor.user_id, &[SanctionKind::Ban])
            .await?;
        let stamp = self.stamp_now(stream_id);
        let _g = self.db.write_gate().await;
        let (ev, balance) = with_pool!(self.db, |p| {
            let mut tx = p.begin_write().await?;
            let gift = sqlx::query("SELECT name, coins FROM commerce_gift_catalog WHERE id = $1")
                .bind(gift_id)
                .fetch_optional(&mut *tx)
                .await?
                .ok_or_else(|| CommerceError::NotFound(format!("gift {gift_id}")))?;
            let name: String = gift.try_get("name")?;
            let cost = gift.try_get::<i64, _>("coins")? * count;
            // The conditional UPDATE is the whole guard: no negative balance, no double spend.
            let left = sqlx::query(
                "UPDATE commerce_balances SET coins = coins - $2 WHERE user_id = $1 AND coins >= $2 RETURNING coins",
            )
            .bind(&actor.user_id)
            .bind(cost)
            .fetch_optional(&mut *tx)
            .await?;
            let Some(left) = left else {
                tracing::info!(user = %actor.user_id, cost, "refused gift: insufficient coins");
                return Err(CommerceError::refused(
                    "insufficient_coins",
                    format!("this gift costs {cost} coins; your balance is lower"),
                ));
            };
            let balance: i64 = left.try_get("coins")?;
            sqlx::query(
                "INSERT INTO commerce_gifts_sent (id, stream_id, user_id, gift_id, count, coins, created_ms) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7)",
            )
            .bind(new_id("gs"))
            .bind(stream_id)
            .bind(&actor.user_id)
            .bind(gift_id)
            .bind(count)
            .bind(cost)
            .bind(crate::now_ms() as i64)
            .execute(&mut *tx)
            .await?;
            sqlx::query(
                "INSERT INTO commerce_gift_totals (stream_id, user_id, user_name, coins) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (stream_id, user_id) DO UPDATE SET coins = commerce_gift_totals.coins + $4, user_name = $3",
            )
            .bind(stream_id)
            .bind(&actor.user_id)
            .bind(&actor.name)
            .bind(cost)
            .execute(&mut *tx)
            .await?;
            let ev = append_event!(
                tx,
                stream_id,
                NewEvent {
                    to: None,
                    kind: "gift.sent",
                    actor: Some(actor.user_id.clone()),
                    stamp,
                    data: json!({ "user_id": actor.user_id, "user_name": actor.name, "gift_id": gift_id,
                                  "gift_name": name, "count": count, "coins": cost }),
                }
            );
            tx.commit().await?;
            Ok::<_, CommerceError>((ev, balance))
        })?;
        drop(_g);
        let out = json!({ "seq": ev.seq, "balance": balance });
        self.publish(vec![ev]).await;
        Ok(out)
    }

    pub(crate) async fn gift_leaderboard(
        &self,
        stream_id: &str,
        limit: Option<i64>,
    ) -> Result<Value, CommerceError> {
        let limit = limit.unwrap_or(10).clamp(1, 100);
        with_pool!(self.db, |p| {
            let rows = sqlx::query(
                "SELECT user_id, user_name, coins FROM commerce_gift_totals WHERE stream_id = $1 \
                 ORDER BY coins DESC, user_id LIMIT $2",
            )
            .bind(stream_id)
            .bind(limit)
            .fetch_all(p)
            .await?;
            let mut out = Vec::new();
            for r in &rows {
                out.push(json!({
                    "user_id": r.try_get::<String, _>("user_id")?,
                    "user_name": r.try_get::<Option<String>, _>("user_name")?,
                    "coins": to_u64(r.try_get("coins")?),
                }));
            }
            Ok(json!({ "stream_id": stream_id, "leaderboard": out }))
        })
    }
}
