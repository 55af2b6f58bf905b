//! Polls: single or multiple choice, one vote per user, live results, close. Tallies persist.

use crate::auth::Actor;
use crate::command::SanctionKind;
use crate::db::BeginWrite;
use crate::db::{json_col, to_u64, with_pool};
use crate::domain::{check_len, new_id};
use crate::error::CommerceError;
use crate::events::{append_event, NewEvent};
use crate::Commerce;
use serde_json::{json, Value};
use sqlx::Row;
use std::sync::Arc;

const MAX_OPTIONS: usize = 10;

/// Load `(stream_id, options, multiple, closed)` and the tally of a poll inside `$tx`.
macro_rules! load_poll {
    ($tx:expr, $poll_id:expr) => {{
        let row = sqlx::query("SELECT stream_id, question, options, multiple, closed FROM commerce_polls WHERE id = $1")
            .bind($poll_id)
            .fetch_optional(&mut *$tx)
            .await?
            .ok_or_else(|| CommerceError::NotFound(format!("poll {}", $poll_id)))?;
        let options: String = row.try_get("options")?;
        let options: Vec<String> = json_col(&options)?;
        let tally_rows = sqlx::query("SELECT option_idx, votes FROM commerce_poll_tally WHERE poll_id = $1")
            .bind($poll_id)
            .fetch_all(&mut *$tx)
            .await?;
        let mut tally = vec![0u64; options.len()];
        for r in &tally_rows {
            let i = to_u64(r.try_get("option_idx")?) as usize;
            if let Some(t) = tally.get_mut(i) {
                *t = to_u64(r.try_get("votes")?);
            }
        }
        let voters = sqlx::query("SELECT COUNT(*) AS n FROM commerce_poll_votes WHERE poll_id = $1")
            .bind($poll_id)
            .fetch_one(&mut *$tx)
            .await?;
        PollView {
            id: $poll_id.to_owned(),
            stream_id: row.try_get("stream_id")?,
            question: row.try_get("question")?,
            options,
            multiple: row.try_get::<i64, _>("multiple")? != 0,
            closed: row.try_get::<i64, _>("closed")? != 0,
            tally,
            voters: to_u64(voters.try_get("n")?),
        }
    }};
}

#[derive(Debug, serde::Serialize)]
struct PollView {
    id: String,
    stream_id: String,
    question: String,
    options: Vec<String>,
    multiple: bool,
    closed: bool,
    tally: Vec<u64>,
    voters: u64,
}

fn to_value(p: &PollView) -> Result<Value, CommerceError> {
    serde_json::to_value(p).map_err(crate::error::internal)
}

impl Commerce {
    pub(crate) async fn poll_create(
        self: &Arc<Self>,
        actor: &Actor,
        stream_id: &str,
        question: String,
        options: Vec<String>,
        multiple: bool,
    ) -> Result<Value, CommerceError> {
        actor.require_staff(stream_id, "creating a poll")?;
        check_len("question", &question, 300)?;
        if options.len() < 2 || options.len() > MAX_OPTIONS {
            return Err(CommerceError::Invalid(format!(
                "a poll needs 2..={MAX_OPTIONS} options"
            )));
        }
        for o in &options {
            check_len("option", o, 100)?;
        }
        let id = new_id("poll");
        let stamp = self.stamp_now(stream_id);
        let opts = serde_json::to_string(&options).map_err(crate::error::internal)?;
        let _g = self.db.write_gate().await;
        let (ev, view) = with_pool!(self.db, |p| {
            let mut tx = p.begin_write().await?;
            sqlx::query(
                "INSERT INTO commerce_polls (id, stream_id, question, options, multiple, closed, created_ms) \
                 VALUES ($1, $2, $3, $4, $5, 0, $6)",
            )
            .bind(&id)
            .bind(stream_id)
            .bind(&question)
            .bind(&opts)
            .bind(i64::from(multiple))
            .bind(crate::now_ms() as i64)
            .execute(&mut *tx)
            .await?;
            let view = load_poll!(tx, id.as_str());
            let ev = append_event!(
                tx,
                stream_id,
                NewEvent {
                    to: None,
                    kind: "poll.created",
                    actor: Some(actor.user_id.clone()),
                    stamp,
                    data: to_value(&view)?
                }
            );
            tx.commit().await?;
            Ok::<_, CommerceError>((ev, view))
        })?;
        drop(_g);
        self.publish(vec![ev]).await;
        to_value(&view)
    }

    pub(crate) async fn poll_vote(
        self: &Arc<Self>,
        actor: &Actor,
        stream_id: &str,
        poll_id: &str,
        mut choices: Vec<u32>,
    ) -> Result<Value, CommerceError> {
        self.refuse_if_sanctioned(stream_id, &actor.user_id, &[SanctionKind::Ban])
            .await?;
        choices.sort_unstable();
        choices.dedup();
        let stamp = self.stamp_now(stream_id);
        let _g = self.db.write_gate().await;
        let (ev, view) = with_pool!(self.db, |p| {
            let mut tx = p.begin_write().await?;
            let before = load_poll!(tx, poll_id);
            if before.stream_id != stream_id {
                return Err(CommerceError::NotFound(format!(
                    "poll {poll_id} on stream {stream_id}"
                )));
            }
            if before.closed {
                return Err(CommerceError::refused("poll_closed", "this poll is closed"));
            }
            if choices.is_empty() || (!before.multiple && choices.len() != 1) {
                return Err(CommerceError::Invalid(if before.multiple {
                    "choose at least one option".into()
                } else {
                    "this poll takes exactly one choice".into()
                }));
            }
            if let Some(bad) = choices
                .iter()
                .find(|c| **c as usize >= before.options.len())
            {
                return Err(CommerceError::Invalid(format!(
                    "option {bad} does not exist"
                )));
            }
            let inserted = sqlx::query(
                "INSERT INTO commerce_poll_votes (poll_id, user_id, choices) VALUES ($1, $2, $3) \
                 ON CONFLICT (poll_id, user_id) DO NOTHING RETURNING user_id",
            )
            .bind(poll_id)
            .bind(&actor.user_id)
            .bind(serde_json::to_string(&choices).map_err(crate::error::internal)?)
            .fetch_optional(&mut *tx)
            .await?;
            if inserted.is_none() {
                return Err(CommerceError::refused(
                    "already_voted",
                    "you already voted in this poll",
                ));
            }
            for c in &choices {
                sqlx::query(
                    "INSERT INTO commerce_poll_tally (poll_id, option_idx, votes) VALUES ($1, $2, 1) \
                     ON CONFLICT (poll_id, option_idx) DO UPDATE SET votes = commerce_poll_tally.votes + 1",
                )
                .bind(poll_id)
                .bind(i64::from(*c))
                .execute(&mut *tx)
                .await?;
            }
            let view = load_poll!(tx, poll_id);
            let ev = append_event!(
                tx,
                stream_id,
                NewEvent {
                    to: None,
                    kind: "poll.results",
                    actor: None,
                    stamp,
                    data: json!({ "poll_id": poll_id, "tally": view.tally, "voters": view.voters }),
                }
            );
            tx.commit().await?;
            Ok::<_, CommerceError>((ev, view))
        })?;
        drop(_g);
        self.publish(vec![ev]).await;
        to_value(&view)
    }

    pub(crate) async fn poll_close(
        self: &Arc<Self>,
        actor: &Actor,
        stream_id: &str,
        poll_id: &str,
    ) -> Result<Value, CommerceError> {
        actor.require_staff(stream_id, "closing a poll")?;
        let stamp = self.stamp_now(stream_id);
        let _g = self.db.write_gate().await;
        let (ev, view) = with_pool!(self.db, |p| {
            let mut tx = p.begin_write().await?;
            let closed = sqlx::query("UPDATE commerce_polls SET closed = 1 WHERE id = $1 AND stream_id = $2 AND closed = 0 RETURNING id")
                .bind(poll_id)
                .bind(stream_id)
                .fetch_optional(&mut *tx)
                .await?;
            if closed.is_none() {
                return Err(CommerceError::refused(
                    "poll_closed",
                    format!("poll {poll_id} is not open on this stream"),
                ));
            }
            let view = load_poll!(tx, poll_id);
            let ev = append_event!(
                tx,
                stream_id,
                NewEvent {
                    to: None,
                    kind: "poll.closed",
                    actor: Some(actor.user_id.clone()),
                    stamp,
                    data: to_value(&view)?
                }
            );
            tx.commit().await?;
            Ok::<_, CommerceError>((ev, view))
        })?;
        drop(_g);
        self.publish(vec![ev]).await;
        to_value(&view)
    }

    pub(crate) async fn poll_get(
        &self,
        stream_id: &str,
        poll_id: &str,
    ) -> Result<Value, CommerceError> {
        with_pool!(self.db, |p| {
            let mut tx = p.begin_write().await?;
            let view = load_poll!(tx, poll_id);
            if view.stream_id != stream_id {
                return Err(CommerceError::NotFound(format!(
                    "poll {poll_id} on stream {stream_id}"
                )));
            }
            to_value(&view)
        })
    }

    pub(crate) async fn poll_list(&self, stream_id: &str) -> Result<Value, CommerceError> {
        let ids: Vec<String> = with_pool!(self.db, |p| {
            let rows = sqlx::query(
                "SELECT id FROM commerce_polls WHERE stream_id = $1 ORDER BY created_ms, id",
            )
            .bind(stream_id)
            .fetch_all(p)
            .await?;
            rows.iter()
                .map(|r| r.try_get("id"))
                .collect::<Result<_, _>>()?
        });
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            out.push(self.poll_get(stream_id, &id).await?);
        }
        Ok(json!({ "polls": out }))
    }
}
