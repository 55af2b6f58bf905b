//! Token issuing: hosts by stream key, viewers anonymous or named, staff by admin (or host).

use crate::auth::{Actor, Claims, Role};
use crate::domain::{check_len, new_id};
use crate::error::CommerceError;
use crate::Commerce;
use serde_json::{json, Value};

impl Commerce {
    fn sign(&self, claims: Claims) -> Result<Value, CommerceError> {
        let token = self.auth.issue(&claims)?;
        Ok(
            json!({ "token": token, "user_id": claims.sub, "name": claims.name, "role": claims.role,
                   "stream_id": claims.stream, "expires_at": claims.exp }),
        )
    }

    fn exp(&self) -> u64 {
        crate::now_ms() / 1000 + self.cfg.token_ttl_s
    }

    /// A host token for `stream_id`, for whoever knows its stream key.
    pub fn issue_host_token(
        &self,
        stream_id: &str,
        stream_key: &str,
        name: Option<String>,
    ) -> Result<Value, CommerceError> {
        self.require_stream(stream_id)?;
        if !self.streams.check_stream_key(stream_id, stream_key) {
            tracing::info!(stream_id, "refused host token: wrong stream key");
            return Err(CommerceError::Unauthenticated("wrong stream key".into()));
        }
        self.sign(Claims {
            sub: format!("host:{stream_id}"),
            name: Some(name.unwrap_or_else(|| "host".into())),
            role: Role::Host,
            stream: Some(stream_id.to_owned()),
            exp: self.exp(),
        })
    }

    /// A viewer token for `stream_id`: anonymous (`name` None) or named. Each call is a new user.
    pub fn issue_viewer_token(
        &self,
        stream_id: &str,
        name: Option<String>,
    ) -> Result<Value, CommerceError> {
        self.require_stream(stream_id)?;
        if let Some(n) = &name {
            check_len("name", n, 50)?;
        }
        self.sign(Claims {
            sub: new_id(if name.is_some() { "usr" } else { "anon" }),
            name,
            role: Role::Viewer,
            stream: Some(stream_id.to_owned()),
            exp: self.exp(),
        })
    }

    /// Admin: any role, any user id. Host: moderator tokens for its stream.
    pub(crate) fn token_issue(
        &self,
        actor: &Actor,
        stream_id: Option<&str>,
        role: Role,
        name: Option<String>,
        user_id: Option<String>,
    ) -> Result<Value, CommerceError> {
        let allowed = match actor.role {
            Role::Admin => true,
            Role::Host => {
                role <= Role::Moderator
                    && stream_id.is_some()
                    && actor.stream.as_deref() == stream_id
            }
            _ => false,
        };
        if !allowed {
            return Err(CommerceError::Forbidden(
                "only admins issue tokens (hosts may issue moderator/viewer tokens for their stream)".into(),
            ));
        }
        if role != Role::Admin && role != Role::Viewer && stream_id.is_none() {
            return Err(CommerceError::Invalid(
                "host and moderator tokens need a stream".into(),
            ));
        }
        self.sign(Claims {
            sub: user_id.unwrap_or_else(|| new_id("usr")),
            name,
            role,
            stream: stream_id.map(str::to_owned),
            exp: self.exp(),
        })
    }
}
