//! OpenTelemetry traces: the span each handled message or timer gets, and the
//! OTLP/HTTP export behind `caxton serve --otlp-endpoint URL`.
//!
//! Every event an agent handles is one span, whose parent is the span that
//! sent the message: the message's W3C trace context (see [`crate::acl::trace`]).
//! What the agent sends while handling it carries this span's context, so a
//! conversation's messages form one trace across agents and hosts; a message
//! without a trace context (and every timer) starts a trace. Attributes:
//! `caxton.agent`, `fipa.performative`, `fipa.sender`, `fipa.conversation_id`,
//! `fipa.protocol`, `caxton.timer_id`, and once handled `caxton.fuel` (units
//! burned), `caxton.outcome` (`handled` or `failed`) and `caxton.failure_reason`
//! (the failure's wire string; the span's status is then an error).
//!
//! Spans are made with the OpenTelemetry API and exported in batches by the
//! SDK's batch processor and `opentelemetry-otlp` (a well-kept exporter every
//! collector speaks to, where ours would be guesswork about the protocol).
//! They are not `tracing` spans bridged by `tracing-opentelemetry`: through that
//! bridge a request → inform round trip took 1.29–1.39× the untraced one at
//! p50, made directly 1.11–1.14× (`just bench`, section *Watching*). The tracer
//! belongs to a runtime (`RuntimeConfig::traces`); without one a handled event
//! makes no span and its trace context passes through unchanged.

use crate::acl::trace::TraceContext;
use crate::acl::Message;
use opentelemetry::trace::{
    Span as _, SpanContext, SpanId, SpanKind, Status, TraceContextExt, TraceFlags, TraceId, TraceState, Tracer as _,
    TracerProvider as _,
};
use opentelemetry::{Context, KeyValue};
use std::time::Duration;

/// What makes handling spans: the tracer of a [`TraceExport`]. Cheap to clone.
#[derive(Clone)]
pub struct Tracer(opentelemetry_sdk::trace::SdkTracer);

impl std::fmt::Debug for Tracer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Tracer")
    }
}

/// The span of one event an agent handles (none without a tracer); ends with
/// [`Handling::finish`] or when dropped.
pub struct Handling(Option<opentelemetry_sdk::trace::Span>);

impl Handling {
    /// The span of `agent` handling `msg`, a child of the span that sent it.
    pub fn message(tracer: Option<&Tracer>, agent: &str, msg: &Message) -> Handling {
        let Some(tracer) = tracer else { return Handling(None) };
        let mut attributes = Vec::with_capacity(9);
        attributes.push(KeyValue::new("caxton.agent", agent.to_string()));
        attributes.push(KeyValue::new("fipa.performative", msg.performative.as_str()));
        attributes.push(KeyValue::new("fipa.sender", msg.sender.clone()));
        if let Some(conversation) = &msg.conversation_id {
            attributes.push(KeyValue::new("fipa.conversation_id", conversation.clone()));
        }
        if let Some(protocol) = &msg.protocol {
            attributes.push(KeyValue::new("fipa.protocol", protocol.clone()));
        }
        let parent = match msg.trace {
            Some(trace) => Context::new().with_remote_span_context(remote(trace)),
            None => Context::new(),
        };
        let name = format!("{}: {}", span_agent(agent, &mut attributes), msg.performative);
        Handling(Some(start(tracer, name, attributes, &parent)))
    }

    /// The span of `agent` handling its timer `id`: the start of a trace.
    pub fn timer(tracer: Option<&Tracer>, agent: &str, id: u64) -> Handling {
        let Some(tracer) = tracer else { return Handling(None) };
        let mut attributes = vec![
            KeyValue::new("caxton.agent", agent.to_string()),
            KeyValue::new("caxton.timer_id", i64::try_from(id).unwrap_or(i64::MAX)),
        ];
        let name = format!("{}: timer", span_agent(agent, &mut attributes));
        Handling(Some(start(tracer, name, attributes, &Context::new())))
    }

    /// The trace context of what the agent sends while handling: this span,
    /// or (no span) the handled message's own context unchanged.
    pub fn context_for_sends(&self, handled: Option<TraceContext>) -> Option<TraceContext> {
        let Some(span) = &self.0 else { return handled };
        let span = span.span_context();
        span.is_valid().then(|| TraceContext {
            trace_id: span.trace_id().to_bytes(),
            parent_id: span.span_id().to_bytes(),
            flags: span.trace_flags().to_u8(),
        })
    }

    /// Record how the handling ended and end the span: the fuel it burned and,
    /// if it failed, the failure's wire reason.
    pub fn finish(self, fuel: u64, failure: Option<&'static str>) {
        let Some(mut span) = self.0 else { return };
        span.set_attribute(KeyValue::new("caxton.fuel", i64::try_from(fuel).unwrap_or(i64::MAX)));
        match failure {
            None => span.set_attribute(KeyValue::new("caxton.outcome", "handled")),
            Some(reason) => {
                span.set_attribute(KeyValue::new("caxton.outcome", "failed"));
                span.set_attribute(KeyValue::new("caxton.failure_reason", reason));
                span.set_status(Status::error(reason));
            }
        }
        span.end();
    }
}

/// Who a span's name names: the agent, or for an instance `TYPE/KEY` its type
/// (added as `caxton.agent_type`), so a million keys make one span name.
fn span_agent<'a>(agent: &'a str, attributes: &mut Vec<KeyValue>) -> &'a str {
    match agent.split_once('/') {
        Some((agent_type, _)) => {
            attributes.push(KeyValue::new("caxton.agent_type", agent_type.to_string()));
            agent_type
        }
        None => agent,
    }
}

fn start(tracer: &Tracer, name: String, attributes: Vec<KeyValue>, parent: &Context) -> opentelemetry_sdk::trace::Span {
    tracer
        .0
        .span_builder(name)
        .with_kind(SpanKind::Consumer)
        .with_attributes(attributes)
        .start_with_context(&tracer.0, parent)
}

/// The OpenTelemetry form of a message's trace context: a remote parent.
fn remote(trace: TraceContext) -> SpanContext {
    SpanContext::new(
        TraceId::from_bytes(trace.trace_id),
        SpanId::from_bytes(trace.parent_id),
        TraceFlags::new(trace.flags),
        true,
        TraceState::default(),
    )
}

/// Why traces cannot be exported.
#[derive(Debug, thiserror::Error)]
pub enum TraceExportError {
    /// The endpoint is not an `http://` URL.
    #[error(
        "`{0}` is not an OTLP/HTTP endpoint: give the collector's `http://HOST:PORT` \
         (its OTLP/HTTP port, 4318 by default; spans go to `/v1/traces` under it)"
    )]
    NotAnEndpoint(String),
    /// An `https://` endpoint: this build speaks plain HTTP only.
    #[error(
        "`{0}`: OTLP over https is not built in; send to a collector beside the host over `http://` \
         and let it forward over TLS"
    )]
    Tls(String),
    /// Credentials in the URL, which would be logged and not sent.
    #[error(
        "`{0}` has credentials in the URL; put them in a header instead: \
         OTEL_EXPORTER_OTLP_HEADERS=\"authorization=Basic …\""
    )]
    Credentials(String),
    /// The exporter could not be built.
    #[error("cannot set up the OTLP exporter for `{endpoint}`")]
    Exporter {
        /// The traces URL.
        endpoint: String,
        /// Why.
        #[source]
        source: opentelemetry_otlp::ExporterBuildError,
    },
}

/// Where spans go: an OTLP/HTTP (protobuf) exporter sending in batches from
/// its own thread (the SDK's batch processor: at most 2,048 spans queued,
/// newer ones dropped beyond, so a slow collector never slows agents).
pub struct TraceExport {
    provider: opentelemetry_sdk::trace::SdkTracerProvider,
    endpoint: String,
}

impl TraceExport {
    /// Export to the collector at `endpoint` (`http://HOST:PORT`, or the full
    /// `…/v1/traces` URL), naming this process `service.name = caxton` (unless
    /// `OTEL_SERVICE_NAME` says otherwise) with `service.instance.id = instance`.
    ///
    /// Errors: [`TraceExportError`] when `endpoint` is not a plain `http://` URL.
    /// Nothing is sent yet; a collector that is down costs the batches sent
    /// meanwhile, reported in the log when exports start and stop failing.
    pub fn start(endpoint: &str, instance: &str) -> Result<TraceExport, TraceExportError> {
        use opentelemetry_otlp::WithExportConfig;
        let endpoint = traces_url(endpoint)?;
        let exporter = opentelemetry_otlp::SpanExporter::builder()
            .with_http()
            .with_endpoint(endpoint.clone())
            .with_timeout(Duration::from_secs(10))
            .build()
            .map_err(|source| TraceExportError::Exporter { endpoint: endpoint.clone(), source })?;
        // OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES (read by the builder) win over the defaults
        let mut resource = opentelemetry_sdk::Resource::builder();
        if std::env::var_os("OTEL_SERVICE_NAME").is_none() {
            resource = resource.with_service_name("caxton");
        }
        let resource = resource
            .with_attribute(KeyValue::new("service.instance.id", instance.to_string()))
            .with_attribute(KeyValue::new("service.version", env!("CARGO_PKG_VERSION")))
            .build();
        let exporter = Reporting { inner: exporter, endpoint: endpoint.clone(), failed: Default::default() };
        let provider = opentelemetry_sdk::trace::SdkTracerProvider::builder()
            .with_batch_exporter(exporter)
            .with_resource(resource)
            .build();
        Ok(TraceExport { provider, endpoint })
    }

    /// The URL spans are posted to.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// The tracer that makes handling spans, for `RuntimeConfig::traces`.
    pub fn tracer(&self) -> Tracer {
        Tracer(self.provider.tracer("caxton"))
    }

    /// Send what is queued and stop (blocks up to the export timeout).
    pub fn shutdown(self) {
        if let Err(e) = self.provider.shutdown() {
            tracing::warn!("traces not all exported to {}: {e}", self.endpoint);
        }
    }
}

/// The OTLP exporter, saying in the log when exports start failing (once, not
/// per batch) and when they work again, with how many spans were lost.
#[derive(Debug)]
struct Reporting {
    inner: opentelemetry_otlp::SpanExporter,
    endpoint: String,
    /// Spans in batches that failed since the last that went through (0: exports work).
    failed: std::sync::atomic::AtomicU64,
}

impl opentelemetry_sdk::trace::SpanExporter for Reporting {
    async fn export(&self, batch: Vec<opentelemetry_sdk::trace::SpanData>) -> opentelemetry_sdk::error::OTelSdkResult {
        use std::sync::atomic::Ordering::Relaxed;
        let spans = batch.len() as u64;
        let result = self.inner.export(batch).await;
        match &result {
            Ok(()) => {
                let lost = self.failed.swap(0, Relaxed);
                if lost > 0 {
                    tracing::info!("spans reach {} again; {lost} spans could not be sent meanwhile", self.endpoint);
                }
            }
            Err(e) => {
                if self.failed.fetch_add(spans, Relaxed) == 0 {
                    tracing::warn!(
                        "cannot export spans to {}: {e}; spans are dropped until it answers (said again when it does)",
                        self.endpoint
                    );
                }
            }
        }
        result
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> opentelemetry_sdk::error::OTelSdkResult {
        self.inner.shutdown_with_timeout(timeout)
    }

    fn force_flush(&self) -> opentelemetry_sdk::error::OTelSdkResult {
        self.inner.force_flush()
    }

    fn set_resource(&mut self, resource: &opentelemetry_sdk::Resource) {
        self.inner.set_resource(resource);
    }
}

/// The traces URL of an OTLP/HTTP endpoint: `/v1/traces` under the base URL
/// (as `OTEL_EXPORTER_OTLP_ENDPOINT` is read), unless it names that path.
fn traces_url(endpoint: &str) -> Result<String, TraceExportError> {
    let shown = || endpoint.chars().take(200).collect::<String>();
    let refuse = || TraceExportError::NotAnEndpoint(shown());
    let uri: hyper::Uri = endpoint.parse().map_err(|_| refuse())?;
    if let Some((_, host)) = uri.authority().and_then(|a| a.as_str().rsplit_once('@')) {
        return Err(TraceExportError::Credentials(format!("{}://…@{host}", uri.scheme_str().unwrap_or("http"))));
    }
    if uri.scheme_str() == Some("https") {
        return Err(TraceExportError::Tls(shown()));
    }
    // the port as written (past an IPv6 address's brackets): absent, or 1–65535
    let port_ok = uri.authority().is_some_and(|a| {
        let after_host = a.as_str().rsplit_once(']').map_or(a.as_str(), |(_, rest)| rest);
        after_host.rsplit_once(':').is_none_or(|(_, port)| port.parse::<u16>().is_ok_and(|p| p > 0))
    });
    if uri.scheme_str() != Some("http") || uri.host().is_none_or(str::is_empty) || uri.query().is_some() || !port_ok {
        return Err(refuse());
    }
    let base = endpoint.trim_end_matches('/');
    Ok(if base.ends_with("/v1/traces") { base.to_string() } else { format!("{base}/v1/traces") })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_traces_path_goes_under_the_base_url_once() {
        assert_eq!(traces_url("http://127.0.0.1:4318").unwrap(), "http://127.0.0.1:4318/v1/traces");
        assert_eq!(traces_url("http://collector:4318/").unwrap(), "http://collector:4318/v1/traces");
        assert_eq!(traces_url("http://c/otlp/v1/traces").unwrap(), "http://c/otlp/v1/traces");
        assert_eq!(traces_url("http://c/otlp").unwrap(), "http://c/otlp/v1/traces");
    }

    #[test]
    fn only_http_urls_are_endpoints() {
        for bad in ["", "127.0.0.1:4318", "grpc://c:4317", "http://", "http://c/?x=1", "http://c:99999", "http://c:0"] {
            let e = traces_url(bad).unwrap_err();
            assert!(e.to_string().contains("OTLP/HTTP"), "{bad}: {e}");
        }
        let tls = traces_url("https://collector:4318").unwrap_err().to_string();
        assert!(tls.contains("https is not built in"), "{tls}");
        let secret = traces_url("http://user:secret@collector:4318").unwrap_err().to_string();
        assert!(secret.contains("OTEL_EXPORTER_OTLP_HEADERS") && !secret.contains("secret"), "{secret}");
    }

    #[test]
    fn an_instance_is_named_by_its_type_in_span_names() {
        let mut attributes = Vec::new();
        assert_eq!(span_agent("account/alice", &mut attributes), "account");
        assert_eq!(attributes, [KeyValue::new("caxton.agent_type", "account")]);
        assert_eq!(span_agent("ticker", &mut attributes), "ticker");
        assert_eq!(attributes.len(), 1);
    }

    #[test]
    fn without_a_tracer_a_message_keeps_its_trace_context() {
        let mut msg = Message::new(crate::acl::Performative::Request, vec!["b".into()], String::new());
        msg.trace = Some(TraceContext { trace_id: [7; 16], parent_id: [9; 8], flags: 1 });
        let handling = Handling::message(None, "a", &msg);
        assert_eq!(handling.context_for_sends(msg.trace), msg.trace);
        assert_eq!(Handling::timer(None, "a", 1).context_for_sends(None), None);
        handling.finish(10, None);
    }
}
