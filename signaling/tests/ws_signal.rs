//! `/ws/signal`: WHEP over a WebSocket (tokio-tungstenite client), errors as JSON with status.

mod common;

use std::time::Duration;

use common::{fake_offer, ffmpeg_publish, start, test_webrtc_config};
use futures::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message;

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn ask(ws: &mut Ws, msg: Value) -> Value {
    if let Err(e) = ws.send(Message::Text(msg.to_string().into())).await {
        panic!("ws send: {e}");
    }
    ask_raw_reply(ws).await
}

async fn ask_raw_reply(ws: &mut Ws) -> Value {
    loop {
        match tokio::time::timeout(Duration::from_secs(10), ws.next()).await {
            Ok(Some(Ok(Message::Text(t)))) => {
                return serde_json::from_str(t.as_str())
                    .unwrap_or_else(|e| panic!("reply not JSON ({e}): {t}"))
            }
            Ok(Some(Ok(_))) => continue,
            other => panic!("no reply: {other:?}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ws_signal_offer_answer_leave_and_errors() {
    let env = start(&["wsl"], test_webrtc_config()).await;
    let _ffmpeg = ffmpeg_publish(&env.rtmp_url("wsl"), 0, 30);
    env.wait_live("wsl").await;
    let url = format!("ws://{}/ws/signal", env.http);
    let (mut ws, _) = tokio_tungstenite::connect_async(&url)
        .await
        .unwrap_or_else(|e| panic!("connect {url}: {e}"));

    let r = ask(&mut ws, json!({"type": "ice_servers"})).await;
    assert_eq!(r["type"], "ice_servers", "{r}");

    let r = ask(
        &mut ws,
        json!({"type": "view", "stream": "nope", "sdp": fake_offer("H264")}),
    )
    .await;
    assert_eq!(
        (r["type"].as_str(), r["status"].as_u64()),
        (Some("error"), Some(404)),
        "{r}"
    );
    let r = ask(
        &mut ws,
        json!({"type": "view", "stream": "wsl", "sdp": fake_offer("VP8")}),
    )
    .await;
    assert_eq!(r["status"].as_u64(), Some(406), "{r}");
    let r = ask(&mut ws, json!({"type": "dance"})).await;
    assert_eq!(r["status"].as_u64(), Some(400), "{r}");

    let r = ask(
        &mut ws,
        json!({"type": "view", "stream": "wsl", "sdp": fake_offer("H264")}),
    )
    .await;
    assert_eq!(r["type"], "answer", "{r}");
    assert!(r["sdp"].as_str().unwrap_or("").contains("127.0.0.1"), "{r}");
    let session = r["session"].as_str().unwrap_or_default().to_owned();
    assert_eq!(env.sfu.session_count(), 1);

    let r = ask(&mut ws, json!({"type": "leave", "session": session})).await;
    assert_eq!(r["type"], "left", "{r}");
    let r = ask(&mut ws, json!({"type": "leave", "session": session})).await;
    assert_eq!(r["status"].as_u64(), Some(404), "leave twice: {r}");
    assert_eq!(env.sfu.session_count(), 0);

    // Closing the socket leaves its open sessions.
    let r = ask(
        &mut ws,
        json!({"type": "view", "stream": "wsl", "sdp": fake_offer("H264")}),
    )
    .await;
    assert_eq!(r["type"], "answer", "{r}");
    assert_eq!(env.sfu.session_count(), 1);
    drop(ws);
    for _ in 0..50 {
        if env.sfu.session_count() == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        env.sfu.session_count(),
        0,
        "socket close did not leave the session"
    );
}
