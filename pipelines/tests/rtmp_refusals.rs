//! Every refusal closes only the refused connection: a stream publishing at the same time
//! keeps flowing, and a good publisher is served right after.

mod rtmp_common;

use std::time::Duration;

use bytes::Bytes;
use rml_rtmp::chunk_io::ChunkSerializer;
use rml_rtmp::time::RtmpTimestamp;
use rtmp_common::raw::{closed_within, handshake, RawClient};
use rtmp_common::*;
use showroom_pipelines::rtmp::RefusalKind;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

const WITNESS_SECS: u32 = 8;

async fn setup() -> (Server, Witness) {
    let srv = server(&["witness", "good", "k1"], test_config()).await;
    let w = witness(&srv, "witness", WITNESS_SECS).await;
    (srv, w)
}

async fn ffmpeg_refused(url: &str, extra_audio: &[&str], expect: &str) {
    let child = ffmpeg_publish(
        url,
        "320x180",
        &["-c:v", "libx264", "-preset", "ultrafast", "-g", "30"],
        extra_audio,
        3,
    );
    let (ok, stderr) = finish(child, Duration::from_secs(20)).await;
    assert!(!ok, "ffmpeg should have been refused");
    assert!(
        stderr.contains(expect),
        "ffmpeg stderr lacks {expect:?}: {stderr}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_stream_key_is_refused() {
    let (srv, w) = setup().await;
    ffmpeg_refused(&srv.url("nope"), &["-c:a", "aac"], "unknown stream key").await;
    srv.wait_refused(RefusalKind::UnknownKey, 1).await;
    assert_good_publish(&srv, "good").await;
    w.check(WITNESS_SECS).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_app_is_refused() {
    let (srv, w) = setup().await;
    let url = format!("rtmp://{}/other/k1", srv.addr);
    ffmpeg_refused(&url, &["-c:a", "aac"], "unknown app").await;
    srv.wait_refused(RefusalKind::WrongApp, 1).await;
    assert!(!srv.stream("k1").is_publishing());
    assert_good_publish(&srv, "good").await;
    w.check(WITNESS_SECS).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn second_publisher_is_refused_and_the_first_keeps_flowing() {
    let (srv, w) = setup().await;
    ffmpeg_refused(
        &srv.url("witness"),
        &["-c:a", "aac"],
        "already has a publisher",
    )
    .await;
    srv.wait_refused(RefusalKind::AlreadyPublishing, 1).await;
    assert_good_publish(&srv, "good").await;
    w.check(WITNESS_SECS).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audio_only_publish_is_refused() {
    let (srv, w) = setup().await;
    // Audio alone is refused after `video_wait` (3 s), so publish longer than that.
    let child = ffmpeg_publish(&srv.url("k1"), "320x180", &["-vn"], &["-c:a", "aac"], 8);
    let (ok, stderr) = finish(child, Duration::from_secs(20)).await;
    assert!(!ok && stderr.contains("no video"), "ffmpeg -vn: {stderr}");
    srv.wait_refused(RefusalKind::NoVideo, 1).await;
    assert!(!srv.stream("k1").is_publishing());
    assert_good_publish(&srv, "good").await;
    w.check(WITNESS_SECS).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mp3_audio_is_refused() {
    let (srv, w) = setup().await;
    ffmpeg_refused(
        &srv.url("k1"),
        &["-c:a", "libmp3lame"],
        "unsupported audio codec: mp3",
    )
    .await;
    srv.wait_refused(RefusalKind::UnsupportedCodec, 1).await;
    assert_good_publish(&srv, "good").await;
    w.check(WITNESS_SECS).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn play_is_refused() {
    let (srv, w) = setup().await;
    require("ffmpeg");
    let mut cmd = tokio::process::Command::new("ffmpeg");
    cmd.args(["-hide_banner", "-loglevel", "error", "-nostdin", "-i"])
        .arg(srv.url("witness"))
        .args(["-t", "1", "-f", "null", "-"]);
    let (ok, stderr) = finish(spawn(cmd), Duration::from_secs(20)).await;
    assert!(
        !ok && stderr.contains("not served"),
        "ffmpeg play: {stderr}"
    );
    srv.wait_refused(RefusalKind::Play, 1).await;
    assert_good_publish(&srv, "good").await;
    w.check(WITNESS_SECS).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_instead_of_a_handshake_is_closed() {
    let (srv, w) = setup().await;
    let mut tcp = TcpStream::connect(srv.addr)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    tcp.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(
        closed_within(&mut tcp, Duration::from_secs(2)).await,
        "still open"
    );
    srv.wait_refused(RefusalKind::Handshake, 1).await;
    assert_good_publish(&srv, "good").await;
    w.check(WITNESS_SECS).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn truncated_handshake_times_out() {
    let (srv, w) = setup().await;
    let mut tcp = TcpStream::connect(srv.addr)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let mut c0c1_half = vec![3u8];
    c0c1_half.extend([0u8; 768]);
    tcp.write_all(&c0c1_half)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let t0 = tokio::time::Instant::now();
    assert!(
        closed_within(&mut tcp, Duration::from_secs(6)).await,
        "still open"
    );
    let waited = t0.elapsed();
    assert!(
        waited >= Duration::from_millis(1800),
        "closed after {waited:?}, before the timeout"
    );
    srv.wait_refused(RefusalKind::HandshakeTimeout, 1).await;
    assert_good_publish(&srv, "good").await;
    w.check(WITNESS_SECS).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_chunk_size_and_message_are_refused() {
    let (srv, w) = setup().await;
    let (mut tcp, _) = handshake(srv.addr).await;
    let mut ser = ChunkSerializer::new();
    let set = ser
        .set_max_chunk_size(1 << 20, RtmpTimestamp::new(0))
        .unwrap_or_else(|e| panic!("{e}"));
    tcp.write_all(&set.bytes)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(
        closed_within(&mut tcp, Duration::from_secs(3)).await,
        "still open"
    );
    srv.wait_refused(RefusalKind::Protocol, 1).await;

    // A type-0 chunk header announcing a 16 MiB video message (the limit is 8 MiB).
    let (mut tcp, _) = handshake(srv.addr).await;
    let header = [0x06, 0, 0, 0, 0xff, 0xff, 0xff, 9, 1, 0, 0, 0];
    tcp.write_all(&header)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(
        closed_within(&mut tcp, Duration::from_secs(3)).await,
        "still open"
    );
    srv.wait_refused(RefusalKind::Protocol, 2).await;
    assert_good_publish(&srv, "good").await;
    w.check(WITNESS_SECS).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hevc_is_refused_in_legacy_and_enhanced_form() {
    let (srv, w) = setup().await;
    let legacy = Bytes::from_static(&[0x1c, 0, 0, 0, 0, 1, 2, 3]);
    let enhanced = Bytes::from_static(&[0x90, b'h', b'v', b'c', b'1', 1, 2, 3]);
    for (n, tag) in [legacy, enhanced].into_iter().enumerate() {
        let mut client = RawClient::publish(srv.addr, "live", "k1").await;
        assert!(srv.stream("k1").is_publishing());
        client.video(0, tag).await.unwrap_or_else(|e| panic!("{e}"));
        assert!(
            client.read_until_closed(Duration::from_secs(3)).await,
            "still open"
        );
        assert_eq!(
            client.status_codes(),
            vec!["NetStream.Publish.Rejected".to_owned()]
        );
        srv.wait_refused(RefusalKind::UnsupportedCodec, n as u64 + 1)
            .await;
        assert!(
            !srv.stream("k1").is_publishing(),
            "the refused publisher left"
        );
    }
    assert_good_publish(&srv, "k1").await;
    w.check(WITNESS_SECS).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_metadata_closes_only_that_connection() {
    use rml_rtmp::messages::RtmpMessage;
    use rml_rtmp::rml_amf0::Amf0Value;
    let (srv, w) = setup().await;
    let mut client = RawClient::publish(srv.addr, "live", "k1").await;
    // `@setDataFrame` with nothing after it: rml_rtmp indexes past the end of it.
    let message = RtmpMessage::Amf0Data {
        values: vec![Amf0Value::Utf8String("@setDataFrame".to_owned())],
    };
    let payload = message
        .into_message_payload(RtmpTimestamp::new(0), 1)
        .unwrap_or_else(|e| panic!("{e}"));
    let packet = ChunkSerializer::new()
        .serialize(&payload, true, false)
        .unwrap_or_else(|e| panic!("{e}"));
    client
        .tcp
        .write_all(&packet.bytes)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(
        client.read_until_closed(Duration::from_secs(3)).await,
        "still open"
    );
    srv.wait_refused(RefusalKind::Protocol, 1).await;
    assert!(!srv.stream("k1").is_publishing());
    assert_good_publish(&srv, "k1").await;
    w.check(WITNESS_SECS).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn command_flood_is_cut_off() {
    use rml_rtmp::messages::RtmpMessage;
    use rml_rtmp::rml_amf0::Amf0Value;
    let (srv, w) = setup().await;
    let (mut tcp, _) = handshake(srv.addr).await;
    let mut ser = ChunkSerializer::new();
    let mut wire = Vec::new();
    for i in 0..300 {
        let message = RtmpMessage::Amf0Command {
            command_name: "createStream".to_owned(),
            transaction_id: f64::from(i),
            command_object: Amf0Value::Null,
            additional_arguments: Vec::new(),
        };
        let payload = message
            .into_message_payload(RtmpTimestamp::new(0), 0)
            .unwrap_or_else(|e| panic!("{e}"));
        let packet = ser
            .serialize(&payload, true, false)
            .unwrap_or_else(|e| panic!("{e}"));
        wire.extend(packet.bytes);
    }
    // The server may close while we are still writing.
    let _ = tcp.write_all(&wire).await;
    assert!(
        closed_within(&mut tcp, Duration::from_secs(3)).await,
        "still open"
    );
    srv.wait_refused(RefusalKind::Protocol, 1).await;
    assert_good_publish(&srv, "good").await;
    w.check(WITNESS_SECS).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audio_without_video_and_without_metadata_is_refused_after_3_s() {
    let (srv, w) = setup().await;
    let mut client = RawClient::publish(srv.addr, "live", "k1").await;
    let t0 = tokio::time::Instant::now();
    client
        .audio(0, Bytes::from_static(&[0xaf, 0, 0x11, 0x90]))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    // One AAC frame every ~21 ms until the server gives up on video.
    let mut ts = 0;
    let refused = loop {
        ts += 21;
        let frame = Bytes::from_static(&[0xaf, 1, 0x21, 0x10, 0x04]);
        if client.audio(ts, frame).await.is_err() || t0.elapsed() > Duration::from_secs(6) {
            break client.read_until_closed(Duration::from_secs(3)).await;
        }
        if srv.stats.refused(RefusalKind::NoVideo) > 0 {
            break client.read_until_closed(Duration::from_secs(3)).await;
        }
        tokio::time::sleep(Duration::from_millis(21)).await;
    };
    assert!(refused, "connection still open");
    let waited = t0.elapsed();
    assert!(
        waited >= Duration::from_millis(2900) && waited < Duration::from_secs(5),
        "{waited:?}"
    );
    assert_eq!(
        client.status_codes(),
        vec!["NetStream.Publish.Rejected".to_owned()]
    );
    assert!(!srv.stream("k1").is_publishing());
    assert_good_publish(&srv, "k1").await;
    w.check(WITNESS_SECS).await;
}
