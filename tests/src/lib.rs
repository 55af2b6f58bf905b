//! Test harness shared by the integration tests in `tests/tests/`: start a real `showroom`
//! process on free loopback ports, and drive real clients (ffmpeg, GStreamer, Chromium) at it.
//!
//! The binary is the one `cargo build -p showroom-engine` made (`scripts/test.sh` builds it
//! before the tests); `SHOWROOM_BIN` overrides the path.

pub mod browser;
pub mod clients;
pub mod hls;
pub mod services;
pub mod vod;

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use serde_json::Value;

/// Holds the machine for one test: tests of one binary that take this guard run one at a time.
///
/// cargo runs the test binaries one after another and the tests inside one binary on
/// `--test-threads` threads, so a test that holds the guard while every other test of its file
/// takes it too has the whole machine. For tests whose checks are timing checks against real
/// time (the LL-HLS checker's part cadence, a real-time 1080p transcode): on 2 cores, a second
/// real-time encode beside them starves both.
pub async fn alone() -> tokio::sync::MutexGuard<'static, ()> {
    static MACHINE: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
    MACHINE.lock().await
}

/// A free TCP port on 127.0.0.1 (bound once, then released).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("no free loopback port")
}

/// Path of the `showroom` binary under test.
pub fn showroom_bin() -> PathBuf {
    if let Some(p) = std::env::var_os("SHOWROOM_BIN") {
        return p.into();
    }
    // <target>/debug/deps/<test-binary> → <target>/debug/showroom
    let exe = std::env::current_exe().expect("current_exe");
    let dir = exe
        .parent()
        .and_then(|d| d.parent())
        .expect("test binary lives in <target>/<profile>/deps");
    let bin = dir.join("showroom");
    assert!(
        bin.exists(),
        "{} not built: run `cargo build -p showroom-engine` first (scripts/test.sh does)",
        bin.display()
    );
    bin
}

/// A running `showroom serve` on 127.0.0.1, killed on drop.
pub struct Engine {
    child: Child,
    pub http_port: u16,
    pub rtmp_port: u16,
    pub admin_key: String,
    pub data_dir: tempfile::TempDir,
    log_path: PathBuf,
    pub http: reqwest::Client,
}

impl Engine {
    /// Starts an engine with the embedded defaults (SQLite in a temp data dir).
    pub async fn start() -> anyhow::Result<Self> {
        Self::start_with(&[]).await
    }

    /// Starts an engine with extra `SHOWROOM_*` environment variables.
    pub async fn start_with(env: &[(&str, &str)]) -> anyhow::Result<Self> {
        let data_dir = tempfile::tempdir()?;
        Self::start_in(data_dir, env).await
    }

    /// Starts an engine on an existing data dir (e.g. to test a restart).
    ///
    /// The ports come from [`free_port`], which releases them before the engine binds: another
    /// test process may take one in between. An engine that exits because a port is taken is
    /// started again on fresh ports (at most three times); any other failure is returned.
    pub async fn start_in(
        mut data_dir: tempfile::TempDir,
        env: &[(&str, &str)],
    ) -> anyhow::Result<Self> {
        const ATTEMPTS: u32 = 3;
        for attempt in 1..=ATTEMPTS {
            let mut engine = Self::spawn(data_dir, env)?;
            match engine.wait_ready().await {
                Ok(()) => {
                    engine.read_admin_key(env)?;
                    return Ok(engine);
                }
                Err(e) if attempt < ATTEMPTS && engine.log().contains("Address already in use") => {
                    eprintln!("showroom: a port was taken before the engine bound it ({e:#}); retrying on fresh ports");
                    data_dir = engine.stop();
                }
                Err(e) => return Err(e),
            }
        }
        unreachable!("the last attempt returns")
    }

    fn read_admin_key(&mut self, env: &[(&str, &str)]) -> anyhow::Result<()> {
        self.admin_key = match env.iter().find(|(k, _)| *k == "SHOWROOM_ADMIN_KEY") {
            Some((_, v)) => v.to_string(),
            None => std::fs::read_to_string(self.data_dir.path().join("admin_key"))?
                .trim()
                .to_owned(),
        };
        Ok(())
    }

    fn spawn(data_dir: tempfile::TempDir, env: &[(&str, &str)]) -> anyhow::Result<Self> {
        let (http_port, rtmp_port) = (free_port(), free_port());
        let log_path = data_dir.path().join(format!("engine-{http_port}.log"));
        let log = std::fs::File::create(&log_path)?;
        let mut cmd = Command::new(showroom_bin());
        // The engine refuses unknown SHOWROOM_* variables; pass none from the caller's shell
        // (SHOWROOM_BIN, a developer's own settings), only the test's.
        for (key, _) in std::env::vars_os() {
            if key.to_string_lossy().starts_with("SHOWROOM_") {
                cmd.env_remove(key);
            }
        }
        cmd.arg("serve")
            .arg("--data-dir")
            .arg(data_dir.path())
            .arg("--http-port")
            .arg(http_port.to_string())
            .arg("--rtmp-port")
            .arg(rtmp_port.to_string())
            .env("SHOWROOM_HTTP__BIND", "127.0.0.1")
            .env("SHOWROOM_RTMP__BIND", "127.0.0.1")
            .env("RUST_LOG", "info,showroom_pipelines=debug")
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log);
        for (k, v) in env {
            cmd.env(k, v);
        }
        let child = cmd.spawn().context("spawning showroom")?;
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()?;
        Ok(Self {
            child,
            http_port,
            rtmp_port,
            admin_key: String::new(),
            data_dir,
            log_path,
            http,
        })
    }

    async fn wait_ready(&mut self) -> anyhow::Result<()> {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = self.child.try_wait()? {
                bail!("showroom exited early ({status}):\n{}", self.log());
            }
            if let Ok(r) = self.http.get(self.url("/healthz")).send().await {
                if r.status().is_success() {
                    return Ok(());
                }
            }
            if Instant::now() > deadline {
                bail!("showroom not ready after 30 s:\n{}", self.log());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.http_port)
    }

    /// `rtmp://127.0.0.1:PORT/live/KEY`
    pub fn rtmp_url(&self, key: &str) -> String {
        format!("rtmp://127.0.0.1:{}/live/{key}", self.rtmp_port)
    }

    /// Everything the engine logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log_path).unwrap_or_default()
    }

    /// Whether the process is still running.
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// An admin request builder.
    pub fn admin(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        self.http
            .request(method, self.url(path))
            .bearer_auth(&self.admin_key)
    }

    /// `POST /api/v1/streams`, returning the JSON answer.
    pub async fn create_stream(&self, title: &str) -> anyhow::Result<Value> {
        let r = self
            .admin(reqwest::Method::POST, "/api/v1/streams")
            .json(&serde_json::json!({ "title": title }))
            .send()
            .await?;
        anyhow::ensure!(r.status() == 201, "create stream: {}", r.status());
        Ok(r.json().await?)
    }

    /// Creates a stream and publishes to it with ffmpeg over RTMP; returns its `hls_url` and
    /// the publisher (killed on drop).
    pub async fn publish_ffmpeg(
        &self,
        title: &str,
        opts: &clients::FfmpegPublish,
    ) -> anyhow::Result<(String, clients::Proc)> {
        let s = self.create_stream(title).await?;
        let key = s["stream_key"].as_str().context("stream_key")?;
        let hls_url = s["hls_url"].as_str().context("hls_url")?.to_owned();
        Ok((hls_url, clients::ffmpeg_publish(&self.rtmp_url(key), opts)))
    }

    /// `GET /api/v1/streams/{id}`.
    pub async fn stream(&self, id: &str) -> anyhow::Result<Value> {
        let r = self
            .admin(reqwest::Method::GET, &format!("/api/v1/streams/{id}"))
            .send()
            .await?;
        anyhow::ensure!(r.status() == 200, "get stream: {}", r.status());
        Ok(r.json().await?)
    }

    /// Polls until `check` holds for the stream, or fails after `timeout`.
    pub async fn wait_stream(
        &self,
        id: &str,
        timeout: Duration,
        check: impl Fn(&Value) -> bool,
    ) -> anyhow::Result<Value> {
        let deadline = Instant::now() + timeout;
        loop {
            let s = self.stream(id).await?;
            if check(&s) {
                return Ok(s);
            }
            if Instant::now() > deadline {
                bail!("stream {id} never reached the expected state: {s}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Stops the process (SIGKILL) and returns its data dir for a restart.
    pub fn stop(mut self) -> tempfile::TempDir {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let dir = tempfile::tempdir().expect("tempdir");
        std::mem::replace(&mut self.data_dir, dir)
    }
}

impl Drop for Engine {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            eprintln!("---- showroom log ----\n{}", self.log());
        }
    }
}
