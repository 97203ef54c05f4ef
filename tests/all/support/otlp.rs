//! A small OTLP/HTTP receiver, as an OpenTelemetry collector would run one:
//! it takes `POST /v1/traces` (protobuf `ExportTraceServiceRequest`) and keeps
//! the spans, for a test to read.

use http_body_util::BodyExt;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value::Value as AnyValue;
use opentelemetry_proto::tonic::common::v1::KeyValue;
use prost::Message;
use std::collections::BTreeMap;
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

/// One span as received.
#[derive(Debug, Clone)]
pub struct Span {
    pub trace_id: String,
    pub span_id: String,
    /// Empty for the root of a trace.
    pub parent_span_id: String,
    pub name: String,
    /// Attribute values as text (numbers in decimal).
    pub attributes: BTreeMap<String, String>,
    /// Whether its status is an error.
    pub error: bool,
    /// The exporting process's `service.instance.id`.
    pub instance: String,
}

impl Span {
    /// An attribute's value, or "" when the span has none.
    pub fn attr(&self, key: &str) -> &str {
        self.attributes.get(key).map_or("", String::as_str)
    }
}

#[derive(Default)]
struct Received {
    spans: Vec<Span>,
    requests: usize,
}

/// The receiver, listening on an ephemeral loopback port until the test ends.
pub struct Collector {
    /// Its base URL, for `--otlp-endpoint`.
    pub url: String,
    received: Arc<(Mutex<Received>, Condvar)>,
}

impl Collector {
    pub fn start() -> Collector {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let received = Arc::new((Mutex::new(Received::default()), Condvar::new()));
        let kept = received.clone();
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).unwrap();
                loop {
                    let Ok((stream, _)) = listener.accept().await else { continue };
                    let kept = kept.clone();
                    tokio::spawn(async move {
                        let service = hyper::service::service_fn(move |request| receive(request, kept.clone()));
                        let io = hyper_util::rt::TokioIo::new(stream);
                        let _ = hyper::server::conn::http1::Builder::new().serve_connection(io, service).await;
                    });
                }
            });
        });
        Collector { url, received }
    }

    /// Wait (up to a minute) until the spans received satisfy `done`; returns them all.
    pub fn wait_for(&self, what: &str, done: impl Fn(&[Span]) -> bool) -> Vec<Span> {
        let (lock, arrived) = &*self.received;
        let started = Instant::now();
        let mut received = lock.lock().unwrap();
        while !done(&received.spans) {
            let left = Duration::from_secs(60).saturating_sub(started.elapsed());
            assert!(!left.is_zero(), "no {what} in {} export requests: {:#?}", received.requests, received.spans);
            received = arrived.wait_timeout(received, left).unwrap().0;
        }
        received.spans.clone()
    }

    /// Everything received so far.
    pub fn spans(&self) -> Vec<Span> {
        self.received.0.lock().unwrap().spans.clone()
    }
}

async fn receive(
    request: hyper::Request<hyper::body::Incoming>,
    received: Arc<(Mutex<Received>, Condvar)>,
) -> Result<hyper::Response<http_body_util::Full<bytes::Bytes>>, hyper::Error> {
    let path_ok = request.method() == hyper::Method::POST && request.uri().path() == "/v1/traces";
    let protobuf = request.headers().get("content-type").is_some_and(|v| v == "application/x-protobuf");
    let body = request.into_body().collect().await?.to_bytes();
    let status = match ExportTraceServiceRequest::decode(body) {
        Ok(export) if path_ok && protobuf => {
            let (lock, arrived) = &*received;
            let mut received = lock.lock().unwrap();
            received.requests += 1;
            received.spans.extend(spans_of(export));
            arrived.notify_all();
            200
        }
        _ => 400,
    };
    let mut response = hyper::Response::new(http_body_util::Full::new(bytes::Bytes::new()));
    *response.status_mut() = hyper::StatusCode::from_u16(status).unwrap();
    response.headers_mut().insert("content-type", "application/x-protobuf".parse().unwrap());
    Ok(response)
}

fn spans_of(export: ExportTraceServiceRequest) -> Vec<Span> {
    let hex = |bytes: &[u8]| bytes.iter().map(|b| format!("{b:02x}")).collect::<String>();
    let mut out = Vec::new();
    for resource_spans in export.resource_spans {
        let resource = resource_spans.resource.map(|r| attributes(&r.attributes)).unwrap_or_default();
        let instance = resource.get("service.instance.id").cloned().unwrap_or_default();
        for scope in resource_spans.scope_spans {
            for span in scope.spans {
                out.push(Span {
                    trace_id: hex(&span.trace_id),
                    span_id: hex(&span.span_id),
                    parent_span_id: hex(&span.parent_span_id),
                    name: span.name,
                    attributes: attributes(&span.attributes),
                    error: span.status.is_some_and(|s| s.code == 2),
                    instance: instance.clone(),
                });
            }
        }
    }
    out
}

fn attributes(list: &[KeyValue]) -> BTreeMap<String, String> {
    list.iter()
        .map(|kv| {
            let value = match kv.value.as_ref().and_then(|v| v.value.as_ref()) {
                Some(AnyValue::StringValue(s)) => s.clone(),
                Some(AnyValue::IntValue(i)) => i.to_string(),
                Some(AnyValue::BoolValue(b)) => b.to_string(),
                Some(AnyValue::DoubleValue(d)) => d.to_string(),
                other => format!("{other:?}"),
            };
            (kv.key.clone(), value)
        })
        .collect()
}
