//! Real servers for tests: redis-server and PostgreSQL on loopback, started per test in a temp
//! dir, killed on drop. A missing binary fails the test with a clear message.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};

fn require_tool(path: &str) -> anyhow::Result<()> {
    if Path::new(path).exists() {
        return Ok(());
    }
    let found = Command::new("sh")
        .arg("-c")
        .arg(format!("command -v {path}"))
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if found {
        Ok(())
    } else {
        bail!("required test tool `{path}` is not installed")
    }
}

fn kill(child: &mut Child) {
    let _ = child.kill();
    let _ = child.wait();
}

/// A `redis-server` on 127.0.0.1 with persistence off.
pub struct Redis {
    child: Child,
    pub port: u16,
    _dir: tempfile::TempDir,
}

impl Redis {
    pub fn start() -> anyhow::Result<Self> {
        require_tool("redis-server")?;
        let dir = tempfile::tempdir()?;
        for _ in 0..5 {
            let port = crate::free_port();
            let mut child = Command::new("redis-server")
                .args([
                    "--port",
                    &port.to_string(),
                    "--bind",
                    "127.0.0.1",
                    "--save",
                    "",
                    "--appendonly",
                    "no",
                ])
                .arg("--dir")
                .arg(dir.path())
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .context("spawning redis-server")?;
            let deadline = Instant::now() + Duration::from_secs(10);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = child.try_wait() {
                    break; // port taken in the meantime: try another
                }
                if ping(port) {
                    return Ok(Self {
                        child,
                        port,
                        _dir: dir,
                    });
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            kill(&mut child);
        }
        bail!("redis-server did not start")
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }
}

fn ping(port: u16) -> bool {
    let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_millis(500)));
    if s.write_all(b"PING\r\n").is_err() {
        return false;
    }
    let mut buf = [0u8; 16];
    matches!(s.read(&mut buf), Ok(n) if buf[..n].starts_with(b"+PONG"))
}

impl Drop for Redis {
    fn drop(&mut self) {
        kill(&mut self.child);
    }
}

/// A PostgreSQL cluster (`initdb` + `postgres`) run as the `postgres` user (it refuses root),
/// listening on 127.0.0.1 and a socket in its temp dir. Trust auth, fsync off.
pub struct Postgres {
    child: Child,
    pub port: u16,
    dir: tempfile::TempDir,
}

const INITDB: &str = "/usr/local/bin/initdb";
const POSTGRES: &str = "/usr/local/bin/postgres";

/// Run `bin` as the `postgres` user. `setpriv` execs (no fork), so the child pid is the server.
fn as_postgres(bin: &str) -> Command {
    let mut c = Command::new("setpriv");
    c.args([
        "--reuid=postgres",
        "--regid=postgres",
        "--clear-groups",
        "--",
        bin,
    ]);
    c.env("HOME", "/tmp");
    c
}

impl Postgres {
    pub fn start() -> anyhow::Result<Self> {
        require_tool(INITDB)?;
        require_tool(POSTGRES)?;
        require_tool("setpriv")?;
        let dir = tempfile::tempdir()?;
        let data = dir.path().join("data");
        let chown = Command::new("chown")
            .args(["-R", "postgres:postgres"])
            .arg(dir.path())
            .status()?;
        anyhow::ensure!(chown.success(), "chown of the PostgreSQL temp dir failed");
        let out = as_postgres(INITDB)
            .arg("-D")
            .arg(&data)
            .args(["-A", "trust", "-U", "postgres", "--no-sync", "-E", "UTF8"])
            .output()
            .context("running initdb")?;
        anyhow::ensure!(
            out.status.success(),
            "initdb failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        for _ in 0..5 {
            let port = crate::free_port();
            let log = std::fs::File::create(dir.path().join("postgres.log"))?;
            let mut child = as_postgres(POSTGRES)
                .arg("-D")
                .arg(&data)
                .arg("-k")
                .arg(dir.path())
                .args(["-p", &port.to_string(), "-c", "listen_addresses=127.0.0.1"])
                .args([
                    "-c",
                    "fsync=off",
                    "-c",
                    "synchronous_commit=off",
                    "-c",
                    "full_page_writes=off",
                ])
                .args(["-c", "max_connections=300"])
                .stdin(Stdio::null())
                .stdout(log.try_clone()?)
                .stderr(log)
                .spawn()
                .context("spawning postgres")?;
            let deadline = Instant::now() + Duration::from_secs(30);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = child.try_wait() {
                    break;
                }
                let log =
                    std::fs::read_to_string(dir.path().join("postgres.log")).unwrap_or_default();
                if log.contains("ready to accept connections")
                    && TcpStream::connect(("127.0.0.1", port)).is_ok()
                {
                    return Ok(Self { child, port, dir });
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            kill(&mut child);
        }
        bail!(
            "postgres did not start: {}",
            std::fs::read_to_string(dir.path().join("postgres.log")).unwrap_or_default()
        )
    }

    /// `postgres://postgres@127.0.0.1:PORT/postgres`
    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    /// The server log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("postgres.log")).unwrap_or_default()
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        // SIGQUIT: immediate shutdown of the postmaster and its backends.
        let _ = Command::new("kill")
            .args(["-QUIT", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        kill(&mut self.child);
    }
}
