//! Object-storage events: which new objects an event notification names.
//!
//! Accepted, alone, batched in `Records`, or in a JSON array:
//! - S3 event notifications (`eventSource: aws:s3`, `eventName: ObjectCreated:*`), as S3 sends
//!   them to SQS, SNS or Lambda; SQS messages (`body`) and SNS notifications (`Message`) that
//!   wrap them are unwrapped.
//! - EventBridge events (`source: aws.s3`, `detail-type: Object Created`).
//! - Google Cloud Storage Pub/Sub notifications (`OBJECT_FINALIZE`): push deliveries
//!   (`message.attributes`), pull responses (`receivedMessages`), or the object resource itself
//!   (`kind: storage#object`).
//!
//! Events of other kinds (deletions, metadata updates) are counted and ignored.

use base64::Engine;
use serde_json::Value;

/// The objects an event names.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct EventObjects {
    /// `s3://bucket/key` or `gs://bucket/name`, in event order, without repeats.
    pub urls: Vec<String>,
    /// Records that are not object creations.
    pub ignored: usize,
}

/// Parses an event notification.
///
/// # Errors
/// The text is not JSON, or no record in it is of a known kind.
pub fn parse_event(text: &str) -> anyhow::Result<EventObjects> {
    let value: Value =
        serde_json::from_str(text).map_err(|e| anyhow::anyhow!("the event is not JSON: {e}"))?;
    let mut out = EventObjects::default();
    let mut known = 0usize;
    walk(&value, &mut out, &mut known)?;
    if known == 0 {
        anyhow::bail!(
            "no S3, EventBridge or GCS notification record in the event (expected `Records[].s3`, `detail.object`, or a Pub/Sub message with `bucketId`/`objectId`)"
        );
    }
    Ok(out)
}

fn walk(v: &Value, out: &mut EventObjects, known: &mut usize) -> anyhow::Result<()> {
    match v {
        Value::Array(items) => {
            for item in items {
                walk(item, out, known)?;
            }
        }
        Value::Object(map) => {
            if let Some(records) = map.get("Records").or_else(|| map.get("receivedMessages")) {
                return walk(records, out, known);
            }
            // SQS (`body`) and SNS (`Message`, or `Sns.Message` in Lambda) carry the S3 event as a string.
            for wrapped in
                [map.get("body"), map.get("Message"), map.get("Sns").and_then(|s| s.get("Message"))]
                    .into_iter()
                    .flatten()
            {
                if let Some(inner) =
                    wrapped.as_str().and_then(|s| serde_json::from_str::<Value>(s).ok())
                {
                    return walk(&inner, out, known);
                }
            }
            if let Some(s3) = map.get("s3") {
                *known += 1;
                let name = map.get("eventName").and_then(Value::as_str).unwrap_or_default();
                let bucket = s3.pointer("/bucket/name").and_then(Value::as_str);
                let key = s3.pointer("/object/key").and_then(Value::as_str);
                match (name.starts_with("ObjectCreated"), bucket, key) {
                    (true, Some(b), Some(k)) => {
                        push(out, format!("s3://{b}/{}", decode_s3_key(k)?))
                    }
                    _ => out.ignored += 1,
                }
            } else if map.get("source").and_then(Value::as_str) == Some("aws.s3") {
                *known += 1;
                let kind = map.get("detail-type").and_then(Value::as_str).unwrap_or_default();
                let bucket = map
                    .get("detail")
                    .and_then(|d| d.pointer("/bucket/name"))
                    .and_then(Value::as_str);
                let key = map
                    .get("detail")
                    .and_then(|d| d.pointer("/object/key"))
                    .and_then(Value::as_str);
                match (kind == "Object Created", bucket, key) {
                    (true, Some(b), Some(k)) => push(out, format!("s3://{b}/{k}")),
                    _ => out.ignored += 1,
                }
            } else if let Some(message) = map.get("message") {
                pubsub(message, out, known)?;
            } else if map.get("kind").and_then(Value::as_str) == Some("storage#object") {
                *known += 1;
                match (
                    map.get("bucket").and_then(Value::as_str),
                    map.get("name").and_then(Value::as_str),
                ) {
                    (Some(b), Some(n)) => push(out, format!("gs://{b}/{n}")),
                    _ => out.ignored += 1,
                }
            }
        }
        _ => {}
    }
    Ok(())
}

/// A Pub/Sub message of a GCS notification: the object in its attributes, or (with none) the
/// object resource as its base64 payload.
fn pubsub(message: &Value, out: &mut EventObjects, known: &mut usize) -> anyhow::Result<()> {
    *known += 1;
    let attr = |k: &str| message.pointer(&format!("/attributes/{k}")).and_then(Value::as_str);
    match (attr("eventType"), attr("bucketId"), attr("objectId")) {
        (Some("OBJECT_FINALIZE"), Some(b), Some(o)) => push(out, format!("gs://{b}/{o}")),
        (None, _, _) => {
            // No attributes: the payload may be the object resource, base64-encoded.
            let data = message.get("data").and_then(Value::as_str).unwrap_or_default();
            let bytes = base64::engine::general_purpose::STANDARD.decode(data).unwrap_or_default();
            match serde_json::from_slice::<Value>(&bytes) {
                Ok(resource) => {
                    *known -= 1;
                    walk(&resource, out, known)?;
                }
                Err(_) => out.ignored += 1,
            }
        }
        _ => out.ignored += 1,
    }
    Ok(())
}

fn push(out: &mut EventObjects, url: String) {
    if !out.urls.contains(&url) {
        out.urls.push(url);
    }
}

/// S3 event keys are URL-encoded, with `+` for spaces.
fn decode_s3_key(key: &str) -> anyhow::Result<String> {
    let raw = key.as_bytes();
    let mut bytes = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        match raw[i] {
            b'+' => bytes.push(b' '),
            b'%' if i + 2 < raw.len() => {
                let hex = std::str::from_utf8(&raw[i + 1..i + 3])
                    .ok()
                    .and_then(|h| u8::from_str_radix(h, 16).ok());
                match hex {
                    Some(b) => {
                        bytes.push(b);
                        i += 2;
                    }
                    None => bytes.push(b'%'),
                }
            }
            b => bytes.push(b),
        }
        i += 1;
    }
    String::from_utf8(bytes)
        .map_err(|_| anyhow::anyhow!("object key `{key}` is not UTF-8 once decoded"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn urls(text: &str) -> Vec<String> {
        parse_event(text).expect("parses").urls
    }

    #[test]
    fn s3_notifications_batched_and_wrapped() {
        let s3 = r#"{"Records":[
            {"eventSource":"aws:s3","eventName":"ObjectCreated:Put","s3":{"bucket":{"name":"corpus"},"object":{"key":"raw/a+b%2Bc.jsonl.zst","size":10}}},
            {"eventSource":"aws:s3","eventName":"ObjectRemoved:Delete","s3":{"bucket":{"name":"corpus"},"object":{"key":"raw/old.jsonl"}}},
            {"eventSource":"aws:s3","eventName":"ObjectCreated:CompleteMultipartUpload","s3":{"bucket":{"name":"corpus"},"object":{"key":"raw/b.jsonl"}}}]}"#;
        let parsed = parse_event(s3).expect("parses");
        assert_eq!(parsed.urls, ["s3://corpus/raw/a b+c.jsonl.zst", "s3://corpus/raw/b.jsonl"]);
        assert_eq!(parsed.ignored, 1);
        // The same event as SQS delivers it, and through SNS.
        let sqs = serde_json::json!({ "Records": [{ "eventSource": "aws:sqs", "body": s3 }] })
            .to_string();
        assert_eq!(urls(&sqs).len(), 2);
        let sns = serde_json::json!({ "Type": "Notification", "Message": s3 }).to_string();
        assert_eq!(urls(&sns).len(), 2);
    }

    #[test]
    fn eventbridge_and_gcs() {
        let eb = r#"{"source":"aws.s3","detail-type":"Object Created","detail":{"bucket":{"name":"b"},"object":{"key":"x/y.parquet","size":5}}}"#;
        assert_eq!(urls(eb), ["s3://b/x/y.parquet"]);
        let push = r#"{"message":{"attributes":{"eventType":"OBJECT_FINALIZE","bucketId":"g","objectId":"in/z.jsonl"},"data":""},"subscription":"s"}"#;
        assert_eq!(urls(push), ["gs://g/in/z.jsonl"]);
        let resource = base64::engine::general_purpose::STANDARD
            .encode(r#"{"kind":"storage#object","bucket":"g","name":"r.jsonl"}"#);
        let pull = format!(
            r#"{{"receivedMessages":[{{"ackId":"1","message":{{"data":"{resource}"}}}}]}}"#
        );
        assert_eq!(urls(&pull), ["gs://g/r.jsonl"]);
        let delete = r#"{"message":{"attributes":{"eventType":"OBJECT_DELETE","bucketId":"g","objectId":"a"}}}"#;
        assert_eq!(parse_event(delete).expect("parses"), EventObjects { urls: vec![], ignored: 1 });
    }

    #[test]
    fn unknown_events_are_errors() {
        assert!(parse_event("not json").expect_err("fails").to_string().contains("not JSON"));
        assert!(parse_event(r#"{"hello":1}"#).expect_err("fails").to_string().contains("no S3"));
    }
}
