//! `/ws/signal`: WHEP over a WebSocket (tokio-tungstenite client), errors as JSON with status.

mod common;

use std::time::Duration;

use common::{fake_offer, ffmpeg_publish, start, test_webrtc_config};
use futures::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message;

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn ws_send(ws: &mut Ws, msg: Value) {
    if let Err(e) = ws.send(Message::Text(msg.to_string().into())).await {
        panic!("ws send: {e}");
    }
}

async fn ask(ws: &mut Ws, msg: Value) -> Value {
    ws_send(ws, msg).await;
    ask_raw_reply(ws).await
}

fn ice_ufrag(sdp: &str) -> String {
    sdp.lines()
        .find_map(|l| l.trim_end().strip_prefix("a=ice-ufrag:"))
        .unwrap_or_default()
        .to_owned()
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
    let session = r["session"].as_str().unwrap_or_default().to_owned();
    let server_ufrag = ice_ufrag(r["sdp"].as_str().unwrap_or_default());

    // Trickle: a good candidate gets no reply (the next reply is the next question's), a bad
    // one an error; unknown sessions are 404.
    let cand = "candidate:1 1 udp 2130706431 127.0.0.1 40000 typ host";
    ws_send(&mut ws, json!({"type": "candidate", "session": session, "candidate": cand, "sdp_mid": "0", "sdp_mline_index": 0})).await;
    ws_send(
        &mut ws,
        json!({"type": "candidate", "session": session, "candidate": cand}),
    )
    .await;
    let r = ask(&mut ws, json!({"type": "ice_servers"})).await;
    assert_eq!(
        r["type"], "ice_servers",
        "a good candidate must get no reply: {r}"
    );
    let r = ask(
        &mut ws,
        json!({"type": "candidate", "session": session, "candidate": "candidate:garbage"}),
    )
    .await;
    assert_eq!(r["status"].as_u64(), Some(400), "{r}");
    let r = ask(
        &mut ws,
        json!({"type": "candidate", "session": "nope", "candidate": cand}),
    )
    .await;
    assert_eq!(r["status"].as_u64(), Some(404), "{r}");
    let r = ask(
        &mut ws,
        json!({"type": "restart", "session": "nope", "sdp": fake_offer("H264")}),
    )
    .await;
    assert_eq!(r["status"].as_u64(), Some(404), "{r}");

    // ICE restart: new client credentials → an answer with new server credentials.
    let restart = fake_offer("H264").replace("a=ice-ufrag:abcd", "a=ice-ufrag:wxyz");
    let r = ask(
        &mut ws,
        json!({"type": "restart", "session": session, "sdp": restart}),
    )
    .await;
    assert_eq!(r["type"], "answer", "{r}");
    assert_eq!(r["session"].as_str(), Some(session.as_str()), "{r}");
    let new_ufrag = ice_ufrag(r["sdp"].as_str().unwrap_or_default());
    assert!(!new_ufrag.is_empty() && new_ufrag != server_ufrag, "{r}");

    // Another socket cannot touch this one's session.
    let (mut other, _) = tokio_tungstenite::connect_async(&url)
        .await
        .unwrap_or_else(|e| panic!("connect {url}: {e}"));
    let r = ask(&mut other, json!({"type": "leave", "session": session})).await;
    assert_eq!(r["status"].as_u64(), Some(404), "{r}");
    drop(other);
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
