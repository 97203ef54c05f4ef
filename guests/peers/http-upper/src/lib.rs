//! The peer of Caxton's HTTP send-and-wait in `just bench`: a `wasi:http`
//! component for `wasmtime serve` that takes the same JSON request body as
//! `POST /v1/messages` to `text-processor` and answers with the uppercased
//! text, as JSON.
use serde_json::{json, Value};
use wasi::http::types::{Fields, IncomingRequest, OutgoingBody, OutgoingResponse, ResponseOutparam};

struct HttpUpper;

wasi::http::proxy::export!(HttpUpper);

/// The whole request body (up to 64 KiB).
fn body(request: &IncomingRequest) -> Vec<u8> {
    let mut bytes = Vec::new();
    let Ok(body) = request.consume() else { return bytes };
    if let Ok(stream) = body.stream() {
        while bytes.len() < 64 * 1024 {
            match stream.blocking_read(16 * 1024) {
                Ok(chunk) => bytes.extend_from_slice(&chunk),
                Err(_) => break, // closed
            }
        }
    }
    bytes
}

impl wasi::exports::http::incoming_handler::Guest for HttpUpper {
    fn handle(request: IncomingRequest, out: ResponseOutparam) {
        let request: Value = serde_json::from_slice(&body(&request)).unwrap_or(Value::Null);
        let text = request["content"]["data"]["data"].as_str().unwrap_or_default();
        let answer = json!({ "performative": "inform", "content": { "result": { "result": text.to_uppercase() } } });
        let headers = Fields::from_list(&[("content-type".to_string(), b"application/json".to_vec())])
            .unwrap_or_else(|_| Fields::new());
        let response = OutgoingResponse::new(headers);
        let Ok(body) = response.body() else { return };
        ResponseOutparam::set(out, Ok(response));
        if let Ok(stream) = body.write() {
            let _ = stream.blocking_write_and_flush(answer.to_string().as_bytes());
        }
        let _ = OutgoingBody::finish(body, None);
    }
}
