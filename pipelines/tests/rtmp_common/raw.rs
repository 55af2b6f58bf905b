//! A small RTMP client on rml_rtmp's ClientSession, for what ffmpeg cannot send (HEVC tags,
//! huge chunk sizes, chosen timestamps, silence).

use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use rml_rtmp::handshake::{Handshake, HandshakeProcessResult, PeerType};
use rml_rtmp::sessions::{
    ClientSession, ClientSessionConfig, ClientSessionEvent, ClientSessionResult, PublishRequestType,
};
use rml_rtmp::time::RtmpTimestamp;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Handshakes as a client; returns the socket and any bytes that followed S2.
pub async fn handshake(addr: SocketAddr) -> (TcpStream, Vec<u8>) {
    let mut tcp = TcpStream::connect(addr)
        .await
        .unwrap_or_else(|e| panic!("connect: {e}"));
    let mut hs = Handshake::new(PeerType::Client);
    let c0c1 = hs
        .generate_outbound_p0_and_p1()
        .unwrap_or_else(|e| panic!("c0c1: {e}"));
    tcp.write_all(&c0c1)
        .await
        .unwrap_or_else(|e| panic!("write: {e}"));
    let mut buf = [0u8; 4096];
    loop {
        let n = tcp
            .read(&mut buf)
            .await
            .unwrap_or_else(|e| panic!("read: {e}"));
        assert!(n > 0, "server closed during the handshake");
        match hs.process_bytes(&buf[..n]) {
            Ok(HandshakeProcessResult::InProgress { response_bytes }) => {
                tcp.write_all(&response_bytes)
                    .await
                    .unwrap_or_else(|e| panic!("write: {e}"));
            }
            Ok(HandshakeProcessResult::Completed {
                response_bytes,
                remaining_bytes,
            }) => {
                tcp.write_all(&response_bytes)
                    .await
                    .unwrap_or_else(|e| panic!("write: {e}"));
                return (tcp, remaining_bytes);
            }
            Err(e) => panic!("handshake: {e}"),
        }
    }
}

pub struct RawClient {
    pub tcp: TcpStream,
    session: ClientSession,
    pub events: Vec<ClientSessionEvent>,
}

impl RawClient {
    /// Handshake, connect(app), createStream + publish(key); waits for NetStream.Publish.Start.
    pub async fn publish(addr: SocketAddr, app: &str, key: &str) -> RawClient {
        let (tcp, leftover) = handshake(addr).await;
        let (session, _) = ClientSession::new(ClientSessionConfig::new())
            .unwrap_or_else(|e| panic!("client session: {e}"));
        let mut c = RawClient {
            tcp,
            session,
            events: Vec::new(),
        };
        c.feed(&leftover).await;
        let r = c.session.request_connection(app.to_owned());
        c.send_result(r).await;
        c.wait_for(|e| matches!(e, ClientSessionEvent::ConnectionRequestAccepted))
            .await;
        let r = c
            .session
            .request_publishing(key.to_owned(), PublishRequestType::Live);
        c.send_result(r).await;
        c.wait_for(|e| matches!(e, ClientSessionEvent::PublishRequestAccepted))
            .await;
        c
    }

    pub async fn video(&mut self, ts: u32, data: Bytes) -> std::io::Result<()> {
        let r = self
            .session
            .publish_video_data(data, RtmpTimestamp::new(ts), false);
        self.try_send(r).await
    }

    pub async fn audio(&mut self, ts: u32, data: Bytes) -> std::io::Result<()> {
        let r = self
            .session
            .publish_audio_data(data, RtmpTimestamp::new(ts), false);
        self.try_send(r).await
    }

    async fn try_send(
        &mut self,
        r: Result<ClientSessionResult, rml_rtmp::sessions::ClientSessionError>,
    ) -> std::io::Result<()> {
        match r {
            Ok(ClientSessionResult::OutboundResponse(p)) => self.tcp.write_all(&p.bytes).await,
            Ok(_) => Ok(()),
            Err(e) => panic!("client session: {e}"),
        }
    }

    async fn send_result(
        &mut self,
        r: Result<ClientSessionResult, rml_rtmp::sessions::ClientSessionError>,
    ) {
        self.try_send(r)
            .await
            .unwrap_or_else(|e| panic!("send: {e}"));
    }

    async fn feed(&mut self, bytes: &[u8]) {
        let results = match self.session.handle_input(bytes) {
            Ok(r) => r,
            Err(e) => panic!("client session input: {e}"),
        };
        for r in results {
            match r {
                ClientSessionResult::OutboundResponse(p) => {
                    self.tcp
                        .write_all(&p.bytes)
                        .await
                        .unwrap_or_else(|e| panic!("write: {e}"));
                }
                ClientSessionResult::RaisedEvent(e) => self.events.push(e),
                ClientSessionResult::UnhandleableMessageReceived(_) => {}
            }
        }
    }

    async fn wait_for(&mut self, want: impl Fn(&ClientSessionEvent) -> bool) {
        let mut buf = vec![0u8; 65536];
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        while !self.events.iter().any(&want) {
            let read = tokio::time::timeout_at(deadline, self.tcp.read(&mut buf)).await;
            match read {
                Ok(Ok(n)) if n > 0 => self.feed(&buf[..n]).await,
                other => panic!(
                    "server did not answer ({other:?}); events {:?}",
                    self.events
                ),
            }
        }
    }

    /// Reads until the server closes the connection (true) or `limit` passes (false),
    /// collecting the events (onStatus codes) it sent.
    pub async fn read_until_closed(&mut self, limit: Duration) -> bool {
        let mut buf = vec![0u8; 65536];
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            match tokio::time::timeout_at(deadline, self.tcp.read(&mut buf)).await {
                Err(_) => return false,
                Ok(Ok(0)) | Ok(Err(_)) => return true,
                Ok(Ok(n)) => {
                    if let Ok(results) = self.session.handle_input(&buf[..n]) {
                        for r in results {
                            if let ClientSessionResult::RaisedEvent(e) = r {
                                self.events.push(e);
                            }
                        }
                    }
                }
            }
        }
    }

    /// onStatus codes the server sent that the client session does not handle itself.
    pub fn status_codes(&self) -> Vec<String> {
        self.events
            .iter()
            .filter_map(|e| match e {
                ClientSessionEvent::UnhandleableOnStatusCode { code } => Some(code.clone()),
                _ => None,
            })
            .collect()
    }
}

/// Reads until EOF/reset (true) or `limit` (false), discarding what comes.
pub async fn closed_within(tcp: &mut TcpStream, limit: Duration) -> bool {
    let mut buf = [0u8; 4096];
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        match tokio::time::timeout_at(deadline, tcp.read(&mut buf)).await {
            Err(_) => return false,
            Ok(Ok(0)) | Ok(Err(_)) => return true,
            Ok(Ok(_)) => {}
        }
    }
}
