//! Domain operations, one file per concern. Each write runs in one SQL transaction that also
//! appends its events; events are published only after commit.

mod catalog;
mod chat;
pub(crate) mod commit_thread;
mod flash;
pub(crate) mod flash_stock;
pub(crate) mod flash_winners;
mod gifts;
pub(crate) mod group_commit;
mod moderation;
mod orders;
mod pins;
mod polls;
pub(crate) mod settlements;
mod timeline;
mod tokens;

use crate::error::CommerceError;

pub(crate) fn new_id(prefix: &str) -> String {
    format!("{prefix}_{}", uuid::Uuid::new_v4().simple())
}

pub(crate) fn check_len(what: &str, s: &str, max: usize) -> Result<(), CommerceError> {
    if s.trim().is_empty() {
        return Err(CommerceError::Invalid(format!("{what} is empty")));
    }
    if s.chars().count() > max {
        return Err(CommerceError::Invalid(format!(
            "{what} is longer than {max} characters"
        )));
    }
    Ok(())
}

pub(crate) fn positive(what: &str, v: i64, max: i64) -> Result<(), CommerceError> {
    if v <= 0 || v > max {
        return Err(CommerceError::Invalid(format!(
            "{what} must be in 1..={max}, got {v}"
        )));
    }
    Ok(())
}
