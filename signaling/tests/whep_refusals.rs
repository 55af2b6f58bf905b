//! WHEP bad input: each refusal has its status and a reason, and the server keeps serving.

mod common;

use common::{fake_offer, ffmpeg_publish, header, start, test_webrtc_config};

async fn post(url: &str, content_type: &str, body: String) -> (u16, String, Option<String>) {
    let resp = match reqwest::Client::new()
        .post(url)
        .header("content-type", content_type)
        .body(body)
        .send()
        .await
    {
        Ok(r) => r,
        Err(e) => panic!("POST {url}: {e}"),
    };
    let status = resp.status().as_u16();
    let location = resp
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    (status, resp.text().await.unwrap_or_default(), location)
}

/// PATCH `body` with `content_type` and `if_match`: (status, body, ETag, Content-Type).
async fn patch(
    url: &str,
    content_type: &str,
    if_match: Option<&str>,
    body: &str,
) -> (u16, String, Option<String>, Option<String>) {
    let mut req = reqwest::Client::new()
        .patch(url)
        .header("content-type", content_type)
        .body(body.to_owned());
    if let Some(m) = if_match {
        req = req.header("if-match", m);
    }
    let resp = match req.send().await {
        Ok(r) => r,
        Err(e) => panic!("PATCH {url}: {e}"),
    };
    let (etag, ct) = (header(&resp, "etag"), header(&resp, "content-type"));
    (
        resp.status().as_u16(),
        resp.text().await.unwrap_or_default(),
        etag,
        ct,
    )
}

const FRAG: &str = "application/trickle-ice-sdpfrag";

async fn send(method: reqwest::Method, url: &str) -> u16 {
    match reqwest::Client::new().request(method, url).send().await {
        Ok(r) => r.status().as_u16(),
        Err(e) => panic!("request {url}: {e}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refusals_have_status_and_reason() {
    let env = start(&["idle"], test_webrtc_config()).await;
    let url = env.whep_url("idle");

    let (s, body, _) = post(&url, "application/sdp", "this is not sdp".into()).await;
    assert_eq!(s, 400, "garbage SDP: {body}");
    assert!(body.contains("malformed SDP"), "reason missing: {body}");

    let (s, body, _) = post(&url, "application/sdp", String::new()).await;
    assert_eq!(s, 400, "empty body: {body}");

    let (s, body, _) = post(&url, "text/plain", fake_offer("H264")).await;
    assert_eq!(s, 400, "wrong content type: {body}");
    assert!(body.contains("application/sdp"), "reason missing: {body}");

    let (s, body, _) = post(&url, "application/sdp", fake_offer("VP8")).await;
    assert_eq!(s, 406, "VP8-only offer: {body}");
    assert!(body.contains("H.264"), "reason missing: {body}");

    let (s, body, _) = post(&env.whep_url("nope"), "application/sdp", fake_offer("H264")).await;
    assert_eq!(s, 404, "unknown stream: {body}");
    assert!(
        body.contains("unknown stream nope"),
        "reason missing: {body}"
    );

    let (s, body, _) = post(&url, "application/sdp", fake_offer("H264")).await;
    assert_eq!(s, 409, "stream not live: {body}");
    assert!(body.contains("not live"), "reason missing: {body}");

    let s = send(reqwest::Method::DELETE, &format!("{url}/0123")).await;
    assert_eq!(s, 404, "DELETE of an unknown session");
    assert_eq!(env.sfu.session_count(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delete_twice_and_patch_semantics() {
    let env = start(&["live"], test_webrtc_config()).await;
    let _ffmpeg = ffmpeg_publish(&env.rtmp_url("live"), 0, 30);
    env.wait_live("live").await;
    let url = env.whep_url("live");

    let (s, body, location) = post(&url, "application/sdp", fake_offer("H264")).await;
    assert_eq!(s, 201, "valid offer on a live stream: {body}");
    assert!(
        body.contains("a=candidate:"),
        "answer carries candidates: {body}"
    );
    assert!(
        body.contains("127.0.0.1"),
        "loopback candidate offered: {body}"
    );
    assert!(body.contains("H264/90000"), "H.264 answered: {body}");
    let location = location.unwrap_or_else(|| panic!("201 without Location"));
    assert_eq!(env.sfu.viewer_count("live"), 1);
    assert!(location.starts_with("/whep/live/"), "Location {location}");
    assert_eq!(env.sfu.session_count(), 1);

    let session_url = format!("http://{}{location}", env.http);
    let trickle = "a=ice-ufrag:abcd\r\na=ice-pwd:abcdefghijklmnopqrstuvwx\r\nm=video 9 UDP/TLS/RTP/SAVPF 102\r\na=mid:0\r\n\
                   a=candidate:1 1 udp 2130706431 127.0.0.1 40000 typ host\r\n";
    let (s, body, _, _) = patch(&session_url, "application/sdp", None, trickle).await;
    assert_eq!(s, 415, "PATCH with the wrong media type: {body}");
    assert!(body.contains(FRAG), "reason missing: {body}");
    let (s, body, _, _) = patch(&session_url, FRAG, None, "this is not a fragment").await;
    assert_eq!(s, 400, "garbage fragment: {body}");
    assert!(
        body.contains("malformed sdpfrag: line 1"),
        "reason missing: {body}"
    );
    let bad = "a=candidate:1 1 udp 2130706431 127.0.0.1\r\n";
    let (s, body, _, _) = patch(&session_url, FRAG, None, bad).await;
    assert_eq!(s, 400, "short candidate: {body}");
    assert!(body.contains("fields"), "reason missing: {body}");
    let (s, body, _, _) = patch(&session_url, FRAG, Some("\"stale\""), trickle).await;
    assert_eq!(s, 412, "wrong If-Match: {body}");
    let (s, body, _, _) = patch(&format!("{url}/0123"), FRAG, None, trickle).await;
    assert_eq!(s, 404, "PATCH of an unknown session: {body}");
    let (s, body, _, _) = patch(&session_url, FRAG, None, trickle).await;
    assert_eq!(s, 204, "trickled candidate: {body}");
    // ICE restart (new credentials): 200, the server's new credentials and candidates.
    let restart = trickle.replace("abcd", "wxyz");
    let (s, body, etag, ct) = patch(&session_url, FRAG, Some("*"), &restart).await;
    assert_eq!(s, 200, "ICE restart: {body}");
    assert_eq!(ct.as_deref(), Some(FRAG));
    assert!(etag.is_some(), "restart answer without ETag");
    assert!(
        body.contains("a=ice-ufrag:") && body.contains("a=ice-pwd:"),
        "{body}"
    );
    assert!(
        body.contains("a=candidate:") && body.contains("127.0.0.1"),
        "{body}"
    );
    assert!(body.contains("a=end-of-candidates"), "{body}");
    // Trickle for the new ICE session, with its ETag.
    let (s, body, _, _) = patch(&session_url, FRAG, etag.as_deref(), &restart).await;
    assert_eq!(s, 204, "trickle after the restart: {body}");
    assert_eq!(send(reqwest::Method::DELETE, &session_url).await, 200);
    assert_eq!(send(reqwest::Method::DELETE, &session_url).await, 404);
    assert_eq!(env.sfu.session_count(), 0);

    // The server still answers after all that.
    let (s, body, _) = post(&url, "application/sdp", fake_offer("H264")).await;
    assert_eq!(s, 201, "second viewer: {body}");
}
