//! Chat: messages, reactions, deletion, history. Moderation rules live in `moderation.rs`.

use crate::auth::{Actor, Role};
use crate::command::SanctionKind;
use crate::db::BeginWrite;
use crate::db::{to_u64, with_pool};
use crate::domain::moderation::modlog;
use crate::domain::{check_len, new_id};
use crate::error::CommerceError;
use crate::events::{append_event, NewEvent};
use crate::Commerce;
use serde_json::{json, Value};
use sqlx::Row;
use std::sync::Arc;

impl Commerce {
    pub(crate) async fn chat_send(
        self: &Arc<Self>,
        actor: &Actor,
        stream_id: &str,
        text: String,
    ) -> Result<Value, CommerceError> {
        if actor.is_anonymous() {
            return Err(CommerceError::Forbidden(
                "anonymous viewers cannot chat; ask for a named viewer token".into(),
            ));
        }
        check_len("message", &text, self.cfg.max_chat_chars)?;
        let staff = actor.role_on(stream_id) >= Role::Moderator;
        if !staff {
            self.refuse_if_sanctioned(
                stream_id,
                &actor.user_id,
                &[SanctionKind::Ban, SanctionKind::Mute],
            )
            .await?;
        }
        let settings = self.chat_settings(stream_id).await?;
        let lower = text.to_lowercase();
        if let Some(w) = settings
            .banned_words
            .iter()
            .find(|w| lower.contains(w.as_str()))
        {
            tracing::info!(stream_id, user = %actor.user_id, word = %w, "refused chat: word filter");
            return Err(CommerceError::refused(
                "word_filter",
                "your message contains a word not allowed on this stream",
            ));
        }
        let now = crate::now_ms() as i64;
        let slow = if staff {
            0
        } else {
            settings.slow_mode_ms as i64
        };
        let id = new_id("msg");
        let stamp = self.stamp_now(stream_id);
        let _g = self.db.write_gate().await;
        let ev = with_pool!(self.db, |p| {
            let mut tx = p.begin_write().await?;
            if slow > 0 {
                let ok = sqlx::query(
                    "INSERT INTO commerce_chat_last (stream_id, user_id, last_ms) VALUES ($1, $2, $3) \
                     ON CONFLICT (stream_id, user_id) DO UPDATE SET last_ms = $3 \
                     WHERE commerce_chat_last.last_ms <= $3 - $4 RETURNING last_ms",
                )
                .bind(stream_id)
                .bind(&actor.user_id)
                .bind(now)
                .bind(slow)
                .fetch_optional(&mut *tx)
                .await?;
                if ok.is_none() {
                    tracing::info!(stream_id, user = %actor.user_id, "refused chat: slow mode");
                    return Err(CommerceError::refused(
                        "slow_mode",
                        format!("slow mode: one message every {} s", slow / 1000),
                    ));
                }
            }
            sqlx::query(
                "INSERT INTO commerce_chat (id, stream_id, user_id, user_name, body, deleted, created_ms) \
                 VALUES ($1, $2, $3, $4, $5, 0, $6)",
            )
            .bind(&id)
            .bind(stream_id)
            .bind(&actor.user_id)
            .bind(&actor.name)
            .bind(&text)
            .bind(now)
            .execute(&mut *tx)
            .await?;
            let ev = append_event!(
                tx,
                stream_id,
                NewEvent {
                    to: None,
                    kind: "chat.message",
                    actor: Some(actor.user_id.clone()),
                    stamp,
                    data: json!({ "id": id, "user_id": actor.user_id, "user_name": actor.name,
                                  "role": actor.role_on(stream_id), "text": text }),
                }
            );
            tx.commit().await?;
            Ok::<_, CommerceError>(ev)
        })?;
        drop(_g);
        let out = json!({ "seq": ev.seq, "id": id });
        self.publish(vec![ev]).await;
        Ok(out)
    }

    pub(crate) async fn chat_react(
        self: &Arc<Self>,
        actor: &Actor,
        stream_id: &str,
        message_id: &str,
        emoji: String,
    ) -> Result<Value, CommerceError> {
        check_len("emoji", &emoji, 16)?;
        self.refuse_if_sanctioned(
            stream_id,
            &actor.user_id,
            &[SanctionKind::Ban, SanctionKind::Mute],
        )
        .await?;
        let stamp = self.stamp_now(stream_id);
        let _g = self.db.write_gate().await;
        let ev = with_pool!(self.db, |p| {
            let mut tx = p.begin_write().await?;
            let msg = sqlx::query(
                "SELECT id FROM commerce_chat WHERE id = $1 AND stream_id = $2 AND deleted = 0",
            )
            .bind(message_id)
            .bind(stream_id)
            .fetch_optional(&mut *tx)
            .await?;
            if msg.is_none() {
                return Err(CommerceError::NotFound(format!("message {message_id}")));
            }
            let added = sqlx::query(
                "INSERT INTO commerce_reactions (message_id, user_id, emoji) VALUES ($1, $2, $3) \
                 ON CONFLICT DO NOTHING RETURNING emoji",
            )
            .bind(message_id)
            .bind(&actor.user_id)
            .bind(&emoji)
            .fetch_optional(&mut *tx)
            .await?;
            if added.is_none() {
                return Err(CommerceError::refused(
                    "already_reacted",
                    "you already reacted with this emoji",
                ));
            }
            let ev = append_event!(
                tx,
                stream_id,
                NewEvent {
                    to: None,
                    kind: "chat.reaction",
                    actor: Some(actor.user_id.clone()),
                    stamp,
                    data: json!({ "message_id": message_id, "user_id": actor.user_id, "emoji": emoji }),
                }
            );
            tx.commit().await?;
            Ok::<_, CommerceError>(ev)
        })?;
        drop(_g);
        let out = json!({ "seq": ev.seq });
        self.publish(vec![ev]).await;
        Ok(out)
    }

    /// Staff delete any message (logged); authors may delete their own.
    pub(crate) async fn chat_delete(
        self: &Arc<Self>,
        actor: &Actor,
        stream_id: &str,
        message_id: &str,
    ) -> Result<Value, CommerceError> {
        let staff = actor.role_on(stream_id) >= Role::Moderator;
        let stamp = self.stamp_now(stream_id);
        let _g = self.db.write_gate().await;
        let ev = with_pool!(self.db, |p| {
            let mut tx = p.begin_write().await?;
            let row = sqlx::query("SELECT user_id FROM commerce_chat WHERE id = $1 AND stream_id = $2 AND deleted = 0")
                .bind(message_id)
                .bind(stream_id)
                .fetch_optional(&mut *tx)
                .await?
                .ok_or_else(|| CommerceError::NotFound(format!("message {message_id}")))?;
            let author: String = row.try_get("user_id")?;
            if !staff && author != actor.user_id {
                return Err(CommerceError::Forbidden(
                    "only staff can delete other people's messages".into(),
                ));
            }
            sqlx::query("UPDATE commerce_chat SET deleted = 1 WHERE id = $1")
                .bind(message_id)
                .execute(&mut *tx)
                .await?;
            if staff {
                modlog!(
                    tx,
                    stream_id,
                    &actor.user_id,
                    "delete",
                    Some(author.clone()),
                    json!({ "message_id": message_id })
                );
            }
            let ev = append_event!(
                tx,
                stream_id,
                NewEvent {
                    to: None,
                    kind: "chat.deleted",
                    actor: Some(actor.user_id.clone()),
                    stamp,
                    data: json!({ "message_id": message_id }),
                }
            );
            tx.commit().await?;
            Ok::<_, CommerceError>(ev)
        })?;
        drop(_g);
        let out = json!({ "seq": ev.seq });
        self.publish(vec![ev]).await;
        Ok(out)
    }

    pub(crate) async fn chat_history(
        &self,
        stream_id: &str,
        limit: Option<i64>,
    ) -> Result<Value, CommerceError> {
        let limit = limit.unwrap_or(50).clamp(1, 500);
        let settings = self.chat_settings(stream_id).await?;
        with_pool!(self.db, |p| {
            let rows = sqlx::query(
                "SELECT id, user_id, user_name, body, created_ms FROM commerce_chat \
                 WHERE stream_id = $1 AND deleted = 0 ORDER BY created_ms DESC, id DESC LIMIT $2",
            )
            .bind(stream_id)
            .bind(limit)
            .fetch_all(p)
            .await?;
            let mut out = Vec::new();
            for r in rows.iter().rev() {
                out.push(json!({
                    "id": r.try_get::<String, _>("id")?,
                    "user_id": r.try_get::<String, _>("user_id")?,
                    "user_name": r.try_get::<Option<String>, _>("user_name")?,
                    "text": r.try_get::<String, _>("body")?,
                    "created_ms": to_u64(r.try_get("created_ms")?),
                }));
            }
            Ok(
                json!({ "messages": out, "pinned_message": settings.pinned_message,
                       "slow_mode_s": settings.slow_mode_ms / 1000 }),
            )
        })
    }
}
