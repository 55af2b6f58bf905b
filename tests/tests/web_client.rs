//! The web client (`web-client/`): its unit tests (vitest: overlay scheduler, WHIP/WHEP
//! signalling, event socket) and the full browser journey in the system Chromium against a real
//! engine fed by ffmpeg (`web-client/tests/e2e/journey.mjs`). Installs the npm dependencies
//! (`npm ci`) when they are missing. Steps that need WebRTC are reported as pending by the journey.

use std::path::PathBuf;
use std::process::Command;
use std::sync::Mutex;

use anyhow::{ensure, Context};

/// npm steps share `node_modules` and `dist/`: one at a time.
static NPM: Mutex<()> = Mutex::new(());

fn web_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join("web-client")
}

fn npm(args: &[&str]) -> anyhow::Result<String> {
    let out = Command::new("npm")
        .args(args)
        .current_dir(web_dir())
        .output()
        .context("running npm (install Node.js 20 and npm)")?;
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    ensure!(
        out.status.success(),
        "npm {} failed:\n{text}",
        args.join(" ")
    );
    Ok(text)
}

fn ready() -> anyhow::Result<std::sync::MutexGuard<'static, ()>> {
    let guard = NPM.lock().unwrap_or_else(|e| e.into_inner());
    if !web_dir().join("node_modules/.bin/vite").exists() {
        npm(&["ci", "--no-audit", "--no-fund"])?;
    }
    Ok(guard)
}

#[test]
fn web_client_typechecks_and_unit_tests_pass() -> anyhow::Result<()> {
    let _g = ready()?;
    npm(&["run", "typecheck"])?;
    let out = npm(&["run", "test:unit"])?;
    ensure!(out.contains("passed"), "vitest output:\n{out}");
    Ok(())
}

#[test]
fn web_client_browser_journey() -> anyhow::Result<()> {
    run_node("tests/e2e/journey.mjs", "0 failed")
}

/// The pages' WHIP/WHEP clients against a Chromium reference peer (the engine has no WHIP/WHEP yet).
#[test]
fn web_client_webrtc_clients() -> anyhow::Result<()> {
    run_node("tests/e2e/webrtc_clients.mjs", "DELETE on the Location")
}

fn run_node(script: &str, expect: &str) -> anyhow::Result<()> {
    let bin = showroom_tests::showroom_bin();
    let _g = ready()?;
    npm(&["run", "build"])?;
    let out = Command::new("node")
        .arg(script)
        .env("SHOWROOM_BIN", &bin)
        .current_dir(web_dir())
        .output()
        .context("running node")?;
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    println!("{text}");
    ensure!(out.status.success(), "{script} failed:\n{text}");
    ensure!(
        text.contains(expect),
        "{script}: {expect:?} missing:\n{text}"
    );
    Ok(())
}
