//! The stream's timeline: every public event with its stream time, for replay.

use crate::error::CommerceError;
use crate::Commerce;
use serde_json::{json, Value};

impl Commerce {
    pub(crate) async fn timeline(
        &self,
        stream_id: &str,
        since: Option<u64>,
        limit: Option<u64>,
    ) -> Result<Value, CommerceError> {
        let since = since.unwrap_or(0);
        let limit = limit.unwrap_or(1000).clamp(1, 10_000);
        let head = self.db.head_seq(stream_id).await?;
        let events = self
            .db
            .events_range(stream_id, since, u64::MAX >> 1, limit)
            .await?;
        let next = events.last().map(|e| e.seq).unwrap_or(since);
        let public: Vec<_> = events.into_iter().filter(|e| e.to.is_none()).collect();
        Ok(
            json!({ "stream_id": stream_id, "head_seq": head, "next_since": next, "events": public }),
        )
    }
}
