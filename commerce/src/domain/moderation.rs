//! Chat moderation: timed bans and mutes per stream, slow mode, word filter, pinned message,
//! and the moderation log.

use crate::auth::Actor;
use crate::command::SanctionKind;
use crate::db::BeginWrite;
use crate::db::{json_col, to_u64, with_pool};
use crate::error::CommerceError;
use crate::events::{append_event, NewEvent};
use crate::Commerce;
use serde_json::{json, Value};
use sqlx::Row;
use std::sync::Arc;

const YEAR_S: u64 = 365 * 24 * 3600;

/// Append a moderation-log row inside `$tx`.
macro_rules! modlog {
    ($tx:expr, $stream:expr, $actor:expr, $action:expr, $target:expr, $detail:expr) => {
        sqlx::query(
            "INSERT INTO commerce_modlog (id, stream_id, actor, action, target, detail, created_ms) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind($crate::domain::new_id("mod"))
        .bind($stream)
        .bind($actor)
        .bind($action)
        .bind($target)
        .bind(serde_json::to_string(&$detail).map_err($crate::error::internal)?)
        .bind($crate::now_ms() as i64)
        .execute(&mut *$tx)
        .await?
    };
}
pub(crate) use modlog;

/// Chat settings of a stream.
#[derive(Debug, Default, Clone)]
pub(crate) struct ChatSettings {
    pub slow_mode_ms: u64,
    pub banned_words: Vec<String>,
    pub pinned_message: Option<String>,
}

impl Commerce {
    /// Refuse when `user_id` has an active sanction of one of `kinds` on the stream.
    pub(crate) async fn refuse_if_sanctioned(
        &self,
        stream_id: &str,
        user_id: &str,
        kinds: &[SanctionKind],
    ) -> Result<(), CommerceError> {
        let now = crate::now_ms() as i64;
        let rows: Vec<(String, i64)> = with_pool!(self.db, |p| {
            let rows = sqlx::query("SELECT kind, until_ms FROM commerce_sanctions WHERE stream_id = $1 AND user_id = $2 AND until_ms > $3")
                .bind(stream_id)
                .bind(user_id)
                .bind(now)
                .fetch_all(p)
                .await?;
            rows.iter()
                .map(|r| Ok((r.try_get("kind")?, r.try_get("until_ms")?)))
                .collect::<Result<_, sqlx::Error>>()?
        });
        for (kind, until) in rows {
            if kinds.iter().any(|k| k.as_str() == kind) {
                tracing::info!(stream_id, user_id, kind, "refused: user sanctioned");
                return Err(CommerceError::refused(
                    if kind == "ban" { "banned" } else { "muted" },
                    format!(
                        "you are {}ed on this stream for {} more seconds",
                        kind,
                        (until - now) / 1000 + 1
                    )
                    .replace("baned", "banned"),
                ));
            }
        }
        Ok(())
    }

    pub(crate) async fn chat_settings(
        &self,
        stream_id: &str,
    ) -> Result<ChatSettings, CommerceError> {
        with_pool!(self.db, |p| {
            let r = sqlx::query("SELECT slow_mode_ms, banned_words, pinned_message FROM commerce_chat_settings WHERE stream_id = $1")
                .bind(stream_id)
                .fetch_optional(p)
                .await?;
            Ok(match r {
                None => ChatSettings::default(),
                Some(r) => ChatSettings {
                    slow_mode_ms: to_u64(r.try_get("slow_mode_ms")?),
                    banned_words: json_col(&r.try_get::<String, _>("banned_words")?)?,
                    pinned_message: r.try_get("pinned_message")?,
                },
            })
        })
    }

    pub(crate) async fn mod_sanction(
        self: &Arc<Self>,
        actor: &Actor,
        stream_id: &str,
        user_id: &str,
        kind: SanctionKind,
        duration_s: Option<u64>,
    ) -> Result<Value, CommerceError> {
        actor.require_staff(stream_id, "banning or muting")?;
        let dur = duration_s.unwrap_or(YEAR_S).clamp(1, 10 * YEAR_S);
        let until = crate::now_ms() + dur * 1000;
        let stamp = self.stamp_now(stream_id);
        let _g = self.db.write_gate().await;
        let ev = with_pool!(self.db, |p| {
            let mut tx = p.begin_write().await?;
            sqlx::query(
                "INSERT INTO commerce_sanctions (stream_id, user_id, kind, until_ms) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (stream_id, user_id, kind) DO UPDATE SET until_ms = $4",
            )
            .bind(stream_id)
            .bind(user_id)
            .bind(kind.as_str())
            .bind(until as i64)
            .execute(&mut *tx)
            .await?;
            modlog!(
                tx,
                stream_id,
                &actor.user_id,
                kind.as_str(),
                Some(user_id),
                json!({ "duration_s": dur })
            );
            let ev = append_event!(
                tx,
                stream_id,
                NewEvent {
                    to: None,
                    kind: "mod.sanctioned",
                    actor: Some(actor.user_id.clone()),
                    stamp,
                    data: json!({ "user_id": user_id, "kind": kind, "until_ms": until }),
                }
            );
            tx.commit().await?;
            Ok::<_, CommerceError>(ev)
        })?;
        drop(_g);
        let out = json!({ "seq": ev.seq, "user_id": user_id, "kind": kind, "until_ms": until });
        self.publish(vec![ev]).await;
        Ok(out)
    }

    pub(crate) async fn mod_lift(
        self: &Arc<Self>,
        actor: &Actor,
        stream_id: &str,
        user_id: &str,
        kind: SanctionKind,
    ) -> Result<Value, CommerceError> {
        actor.require_staff(stream_id, "lifting a ban or mute")?;
        let stamp = self.stamp_now(stream_id);
        let _g = self.db.write_gate().await;
        let ev = with_pool!(self.db, |p| {
            let mut tx = p.begin_write().await?;
            sqlx::query("DELETE FROM commerce_sanctions WHERE stream_id = $1 AND user_id = $2 AND kind = $3")
                .bind(stream_id)
                .bind(user_id)
                .bind(kind.as_str())
                .execute(&mut *tx)
                .await?;
            modlog!(
                tx,
                stream_id,
                &actor.user_id,
                format!("un{}", kind.as_str()),
                Some(user_id),
                json!({})
            );
            let ev = append_event!(
                tx,
                stream_id,
                NewEvent {
                    to: None,
                    kind: "mod.lifted",
                    actor: Some(actor.user_id.clone()),
                    stamp,
                    data: json!({ "user_id": user_id, "kind": kind }),
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

    pub(crate) async fn mod_settings(
        self: &Arc<Self>,
        actor: &Actor,
        stream_id: &str,
        slow_mode_s: Option<u64>,
        banned_words: Option<Vec<String>>,
        pinned_message: Option<String>,
    ) -> Result<Value, CommerceError> {
        actor.require_staff(stream_id, "changing chat settings")?;
        let mut s = self.chat_settings(stream_id).await?;
        if let Some(v) = slow_mode_s {
            s.slow_mode_ms = v.min(3600) * 1000;
        }
        if let Some(w) = banned_words {
            s.banned_words = w
                .into_iter()
                .map(|w| w.trim().to_lowercase())
                .filter(|w| !w.is_empty())
                .collect();
        }
        if let Some(m) = pinned_message {
            if m.chars().count() > self.cfg.max_chat_chars {
                return Err(CommerceError::Invalid("pinned message too long".into()));
            }
            s.pinned_message = (!m.is_empty()).then_some(m);
        }
        let stamp = self.stamp_now(stream_id);
        let words = serde_json::to_string(&s.banned_words).map_err(crate::error::internal)?;
        let public = json!({ "slow_mode_s": s.slow_mode_ms / 1000, "banned_words": s.banned_words.len(),
                             "pinned_message": s.pinned_message });
        let _g = self.db.write_gate().await;
        let ev = with_pool!(self.db, |p| {
            let mut tx = p.begin_write().await?;
            sqlx::query(
                "INSERT INTO commerce_chat_settings (stream_id, slow_mode_ms, banned_words, pinned_message) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (stream_id) DO UPDATE SET slow_mode_ms = $2, banned_words = $3, pinned_message = $4",
            )
            .bind(stream_id)
            .bind(s.slow_mode_ms as i64)
            .bind(&words)
            .bind(&s.pinned_message)
            .execute(&mut *tx)
            .await?;
            modlog!(
                tx,
                stream_id,
                &actor.user_id,
                "settings",
                None::<String>,
                public
            );
            let ev = append_event!(
                tx,
                stream_id,
                NewEvent {
                    to: None,
                    kind: "chat.settings",
                    actor: Some(actor.user_id.clone()),
                    stamp,
                    data: public.clone()
                }
            );
            tx.commit().await?;
            Ok::<_, CommerceError>(ev)
        })?;
        drop(_g);
        self.publish(vec![ev]).await;
        Ok(public)
    }

    pub(crate) async fn mod_log(
        &self,
        actor: &Actor,
        stream_id: &str,
    ) -> Result<Value, CommerceError> {
        actor.require_staff(stream_id, "reading the moderation log")?;
        with_pool!(self.db, |p| {
            let rows = sqlx::query(
                "SELECT id, actor, action, target, detail, created_ms FROM commerce_modlog WHERE stream_id = $1 \
                 ORDER BY created_ms DESC, id LIMIT 500",
            )
            .bind(stream_id)
            .fetch_all(p)
            .await?;
            let mut out = Vec::new();
            for r in &rows {
                out.push(json!({
                    "id": r.try_get::<String, _>("id")?,
                    "actor": r.try_get::<String, _>("actor")?,
                    "action": r.try_get::<String, _>("action")?,
                    "target": r.try_get::<Option<String>, _>("target")?,
                    "detail": json_col::<Value>(&r.try_get::<String, _>("detail")?)?,
                    "created_ms": to_u64(r.try_get("created_ms")?),
                }));
            }
            Ok(json!({ "log": out }))
        })
    }
}
