//! A stream's live figures for its staff (the host studio): viewers, chat reactions, gifts,
//! orders and revenue. Everything but the viewers is read from the database, so every engine
//! process gives the same answer; the viewers are the latest [`crate::presence`] total.
//! Authorisation is the caller's: the engine serves this to the admin key and the stream's
//! host/moderator tokens only (`GET /api/v1/streams/{id}/stats`).

use serde::Serialize;
use sqlx::Row;

use crate::db::{to_u64, with_pool};
use crate::error::CommerceError;
use crate::presence::Viewers;
use crate::Commerce;

/// What the studio shows under "Live".
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct StreamStats {
    pub stream_id: String,
    pub viewers: Viewers,
    /// Emoji reactions on the stream's chat messages.
    pub reactions: u64,
    /// Chat messages not deleted.
    pub chat_messages: u64,
    /// Gifts sent (each of a `count` counts) and the coins they cost.
    pub gifts: u64,
    pub gift_coins: u64,
    pub orders: OrderCounts,
    /// Sum of paid orders, one entry per currency (sorted by currency).
    pub revenue: Vec<Revenue>,
}

/// Orders of the stream by status.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct OrderCounts {
    pub paid: u64,
    pub pending: u64,
    pub failed: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Revenue {
    pub currency: String,
    pub total_minor: u64,
}

const ORDERS: &str = "SELECT status, currency, COUNT(*) AS n, CAST(COALESCE(SUM(total_minor), 0) AS BIGINT) AS total \
                      FROM commerce_orders WHERE stream_id = $1 GROUP BY status, currency ORDER BY currency";
const REACTIONS: &str = "SELECT COUNT(*) AS n FROM commerce_reactions r \
                         JOIN commerce_chat c ON c.id = r.message_id WHERE c.stream_id = $1";
const CHAT: &str = "SELECT COUNT(*) AS n FROM commerce_chat WHERE stream_id = $1 AND deleted = 0";
const GIFTS: &str = "SELECT CAST(COALESCE(SUM(count), 0) AS BIGINT) AS n, \
                     CAST(COALESCE(SUM(coins), 0) AS BIGINT) AS coins FROM commerce_gifts_sent WHERE stream_id = $1";

impl Commerce {
    /// The stream's figures now. The caller has checked the requester is staff of the stream.
    pub async fn stream_stats(&self, stream_id: &str) -> Result<StreamStats, CommerceError> {
        self.require_stream(stream_id)?;
        let mut out = StreamStats {
            stream_id: stream_id.to_owned(),
            viewers: self.viewers(stream_id),
            ..StreamStats::default()
        };
        with_pool!(self.db, |p| {
            for r in sqlx::query(ORDERS).bind(stream_id).fetch_all(p).await? {
                let status: String = r.try_get("status")?;
                let n = to_u64(r.try_get("n")?);
                match status.as_str() {
                    "paid" => {
                        out.orders.paid += n;
                        out.revenue.push(Revenue {
                            currency: r.try_get("currency")?,
                            total_minor: to_u64(r.try_get("total")?),
                        });
                    }
                    "pending" => out.orders.pending += n,
                    _ => out.orders.failed += n,
                }
            }
            let one = |sql| sqlx::query(sql).bind(stream_id).fetch_one(p);
            out.reactions = to_u64(one(REACTIONS).await?.try_get("n")?);
            out.chat_messages = to_u64(one(CHAT).await?.try_get("n")?);
            let g = one(GIFTS).await?;
            out.gifts = to_u64(g.try_get("n")?);
            out.gift_coins = to_u64(g.try_get("coins")?);
            Ok::<_, CommerceError>(())
        })?;
        Ok(out)
    }
}
