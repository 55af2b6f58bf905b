//! LL-HLS test helpers: the conformance checker (`shared/tools/llhls_check.py`) and playlist
//! parsing shared by the LL-HLS and ABR tests.

use std::path::PathBuf;
use std::process::Command;

use anyhow::{bail, ensure, Context};
use reqwest::Url;
use serde_json::Value;

/// `llhls_check.py`: `$LLHLS_CHECK_PY`, else `<repo>/../shared/tools/` (CI clones the repo
/// beside `shared/`), else `/work/shared/tools/`.
pub fn checker_path() -> anyhow::Result<PathBuf> {
    if let Some(p) = std::env::var_os("LLHLS_CHECK_PY") {
        return Ok(p.into());
    }
    let repo = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let candidates = [
        repo.join("../shared/tools/llhls_check.py"),
        PathBuf::from("/work/shared/tools/llhls_check.py"),
    ];
    candidates
        .iter()
        .find(|p| p.is_file())
        .cloned()
        .with_context(|| {
            format!(
                "llhls_check.py not found (looked at {candidates:?}); put shared/ beside the \
                 repository or set LLHLS_CHECK_PY"
            )
        })
}

/// The media playlists (variants and renditions) a multivariant playlist points at.
pub fn media_playlists(base: &Url, multivariant: &str) -> anyhow::Result<Vec<Url>> {
    let mut out = Vec::new();
    let mut next_is_variant = false;
    for line in multivariant.lines().map(str::trim) {
        if line.starts_with("#EXT-X-STREAM-INF") {
            next_is_variant = true;
        } else if line.starts_with("#EXT-X-MEDIA:") {
            if let Some(uri) = attr(line, "URI") {
                out.push(base.join(&uri)?);
            }
        } else if next_is_variant && !line.is_empty() && !line.starts_with('#') {
            out.push(base.join(line)?);
            next_is_variant = false;
        }
    }
    ensure!(!out.is_empty(), "no media playlist in:\n{multivariant}");
    Ok(out)
}

/// A quoted attribute (`NAME="value"`) of a tag line.
pub fn attr(line: &str, name: &str) -> Option<String> {
    let key = format!("{name}=\"");
    let start = line.find(&key)? + key.len();
    let len = line[start..].find('"')?;
    Some(line[start..start + len].to_owned())
}

/// Runs the checker for `seconds` and returns its JSON summary and full output.
pub async fn run_checker(url: &str, seconds: u32) -> anyhow::Result<(Value, String)> {
    let script = checker_path()?;
    let url = url.to_owned();
    let out = tokio::task::spawn_blocking(move || {
        Command::new("python3")
            .arg(&script)
            .arg(&url)
            .args(["--duration", &seconds.to_string(), "--json"])
            .output()
    })
    .await?
    .context("python3 not installed (needed to run llhls_check.py)")?;
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let text = format!("{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    // The JSON summary is the block from the first line that is exactly "{" to the line "}".
    let start = stdout.find("\n{\n").map(|i| i + 1);
    let end = stdout.rfind("\n}\n").map(|i| i + 2);
    let (Some(start), Some(end)) = (start, end) else {
        bail!("llhls_check printed no JSON summary:\n{text}");
    };
    let json: Value = serde_json::from_str(&stdout[start..end])
        .with_context(|| format!("llhls_check JSON summary unreadable:\n{text}"))?;
    Ok((json, text))
}
