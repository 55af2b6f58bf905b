//! Secrets kept in the data dir: the admin API key and the token-signing secret.

use std::io::Write;
use std::path::Path;

use rand::RngCore;

/// The engine's secrets, resolved at start-up.
#[derive(Clone)]
pub struct Secrets {
    pub admin_key: String,
    pub jwt_secret: String,
}

/// Where a secret came from, so `serve` prints a generated admin key exactly once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    Configured,
    Stored,
    Generated,
}

/// A secret from config if set, else from `<data_dir>/<name>`, else a new random one written
/// there (mode 0600).
pub fn load_or_create(
    data_dir: &Path,
    name: &str,
    configured: Option<&str>,
) -> std::io::Result<(String, Origin)> {
    if let Some(value) = configured.filter(|v| !v.is_empty()) {
        return Ok((value.to_owned(), Origin::Configured));
    }
    let path = data_dir.join(name);
    match std::fs::read_to_string(&path) {
        Ok(text) if !text.trim().is_empty() => return Ok((text.trim().to_owned(), Origin::Stored)),
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    let mut bytes = [0u8; 24];
    rand::thread_rng().fill_bytes(&mut bytes);
    let value: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    std::fs::create_dir_all(data_dir)?;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options
        .open(&path)?
        .write_all(format!("{value}\n").as_bytes())?;
    Ok((value, Origin::Generated))
}

/// Compares two secrets in time independent of where they first differ.
pub fn constant_time_eq(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_once_then_stored_and_config_wins() {
        let dir = std::env::temp_dir().join(format!("showroom-secrets-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let (first, origin) = load_or_create(&dir, "admin_key", None).unwrap();
        assert_eq!(origin, Origin::Generated);
        assert_eq!(first.len(), 48);
        let (again, origin) = load_or_create(&dir, "admin_key", None).unwrap();
        assert_eq!((again.as_str(), origin), (first.as_str(), Origin::Stored));
        let (set, origin) = load_or_create(&dir, "admin_key", Some("mine")).unwrap();
        assert_eq!((set.as_str(), origin), ("mine", Origin::Configured));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn constant_time_compare() {
        assert!(constant_time_eq("abc", "abc"));
        assert!(!constant_time_eq("abc", "abd"));
        assert!(!constant_time_eq("abc", "abcd"));
    }
}
