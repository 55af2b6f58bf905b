//! Roles and signed tokens (HS256 JWT), and who may do what.

use crate::error::CommerceError;
use jsonwebtoken::{decode, encode, Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

/// A caller's role. Host and moderator tokens are scoped to one stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Viewer,
    Moderator,
    Host,
    Admin,
}

/// JWT claims.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// User id.
    pub sub: String,
    /// Display name; `None` = anonymous viewer.
    pub name: Option<String>,
    pub role: Role,
    /// The stream the token is for; `None` = any stream (admin, or global viewer).
    pub stream: Option<String>,
    /// Expiry, Unix seconds.
    pub exp: u64,
}

/// The authenticated caller of a command.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Actor {
    pub user_id: String,
    pub name: Option<String>,
    pub role: Role,
    pub stream: Option<String>,
}

impl Actor {
    /// The static admin key's actor.
    pub fn admin() -> Self {
        Self {
            user_id: "admin".into(),
            name: Some("admin".into()),
            role: Role::Admin,
            stream: None,
        }
    }

    /// The role this actor has on `stream_id` (a token for another stream counts as viewer,
    /// and is refused for staff actions).
    pub fn role_on(&self, stream_id: &str) -> Role {
        match (&self.stream, self.role) {
            (_, Role::Admin) => Role::Admin,
            (None, r) => r.min(Role::Viewer),
            (Some(s), r) if s == stream_id => r,
            _ => Role::Viewer,
        }
    }

    /// Host, moderator or admin of this stream.
    pub fn require_staff(&self, stream_id: &str, what: &str) -> Result<(), CommerceError> {
        if self.role_on(stream_id) >= Role::Moderator {
            Ok(())
        } else {
            Err(CommerceError::Forbidden(format!(
                "{what} needs a host, moderator or admin token for stream {stream_id}; you are {:?}",
                self.role_on(stream_id)
            )))
        }
    }

    pub fn require_admin(&self, what: &str) -> Result<(), CommerceError> {
        if self.role == Role::Admin {
            Ok(())
        } else {
            Err(CommerceError::Forbidden(format!(
                "{what} needs an admin token"
            )))
        }
    }

    /// A token bound to another stream may not act on this one.
    pub fn require_stream(&self, stream_id: &str) -> Result<(), CommerceError> {
        match &self.stream {
            Some(s) if s != stream_id && self.role != Role::Admin => Err(CommerceError::Forbidden(
                format!("this token is for stream {s}, not {stream_id}"),
            )),
            _ => Ok(()),
        }
    }

    pub fn is_anonymous(&self) -> bool {
        self.name.is_none()
    }
}

/// Issues and verifies tokens; also accepts the static admin key.
pub struct Auth {
    admin_key: String,
    enc: EncodingKey,
    dec: DecodingKey,
    validation: Validation,
}

impl Auth {
    pub fn new(admin_key: &str, jwt_secret: &str) -> Self {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.required_spec_claims = ["exp", "sub"].iter().map(|s| s.to_string()).collect();
        validation.leeway = 5;
        Self {
            admin_key: admin_key.to_owned(),
            enc: EncodingKey::from_secret(jwt_secret.as_bytes()),
            dec: DecodingKey::from_secret(jwt_secret.as_bytes()),
            validation,
        }
    }

    pub fn issue(&self, claims: &Claims) -> Result<String, CommerceError> {
        encode(&Header::new(Algorithm::HS256), claims, &self.enc).map_err(crate::error::internal)
    }

    /// A bearer credential: the admin key, or a JWT.
    pub fn verify(&self, bearer: &str) -> Result<Actor, CommerceError> {
        if !self.admin_key.is_empty() && constant_eq(bearer.as_bytes(), self.admin_key.as_bytes()) {
            return Ok(Actor::admin());
        }
        let data = decode::<Claims>(bearer, &self.dec, &self.validation).map_err(|e| {
            tracing::info!(error = %e, "refused token");
            CommerceError::Unauthenticated(format!("invalid token: {e}"))
        })?;
        let c = data.claims;
        Ok(Actor {
            user_id: c.sub,
            name: c.name,
            role: c.role,
            stream: c.stream,
        })
    }
}

fn constant_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims(role: Role, stream: Option<&str>) -> Claims {
        Claims {
            sub: "u1".into(),
            name: Some("Ann".into()),
            role,
            stream: stream.map(Into::into),
            exp: u64::MAX / 2,
        }
    }

    #[test]
    fn roundtrip_and_admin_key() {
        let auth = Auth::new("adm", "secret");
        let t = auth.issue(&claims(Role::Host, Some("s1"))).unwrap();
        let a = auth.verify(&t).unwrap();
        assert_eq!(a.role_on("s1"), Role::Host);
        assert_eq!(a.role_on("s2"), Role::Viewer);
        assert!(a.require_staff("s2", "pin").is_err());
        assert_eq!(auth.verify("adm").unwrap().role, Role::Admin);
        assert!(auth.verify("nope").is_err());
        let other = Auth::new("adm", "other-secret");
        assert!(
            other.verify(&t).is_err(),
            "a token signed with another secret is refused"
        );
    }

    #[test]
    fn expired_token_refused() {
        let auth = Auth::new("adm", "secret");
        let mut c = claims(Role::Viewer, None);
        c.exp = 1;
        let t = auth.issue(&c).unwrap();
        assert!(matches!(
            auth.verify(&t),
            Err(CommerceError::Unauthenticated(_))
        ));
    }

    #[test]
    fn global_host_claim_is_only_viewer() {
        let a = Actor {
            user_id: "x".into(),
            name: None,
            role: Role::Host,
            stream: None,
        };
        assert_eq!(a.role_on("s"), Role::Viewer);
    }
}
