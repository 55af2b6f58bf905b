//! REST handlers. Each resource route builds the same [`Command`] a WebSocket frame would
//! carry, from path parameters, query string and JSON body, and runs it as the bearer's actor.

use crate::auth::Actor;
use crate::command::Command;
use crate::error::CommerceError;
use crate::Commerce;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Map, Value};
use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

/// The HTTP edge error: logs internals, answers `{"error": {"code", "message"}}`.
#[derive(Debug)]
pub struct ApiError(pub CommerceError);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let e = self.0;
        let status =
            StatusCode::from_u16(e.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        if status.is_server_error() {
            tracing::error!(error = %e, "commerce request failed");
        }
        let mut body = json!({ "error": { "code": e.code(), "message": e.public_message() } });
        let mut resp_headers = HeaderMap::new();
        if let CommerceError::RateLimited {
            limit,
            retry_after_ms,
        } = e
        {
            body["error"]["limit"] = json!(limit);
            body["error"]["retry_after_ms"] = json!(retry_after_ms);
            if let Ok(v) = (retry_after_ms.div_ceil(1000)).to_string().parse() {
                resp_headers.insert("retry-after", v);
            }
        }
        (status, resp_headers, Json(body)).into_response()
    }
}

impl From<CommerceError> for ApiError {
    fn from(e: CommerceError) -> Self {
        Self(e)
    }
}

/// The `Authorization: Bearer` credential, if any.
pub fn bearer(headers: &HeaderMap) -> Option<&str> {
    let v = headers.get("authorization")?.to_str().ok()?;
    v.strip_prefix("Bearer ")
        .or_else(|| v.strip_prefix("bearer "))
        .map(str::trim)
}

fn actor(shop: &Commerce, headers: &HeaderMap) -> Result<Actor, CommerceError> {
    match bearer(headers) {
        Some(t) => shop.authenticate(t),
        None => Err(CommerceError::Unauthenticated(
            "missing Authorization: Bearer <token>; get one from /api/v1/streams/{id}/tokens/viewer".into(),
        )),
    }
}

fn scalar(s: &str) -> Value {
    if let Ok(n) = s.parse::<i64>() {
        return json!(n);
    }
    match s {
        "true" => json!(true),
        "false" => json!(false),
        _ => json!(s),
    }
}

/// Build the command `kind` from the request parts. Path `{id}` is the stream; other path
/// parameters, query parameters and the JSON body become fields.
pub fn build_command(
    kind: &str,
    path: &HashMap<String, String>,
    query: &HashMap<String, String>,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Command, CommerceError> {
    let mut obj = if body.iter().all(u8::is_ascii_whitespace) {
        Map::new()
    } else {
        match serde_json::from_slice::<Value>(body) {
            Ok(Value::Object(o)) => o,
            Ok(Value::Null) => Map::new(),
            Ok(_) => {
                return Err(CommerceError::Invalid(
                    "the body must be a JSON object".into(),
                ))
            }
            Err(e) => return Err(CommerceError::Invalid(format!("invalid JSON body: {e}"))),
        }
    };
    for (k, v) in query {
        obj.insert(k.clone(), scalar(v));
    }
    for (k, v) in path {
        if k != "id" {
            obj.insert(k.clone(), json!(v));
        }
    }
    if matches!(kind, "checkout" | "flash.purchase") {
        if let Some(k) = headers.get("idempotency-key") {
            let k = k
                .to_str()
                .map_err(|_| CommerceError::Invalid("Idempotency-Key must be ASCII".into()))?;
            obj.insert("idempotency_key".into(), json!(k));
        }
    }
    obj.insert("type".into(), json!(kind));
    serde_json::from_value(Value::Object(obj))
        .map_err(|e| CommerceError::Invalid(format!("{kind}: {e}")))
}

type HandlerFuture = Pin<Box<dyn Future<Output = Response> + Send>>;

/// A handler running command `kind` (mount it with `get(..)`, `post(..)`, ...).
#[allow(clippy::type_complexity)] // the extractor list is the handler's signature
pub fn command(
    kind: &'static str,
) -> impl Fn(
    State<Arc<Commerce>>,
    Path<HashMap<String, String>>,
    Query<HashMap<String, String>>,
    HeaderMap,
    Bytes,
) -> HandlerFuture
       + Clone
       + Send
       + Sync
       + 'static {
    move |State(shop), Path(path), Query(query), headers, body| {
        Box::pin(async move {
            let res = async {
                let actor = actor(&shop, &headers)?;
                shop.take_rest_user_token(&actor).await?;
                let cmd = build_command(kind, &path, &query, &headers, &body)?;
                shop.execute(&actor, path.get("id").map(String::as_str), cmd)
                    .await
            }
            .await;
            respond(&path, res)
        })
    }
}

fn respond(path: &HashMap<String, String>, res: Result<Value, CommerceError>) -> Response {
    match res {
        Ok(v) => Json(v).into_response(),
        Err(e) => {
            let stream = path.get("id").map(String::as_str).unwrap_or("-");
            crate::transport::ws::log_refusal(stream, "-", &e);
            ApiError(e).into_response()
        }
    }
}

/// `POST /api/v1/streams/{id}/commands`: any command as a WebSocket-style JSON body.
pub async fn any_command(
    State(shop): State<Arc<Commerce>>,
    Path(path): Path<HashMap<String, String>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let res = async {
        let actor = actor(&shop, &headers)?;
        shop.take_rest_user_token(&actor).await?;
        let mut cmd: Command =
            serde_json::from_slice(&body).map_err(|e| CommerceError::Invalid(format!("{e}")))?;
        if let Command::Checkout { idempotency_key }
        | Command::FlashPurchase {
            idempotency_key, ..
        } = &mut cmd
        {
            if idempotency_key.is_none() {
                *idempotency_key = headers
                    .get("idempotency-key")
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_owned);
            }
        }
        shop.execute(&actor, path.get("id").map(String::as_str), cmd)
            .await
    }
    .await;
    respond(&path, res)
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HostTokenRequest {
    pub stream_key: String,
    #[serde(default)]
    pub name: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ViewerTokenRequest {
    #[serde(default)]
    pub name: Option<String>,
}

/// `POST /api/v1/streams/{id}/tokens/host` `{"stream_key", "name"?}`.
pub async fn host_token(
    State(shop): State<Arc<Commerce>>,
    Path(stream_id): Path<String>,
    body: Bytes,
) -> Response {
    if let Err(e) = shop.require_stream_fresh(&stream_id).await {
        return respond(&HashMap::from([("id".to_owned(), stream_id)]), Err(e));
    }
    let res = serde_json::from_slice::<HostTokenRequest>(&body)
        .map_err(|e| CommerceError::Invalid(format!("{e}")))
        .and_then(|r| shop.issue_host_token(&stream_id, &r.stream_key, r.name));
    respond(&HashMap::from([("id".to_owned(), stream_id)]), res)
}

/// `POST /api/v1/streams/{id}/tokens/viewer` `{"name"?}` (empty body = anonymous).
pub async fn viewer_token(
    State(shop): State<Arc<Commerce>>,
    Path(stream_id): Path<String>,
    body: Bytes,
) -> Response {
    if let Err(e) = shop.require_stream_fresh(&stream_id).await {
        return respond(&HashMap::from([("id".to_owned(), stream_id)]), Err(e));
    }
    let req = if body.iter().all(u8::is_ascii_whitespace) {
        Ok(ViewerTokenRequest::default())
    } else {
        serde_json::from_slice::<ViewerTokenRequest>(&body)
            .map_err(|e| CommerceError::Invalid(format!("{e}")))
    };
    let res = req.and_then(|r| shop.issue_viewer_token(&stream_id, r.name));
    respond(&HashMap::from([("id".to_owned(), stream_id)]), res)
}
