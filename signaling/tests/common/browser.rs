//! Runs a Node script of `tests/browser/` (headless Chromium through playwright-core) and
//! returns the JSON it prints.

use std::path::PathBuf;
use std::time::Duration;

/// `tests/browser/`, after checking that node, Chromium and playwright-core are there.
pub fn browser_dir() -> PathBuf {
    super::require("node", "--version");
    assert!(
        std::path::Path::new("/usr/bin/chromium").exists(),
        "this test needs /usr/bin/chromium"
    );
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/browser");
    assert!(
        dir.join("node_modules/playwright-core").exists(),
        "run `npm ci` in {} first (playwright-core is missing)",
        dir.display()
    );
    dir
}

/// Runs `node <script> <args…>` and parses its stdout as JSON.
pub async fn run_script(script: &str, args: &[String], timeout: Duration) -> serde_json::Value {
    let out = tokio::process::Command::new("node")
        .arg(script)
        .args(args)
        .current_dir(browser_dir())
        .kill_on_drop(true)
        .output();
    let out = match tokio::time::timeout(timeout, out).await {
        Ok(Ok(o)) => o,
        Ok(Err(e)) => panic!("node: {e}"),
        Err(_) => panic!("{script} did not finish in {timeout:?}"),
    };
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{script} failed: {stderr}\n{stdout}");
    match serde_json::from_str(stdout.trim()) {
        Ok(v) => v,
        Err(e) => panic!("{script} output is not JSON ({e}): {stdout}\n{stderr}"),
    }
}
