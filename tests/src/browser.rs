//! Browser-driving scripts (`tests/browser/*.mjs`, hls.js in headless Chromium) run with
//! `node`; each prints one JSON line with what it saw.

use std::ffi::OsString;
use std::path::PathBuf;
use std::process::Command;

use anyhow::{ensure, Context};
use serde_json::Value;

/// Runs `node SCRIPT ARGS...` off the async runtime and returns its JSON line, parsed and raw.
pub async fn run_node_json(
    script: PathBuf,
    args: Vec<OsString>,
) -> anyhow::Result<(Value, String)> {
    let name = script.display().to_string();
    let out =
        tokio::task::spawn_blocking(move || Command::new("node").arg(script).args(args).output())
            .await?
            .context("node not installed (scripts/deps.sh test installs nodejs)")?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    ensure!(
        out.status.success(),
        "{name} failed ({}):\n{stdout}\n{stderr}",
        out.status
    );
    let line = stdout
        .lines()
        .rev()
        .find(|l| l.starts_with('{'))
        .with_context(|| format!("no JSON line from {name}:\n{stdout}\n{stderr}"))?
        .to_owned();
    Ok((serde_json::from_str(&line)?, line))
}
