//! Wire types of the WebSocket protocol `showroom.commerce.v1` (documented in docs/commerce.md).
//!
//! Client → server: `{"v": 1, "id": <any>, "type": "<command>", ...fields}` or `{"type": "ping"}`.
//! Server → client: `hello`, `event`, `result`, `error`, `pong`, `resync` (and `viewers`,
//! built in [`crate::presence::frame`]).

use crate::command::{Command, COMMAND_TYPES};
use crate::error::CommerceError;
use serde_json::{json, Map, Value};

/// The protocol name and version sent in `hello`.
pub const PROTOCOL: &str = "showroom.commerce.v1";
pub const VERSION: u64 = 1;

/// A parsed client frame.
#[derive(Debug, Clone, PartialEq)]
pub enum Inbound {
    Command { id: Value, cmd: Command },
    Ping { id: Value },
}

/// A refused client frame: the request id (if it could be read) and the error frame code.
#[derive(Debug, Clone, PartialEq)]
pub struct Rejected {
    pub id: Value,
    pub code: &'static str,
    pub message: String,
}

fn reject(id: &Value, code: &'static str, message: impl Into<String>) -> Rejected {
    Rejected {
        id: id.clone(),
        code,
        message: message.into(),
    }
}

/// Parse one text frame.
pub fn parse(text: &str) -> Result<Inbound, Rejected> {
    let v: Value = serde_json::from_str(text)
        .map_err(|e| reject(&Value::Null, "invalid_json", format!("invalid JSON: {e}")))?;
    let Value::Object(mut obj) = v else {
        return Err(reject(
            &Value::Null,
            "invalid_json",
            "a frame must be a JSON object",
        ));
    };
    let id = obj.remove("id").unwrap_or(Value::Null);
    match obj.remove("v") {
        None => {}
        Some(Value::Number(n)) if n.as_u64() == Some(VERSION) => {}
        Some(other) => {
            return Err(reject(
                &id,
                "unsupported_version",
                format!("protocol version {other} is not supported; use 1"),
            ));
        }
    }
    let ty = match obj.get("type") {
        Some(Value::String(t)) => t.clone(),
        _ => return Err(reject(&id, "invalid", "missing \"type\"")),
    };
    if ty == "ping" {
        return Ok(Inbound::Ping { id });
    }
    if !COMMAND_TYPES.contains(&ty.as_str()) {
        return Err(reject(&id, "unknown_type", format!("unknown type {ty:?}")));
    }
    let cmd = serde_json::from_value::<Command>(Value::Object(obj))
        .map_err(|e| reject(&id, "invalid", format!("bad fields for {ty}: {e}")))?;
    Ok(Inbound::Command { id, cmd })
}

pub fn hello(stream_id: &str, user_id: &str, role: crate::Role, head_seq: u64) -> String {
    json!({ "v": VERSION, "type": "hello", "protocol": PROTOCOL, "stream_id": stream_id,
            "user_id": user_id, "role": role, "head_seq": head_seq })
    .to_string()
}

pub fn result(id: &Value, data: Value) -> String {
    json!({ "v": VERSION, "type": "result", "id": id, "ok": true, "data": data }).to_string()
}

pub fn error(id: &Value, code: &str, message: &str) -> String {
    json!({ "v": VERSION, "type": "error", "id": id, "code": code, "message": message }).to_string()
}

pub fn command_error(id: &Value, e: &CommerceError) -> String {
    let mut frame = Map::new();
    frame.insert("v".into(), json!(VERSION));
    frame.insert("type".into(), json!("error"));
    frame.insert("id".into(), id.clone());
    frame.insert("code".into(), json!(e.code()));
    frame.insert("message".into(), json!(e.public_message()));
    if let CommerceError::RateLimited {
        limit,
        retry_after_ms,
    } = e
    {
        frame.insert("limit".into(), json!(limit));
        frame.insert("retry_after_ms".into(), json!(retry_after_ms));
    }
    Value::Object(frame).to_string()
}

pub fn pong(id: &Value) -> String {
    json!({ "v": VERSION, "type": "pong", "id": id }).to_string()
}

/// Sent when the requested `since` is older than the kept history: reload state over REST.
pub fn resync(head_seq: u64, reason: &str) -> String {
    json!({ "v": VERSION, "type": "resync", "head_seq": head_seq, "reason": reason }).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_commands_and_refuses_bad_frames() {
        let ok = parse(r#"{"v":1,"id":7,"type":"pin.add","product_id":"p1"}"#).unwrap();
        assert_eq!(
            ok,
            Inbound::Command {
                id: json!(7),
                cmd: Command::PinAdd {
                    product_id: "p1".into()
                }
            }
        );
        assert_eq!(
            parse(r#"{"type":"ping","id":"x"}"#).unwrap(),
            Inbound::Ping { id: json!("x") }
        );
        assert_eq!(parse("{nope").unwrap_err().code, "invalid_json");
        assert_eq!(parse("[1]").unwrap_err().code, "invalid_json");
        let unknown = parse(r#"{"id":"a","type":"pin.explode"}"#).unwrap_err();
        assert_eq!((unknown.code, unknown.id), ("unknown_type", json!("a")));
        assert_eq!(parse(r#"{"type":"pin.add"}"#).unwrap_err().code, "invalid");
        assert_eq!(
            parse(r#"{"type":"pin.add","product_id":"p","extra":1}"#)
                .unwrap_err()
                .code,
            "invalid"
        );
        assert_eq!(
            parse(r#"{"v":2,"type":"pin.list"}"#).unwrap_err().code,
            "unsupported_version"
        );
    }

    #[test]
    fn every_listed_type_is_a_command() {
        for t in COMMAND_TYPES {
            let e = parse(&format!(r#"{{"type":"{t}"}}"#));
            if let Err(r) = e {
                assert_ne!(r.code, "unknown_type", "{t}");
            }
        }
    }
}
