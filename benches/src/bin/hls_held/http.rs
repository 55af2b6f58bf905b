//! A minimal HTTP/1.1 keep-alive GET over raw tokio TCP: precise timing, one connection per
//! simulated viewer, no pool in between.

use std::net::SocketAddr;
use std::time::Instant;

use anyhow::{bail, Context};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// One answer: status, body, and when the last byte arrived.
pub struct Answer {
    pub status: u16,
    pub body: Vec<u8>,
    pub done: Instant,
}

/// A keep-alive connection that reconnects when the server closed it.
pub struct Conn {
    /// Send `Accept-Encoding: gzip` (the body is then not decoded, only timed).
    pub gzip: bool,
    addr: SocketAddr,
    host: String,
    stream: Option<TcpStream>,
    buf: Vec<u8>,
}

impl Conn {
    pub async fn open(addr: SocketAddr) -> anyhow::Result<Self> {
        let mut c = Self {
            gzip: false,
            addr,
            host: addr.to_string(),
            stream: None,
            buf: Vec::with_capacity(16 * 1024),
        };
        c.connect().await?;
        Ok(c)
    }

    async fn connect(&mut self) -> anyhow::Result<()> {
        let s = TcpStream::connect(self.addr)
            .await
            .with_context(|| format!("connect {}", self.addr))?;
        s.set_nodelay(true)?;
        self.stream = Some(s);
        Ok(())
    }

    /// `GET path` and the whole answer (Content-Length or chunked bodies, no compression).
    pub async fn get(&mut self, path: &str) -> anyhow::Result<Answer> {
        if self.stream.is_none() {
            self.connect().await?;
        }
        let req = format!(
            "GET {path} HTTP/1.1\r\nHost: {}\r\nUser-Agent: hls_held\r\nAccept: */*\r\n{}\r\n",
            self.host,
            if self.gzip {
                "Accept-Encoding: gzip\r\n"
            } else {
                ""
            }
        );
        let Some(stream) = self.stream.as_mut() else {
            bail!("not connected");
        };
        stream.write_all(req.as_bytes()).await?;
        self.buf.clear();
        let (head_end, status, length, chunked, close) = loop {
            if let Some(h) = parse_head(&self.buf)? {
                break h;
            }
            if read_more(stream, &mut self.buf).await? == 0 {
                self.stream = None;
                bail!("connection closed before the answer's head");
            }
        };
        let body = loop {
            let avail = &self.buf[head_end..];
            if let Some(n) = length {
                if avail.len() >= n {
                    break avail[..n].to_vec();
                }
            } else if chunked {
                if let Some(b) = dechunk(avail)? {
                    break b;
                }
            } else if close {
                // Body ends when the server closes.
            } else {
                break Vec::new();
            }
            if read_more(stream, &mut self.buf).await? == 0 {
                if close && length.is_none() && !chunked {
                    break self.buf[head_end..].to_vec();
                }
                self.stream = None;
                bail!("connection closed mid-body");
            }
        };
        let done = Instant::now();
        if close {
            self.stream = None;
        }
        Ok(Answer { status, body, done })
    }
}

async fn read_more(stream: &mut TcpStream, buf: &mut Vec<u8>) -> anyhow::Result<usize> {
    let mut chunk = [0u8; 8192];
    let n = stream.read(&mut chunk).await?;
    buf.extend_from_slice(&chunk[..n]);
    Ok(n)
}

type Head = (usize, u16, Option<usize>, bool, bool);

/// (end of head, status, content-length, chunked, connection: close) once the head is complete.
fn parse_head(buf: &[u8]) -> anyhow::Result<Option<Head>> {
    let Some(pos) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
        if buf.len() > 64 * 1024 {
            bail!("answer head over 64 KiB");
        }
        return Ok(None);
    };
    let head = std::str::from_utf8(&buf[..pos]).context("answer head not UTF-8")?;
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let status: u16 = status_line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .with_context(|| format!("bad status line {status_line:?}"))?;
    let (mut length, mut chunked, mut close) = (None, false, false);
    for line in lines {
        let Some((k, v)) = line.split_once(':') else {
            continue;
        };
        let (k, v) = (k.trim().to_ascii_lowercase(), v.trim().to_ascii_lowercase());
        match k.as_str() {
            "content-length" => length = Some(v.parse().context("bad content-length")?),
            "transfer-encoding" => chunked = v.contains("chunked"),
            "connection" => close = v.contains("close"),
            _ => {}
        }
    }
    Ok(Some((pos + 4, status, length, chunked, close)))
}

/// The body of a complete chunked encoding, or None while incomplete.
fn dechunk(mut data: &[u8]) -> anyhow::Result<Option<Vec<u8>>> {
    let mut out = Vec::new();
    loop {
        let Some(eol) = data.windows(2).position(|w| w == b"\r\n") else {
            return Ok(None);
        };
        let size_text = std::str::from_utf8(&data[..eol])?;
        let size_hex = size_text.split(';').next().unwrap_or_default().trim();
        let size = usize::from_str_radix(size_hex, 16)
            .with_context(|| format!("bad chunk size {size_text:?}"))?;
        let rest = &data[eol + 2..];
        if size == 0 {
            return Ok(rest.windows(2).any(|w| w == b"\r\n").then_some(out));
        }
        if rest.len() < size + 2 {
            return Ok(None);
        }
        out.extend_from_slice(&rest[..size]);
        data = &rest[size + 2..];
    }
}
