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

/// An S3-compatible server on 127.0.0.1, killed on drop, that checks every request's SigV4
/// signature (a wrong secret gets `SignatureDoesNotMatch`). Two independent implementations:
/// - [`S3::start`]: `moto` (Python, `moto[server]`), in-memory, set up with one bucket and one
///   IAM user whose key may do `s3:*`;
/// - [`S3::start_s3s_fs`]: `s3s-fs` (Rust, the `s3s` project's file-system server), one key
///   pair given on its command line.
pub struct S3 {
    child: Child,
    pub port: u16,
    pub bucket: String,
    pub access_key_id: String,
    pub secret_access_key: String,
    /// The key prefix the engine records under on this server. moto refuses the signature of
    /// a `/` in a list query (boto3 is refused too; see docs/recording.md), so it gets `rec-`;
    /// s3s-fs gets the engine's default, `recordings/`.
    pub prefix: String,
    /// s3s-fs's data directory.
    _root: Option<tempfile::TempDir>,
}

/// The s3s-fs release `scripts/deps.sh test` installs (`cargo install`).
pub const S3S_FS_VERSION: &str = "0.14.1";

fn xml_text(xml: &str, tag: &str) -> Option<String> {
    let start = xml.find(&format!("<{tag}>"))? + tag.len() + 2;
    let end = start + xml[start..].find(&format!("</{tag}>"))?;
    Some(xml[start..end].to_owned())
}

impl S3 {
    pub async fn start(bucket: &str) -> anyhow::Result<Self> {
        require_tool("python3")?;
        let ok = Command::new("python3")
            .args(["-c", "import moto.server"])
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
        if !ok {
            bail!("moto is not installed: python3 -m pip install 'moto[server]==5.2.1' (scripts/deps.sh test)");
        }
        let port = crate::free_port();
        let mut child = Command::new("python3")
            .args([
                "-m",
                "moto.server",
                "-H",
                "127.0.0.1",
                "-p",
                &port.to_string(),
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("spawning moto")?;
        let base = format!("http://127.0.0.1:{port}");
        let http = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(r) = http.get(format!("{base}/moto-api/")).send().await {
                if r.status().is_success() {
                    break;
                }
            }
            if Instant::now() > deadline || matches!(child.try_wait(), Ok(Some(_))) {
                kill(&mut child);
                bail!("moto did not start on port {port}");
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        // Set-up while authentication is still off: an IAM user, its key, a policy, the bucket.
        let iam = |params: Vec<(&str, &str)>| {
            http.post(format!("{base}/"))
                .header(
                    "authorization",
                    "AWS4-HMAC-SHA256 Credential=setup/20240101/us-east-1/iam/aws4_request, SignedHeaders=host, Signature=0",
                )
                .form(&params)
                .send()
        };
        let version = ("Version", "2010-05-08");
        iam(vec![
            ("Action", "CreateUser"),
            ("UserName", "recorder"),
            version,
        ])
        .await?
        .error_for_status()?;
        let key = iam(vec![
            ("Action", "CreateAccessKey"),
            ("UserName", "recorder"),
            version,
        ])
        .await?
        .error_for_status()?
        .text()
        .await?;
        let policy = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:*","Resource":"*"}]}"#;
        iam(vec![
            ("Action", "PutUserPolicy"),
            ("UserName", "recorder"),
            ("PolicyName", "s3"),
            ("PolicyDocument", policy),
            version,
        ])
        .await?
        .error_for_status()?;
        http.put(format!("{base}/{bucket}"))
            .send()
            .await?
            .error_for_status()?;
        // From now on every request must be signed by a known key.
        http.post(format!("{base}/moto-api/reset-auth"))
            .header("content-type", "text/plain")
            .body("0")
            .send()
            .await?
            .error_for_status()?;
        Ok(Self {
            child,
            port,
            bucket: bucket.to_owned(),
            access_key_id: xml_text(&key, "AccessKeyId").context("no AccessKeyId")?,
            secret_access_key: xml_text(&key, "SecretAccessKey").context("no SecretAccessKey")?,
            prefix: "rec-".to_owned(),
            _root: None,
        })
    }

    /// `s3s-fs` with one key pair, storing under a temporary directory; `bucket` is created
    /// through a signed request (boto3).
    pub async fn start_s3s_fs(bucket: &str) -> anyhow::Result<Self> {
        require_tool("s3s-fs").with_context(|| {
            format!("cargo install s3s-fs@{S3S_FS_VERSION} --features binary --locked (scripts/deps.sh test)")
        })?;
        let root = tempfile::tempdir()?;
        let port = crate::free_port();
        let (access_key_id, secret_access_key) = ("showroom-test", "s3s-fs-secret-key");
        let mut child = Command::new("s3s-fs")
            .args(["--host", "127.0.0.1", "--port", &port.to_string()])
            .args([
                "--access-key",
                access_key_id,
                "--secret-key",
                secret_access_key,
            ])
            .arg(root.path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("spawning s3s-fs")?;
        let deadline = Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            if Instant::now() > deadline || matches!(child.try_wait(), Ok(Some(_))) {
                kill(&mut child);
                bail!("s3s-fs did not start on port {port}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let s3 = Self {
            child,
            port,
            bucket: bucket.to_owned(),
            access_key_id: access_key_id.to_owned(),
            secret_access_key: secret_access_key.to_owned(),
            prefix: "recordings/".to_owned(),
            _root: Some(root),
        };
        s3.boto3("s.create_bucket(Bucket=sys.argv[4])\n", &[])?;
        Ok(s3)
    }

    /// Runs `body` with `s` a boto3 S3 client signed with this server's key, and
    /// `sys.argv[4]` the bucket, `sys.argv[5..]` = `args`; its standard output.
    fn boto3(&self, body: &str, args: &[&str]) -> anyhow::Result<String> {
        let script = format!(
            "import boto3,sys\n\
             s=boto3.client('s3',endpoint_url=sys.argv[1],aws_access_key_id=sys.argv[2],\
             aws_secret_access_key=sys.argv[3],region_name='us-east-1')\n{body}"
        );
        let out = Command::new("python3")
            .args(["-c", &script])
            .args([
                &self.endpoint(),
                &self.access_key_id,
                &self.secret_access_key,
                &self.bucket,
            ])
            .args(args)
            .output()
            .context("python3 boto3")?;
        if !out.status.success() {
            bail!("boto3: {}", String::from_utf8_lossy(&out.stderr));
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// `SHOWROOM_RECORDING__S3__*` for an engine recording to this bucket (path style).
    pub fn engine_env(&self, secret: &str, keep_local: bool) -> Vec<(String, String)> {
        [
            ("ENDPOINT", self.endpoint()),
            ("BUCKET", self.bucket.clone()),
            ("REGION", "us-east-1".to_owned()),
            ("ACCESS_KEY_ID", self.access_key_id.clone()),
            ("SECRET_ACCESS_KEY", secret.to_owned()),
            ("PATH_STYLE", "true".to_owned()),
            ("KEEP_LOCAL", keep_local.to_string()),
            ("PREFIX", self.prefix.clone()),
        ]
        .into_iter()
        .map(|(k, v)| (format!("SHOWROOM_RECORDING__S3__{k}"), v))
        .collect()
    }

    /// Every key under `prefix`, listed by another client (boto3, which moto depends on). The
    /// listing asks for the prefix without a trailing `/` and filters here (moto, see above).
    pub fn list(&self, prefix: &str) -> anyhow::Result<Vec<String>> {
        let body = "for page in s.get_paginator('list_objects_v2').paginate(Bucket=sys.argv[4],Prefix=sys.argv[5].rstrip('/')):\n\
             \x20   for o in page.get('Contents',[]):\n\
             \x20       if o['Key'].startswith(sys.argv[5]): print(o['Key'])\n";
        Ok(self
            .boto3(body, &[prefix])?
            .lines()
            .map(str::to_owned)
            .collect())
    }
}

impl Drop for S3 {
    fn drop(&mut self) {
        kill(&mut self.child);
    }
}
