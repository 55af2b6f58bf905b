//! The crate's one error enum. Each variant maps to a stable wire `code` and an HTTP status.

/// Everything the commerce layer can refuse or fail with.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CommerceError {
    /// No or invalid credentials.
    #[error("unauthenticated: {0}")]
    Unauthenticated(String),
    /// Authenticated, but the role may not do this.
    #[error("forbidden: {0}")]
    Forbidden(String),
    /// The request is malformed or a field is out of range.
    #[error("invalid request: {0}")]
    Invalid(String),
    /// The named thing does not exist.
    #[error("not found: {0}")]
    NotFound(String),
    /// A business rule refuses it (sold out, sale ended, limit reached, insufficient coins...).
    #[error("{0}")]
    Refused(Refusal),
    /// Too many requests; retry after the given milliseconds. `limit` names the limit that
    /// refused it: `per_user` (all of a user's connections and REST calls) or `per_connection`.
    #[error("rate limited ({limit} limit): retry in {retry_after_ms} ms")]
    RateLimited {
        limit: &'static str,
        retry_after_ms: u64,
    },
    /// Storage failed.
    #[error("database: {0}")]
    Db(#[from] sqlx::Error),
    /// Migrations failed.
    #[error("migration: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// The Redis bus failed.
    #[error("redis: {0}")]
    Redis(#[from] redis::RedisError),
    /// Payment provider failure.
    #[error("payment: {0}")]
    Payment(String),
    /// Internal invariant broken (serialisation, corrupt row).
    #[error("internal: {0}")]
    Internal(String),
}

/// A business refusal: a stable machine code and a human reason.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Refusal {
    pub code: String,
    pub reason: String,
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code, self.reason)
    }
}

impl CommerceError {
    /// A business refusal with a stable code.
    pub fn refused(code: &str, reason: impl Into<String>) -> Self {
        Self::Refused(Refusal {
            code: code.to_owned(),
            reason: reason.into(),
        })
    }

    /// The stable wire code (also used in error frames).
    pub fn code(&self) -> &str {
        match self {
            Self::Unauthenticated(_) => "unauthenticated",
            Self::Forbidden(_) => "forbidden",
            Self::Invalid(_) => "invalid",
            Self::NotFound(_) => "not_found",
            Self::Refused(r) => &r.code,
            Self::RateLimited { .. } => "rate_limited",
            Self::Payment(_) => "payment_failed",
            Self::Db(_) | Self::Migrate(_) | Self::Redis(_) | Self::Internal(_) => "internal",
        }
    }

    /// HTTP status for the REST surface.
    pub fn http_status(&self) -> u16 {
        match self {
            Self::Unauthenticated(_) => 401,
            Self::Forbidden(_) => 403,
            Self::Invalid(_) => 400,
            Self::NotFound(_) => 404,
            Self::Refused(_) => 409,
            Self::RateLimited { .. } => 429,
            Self::Payment(_) => 402,
            Self::Db(_) | Self::Migrate(_) | Self::Redis(_) | Self::Internal(_) => 500,
        }
    }

    /// The message safe to show a client (internals are logged, not sent).
    pub fn public_message(&self) -> String {
        match self {
            Self::Db(_) | Self::Migrate(_) | Self::Redis(_) | Self::Internal(_) => {
                "internal error".to_owned()
            }
            Self::Refused(r) => r.reason.clone(),
            other => other.to_string(),
        }
    }
}

pub(crate) fn internal(e: impl std::fmt::Display) -> CommerceError {
    CommerceError::Internal(e.to_string())
}
