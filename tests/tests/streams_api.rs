//! The streams API against a real `showroom` process: auth, create/list/get/delete, the URLs,
//! persistence across a restart, health and metrics.

use reqwest::Method;
use showroom_tests::Engine;

#[tokio::test]
async fn streams_crud_auth_and_persistence() -> anyhow::Result<()> {
    let engine = Engine::start().await?;
    assert_eq!(
        engine.admin_key.len(),
        48,
        "admin key generated in the data dir"
    );
    assert!(
        engine.log().contains("Admin API key (generated now"),
        "printed on first start"
    );

    // No key, wrong key → 401.
    let r = engine
        .http
        .get(engine.url("/api/v1/streams"))
        .send()
        .await?;
    assert_eq!(r.status(), 401);
    let r = engine
        .http
        .get(engine.url("/api/v1/streams"))
        .bearer_auth("nope")
        .send()
        .await?;
    assert_eq!(r.status(), 401);
    assert!(engine.log().contains("admin request refused"));

    // Bad body → 400 / 422, never 500.
    let r = engine
        .admin(Method::POST, "/api/v1/streams")
        .json(&serde_json::json!({ "title": "" }))
        .send()
        .await?;
    assert_eq!(r.status(), 400);
    let r = engine
        .admin(Method::POST, "/api/v1/streams")
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await?;
    assert!(r.status().is_client_error(), "{}", r.status());

    let s = engine.create_stream("Spring drop").await?;
    let id = s["id"].as_str().unwrap().to_owned();
    let key = s["stream_key"].as_str().unwrap().to_owned();
    assert_eq!(s["state"], "idle");
    assert_eq!(
        s["hls_url"],
        engine.url(&format!("/hls/{id}/index.m3u8")).as_str()
    );
    assert_eq!(
        s["rtmp_url"],
        format!("rtmp://127.0.0.1:{}/live", engine.rtmp_port).as_str()
    );
    assert_eq!(s["rtmp_publish_url"], engine.rtmp_url(&key).as_str());
    assert!(s["whip_url"]
        .as_str()
        .unwrap()
        .ends_with(&format!("/whip/{id}")));
    assert!(s["whep_url"]
        .as_str()
        .unwrap()
        .ends_with(&format!("/whep/{id}")));
    let other = engine.create_stream("Other").await?;
    assert_ne!(other["stream_key"], s["stream_key"]);

    let list: Vec<serde_json::Value> = engine
        .admin(Method::GET, "/api/v1/streams")
        .send()
        .await?
        .json()
        .await?;
    assert_eq!(list.len(), 2);
    assert_eq!(engine.stream(&id).await?["title"], "Spring drop");

    let metrics = engine
        .http
        .get(engine.url("/metrics"))
        .send()
        .await?
        .text()
        .await?;
    assert!(metrics.contains("showroom_streams 2"), "{metrics}");
    assert!(metrics.contains("showroom_streams_live 0"));
    let health = engine.http.get(engine.url("/healthz")).send().await?;
    assert_eq!(health.status(), 200);

    // Restart on the same data dir: streams and the admin key persist, key not printed again.
    let key_before = engine.admin_key.clone();
    let dir = engine.stop();
    let engine = Engine::start_in(dir, &[]).await?;
    assert_eq!(engine.admin_key, key_before);
    assert!(!engine.log().contains("Admin API key"), "printed once only");
    assert_eq!(engine.stream(&id).await?["stream_key"], key.as_str());

    let r = engine
        .admin(Method::DELETE, &format!("/api/v1/streams/{id}"))
        .send()
        .await?;
    assert_eq!(r.status(), 204);
    let r = engine
        .admin(Method::GET, &format!("/api/v1/streams/{id}"))
        .send()
        .await?;
    assert_eq!(r.status(), 404);
    let r = engine
        .admin(Method::DELETE, &format!("/api/v1/streams/{id}"))
        .send()
        .await?;
    assert_eq!(r.status(), 404);
    Ok(())
}

#[tokio::test]
async fn configured_admin_key_from_env() -> anyhow::Result<()> {
    let engine = Engine::start_with(&[("SHOWROOM_ADMIN_KEY", "test-admin-key-123")]).await?;
    let r = engine
        .http
        .get(engine.url("/api/v1/streams"))
        .bearer_auth("test-admin-key-123")
        .send()
        .await?;
    assert_eq!(r.status(), 200);
    assert!(!engine.data_dir.path().join("admin_key").exists());
    Ok(())
}

/// The same API on PostgreSQL (a real server started for the test): migrations run, streams
/// persist across an engine restart, and a second engine on the same database sees them.
#[tokio::test]
async fn streams_persist_on_postgresql() -> anyhow::Result<()> {
    let pg = showroom_tests::services::Postgres::start()?;
    let url = pg.url();
    let env = [
        ("SHOWROOM_DATABASE__URL", url.as_str()),
        ("SHOWROOM_ADMIN_KEY", "pg-admin-key"),
        ("SHOWROOM_JWT_SECRET", "shared-token-secret"),
    ];
    let engine = Engine::start_with(&env).await?;
    assert!(
        engine.log().contains("backend=\"postgres\""),
        "{}",
        engine.log()
    );
    let s = engine.create_stream("On Postgres").await?;
    let id = s["id"].as_str().unwrap().to_owned();

    // A second engine on the same database finds the stream (another process created it).
    let other = Engine::start_with(&env).await?;
    assert_eq!(other.stream(&id).await?["title"], "On Postgres");
    // With a shared SHOWROOM_JWT_SECRET, a token issued by one engine is good on the other.
    let viewer: serde_json::Value = engine
        .http
        .post(engine.url(&format!("/api/v1/streams/{id}/tokens/viewer")))
        .json(&serde_json::json!({}))
        .send()
        .await?
        .json()
        .await?;
    let r = other
        .http
        .get(other.url(&format!("/api/v1/streams/{id}/timeline")))
        .bearer_auth(viewer["token"].as_str().unwrap())
        .send()
        .await?;
    assert_eq!(r.status(), 200);
    drop(other);

    let dir = engine.stop();
    let engine = Engine::start_in(dir, &env).await?;
    assert_eq!(engine.stream(&id).await?["title"], "On Postgres");
    let r = engine
        .admin(Method::DELETE, &format!("/api/v1/streams/{id}"))
        .send()
        .await?;
    assert_eq!(r.status(), 204);
    Ok(())
}

#[tokio::test]
async fn json_logs_on_request() -> anyhow::Result<()> {
    let engine = Engine::start_with(&[("SHOWROOM_LOG__FORMAT", "json")]).await?;
    engine.create_stream("logged").await?;
    let log = engine.log();
    let lines: Vec<&str> = log.lines().filter(|l| l.starts_with('{')).collect();
    assert!(lines.len() >= 2, "{log}");
    for line in lines {
        let v: serde_json::Value = serde_json::from_str(line)?;
        assert!(v["level"].is_string() && v["fields"].is_object(), "{line}");
    }
    assert!(log.contains("\"stream created\""), "{log}");
    Ok(())
}
