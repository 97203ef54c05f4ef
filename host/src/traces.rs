//! OpenTelemetry traces: the span each handled message or timer gets, and the
//! OTLP/HTTP export behind `caxton serve --otlp-endpoint URL`.
//!
//! Every event an agent handles is one span (target [`TARGET`]), whose parent
//! is the span that sent the message: the message's W3C trace context (see
//! [`crate::acl::trace`]). What the agent sends while handling it carries this
//! span's context, so a conversation's messages form one trace across agents
//! and hosts; a message without a trace context (and every timer) starts a
//! trace. Attributes: `caxton.agent`, `fipa.performative`, `fipa.sender`,
//! `fipa.conversation_id`, `fipa.protocol`, `caxton.timer_id`, and once handled
//! `caxton.fuel` (units burned), `caxton.outcome` (`handled` or `failed`) and
//! `caxton.failure_reason` (the wire string of the failure).
//!
//! The spans are `tracing` spans, turned into OpenTelemetry spans by
//! `tracing-opentelemetry` and exported in batches by `opentelemetry-otlp`
//! (a well-kept exporter every collector speaks to, where ours would be
//! guesswork about the protocol). Without an exporter no subscriber enables
//! [`TARGET`], so a handled event pays one cached callsite check and the
//! message's trace context passes through unchanged.

use crate::acl::trace::TraceContext;
use crate::acl::Message;
use opentelemetry::trace::{SpanContext, SpanId, TraceContextExt, TraceFlags, TraceId, TraceState, TracerProvider};
use opentelemetry::KeyValue;
use std::time::Duration;
use tracing_opentelemetry::OpenTelemetrySpanExt;

/// The `tracing` target of handling spans; only the trace exporter enables it.
pub const TARGET: &str = "caxton::handling";

/// The span of one event an agent handles; ends when dropped.
pub struct Handling(tracing::Span);

impl Handling {
    /// The span of `agent` handling `msg`, a child of the span that sent it.
    pub fn message(agent: &str, msg: &Message) -> Handling {
        let span = tracing::info_span!(
            target: TARGET,
            "handle-message",
            otel.name = %format_args!("{agent}: {}", msg.performative),
            otel.kind = "consumer",
            caxton.agent = agent,
            fipa.performative = msg.performative.as_str(),
            fipa.sender = msg.sender.as_str(),
            fipa.conversation_id = msg.conversation_id.as_deref(),
            fipa.protocol = msg.protocol.as_deref(),
            caxton.fuel = tracing::field::Empty,
            caxton.outcome = tracing::field::Empty,
            caxton.failure_reason = tracing::field::Empty,
            otel.status_code = tracing::field::Empty,
        );
        if let (false, Some(parent)) = (span.is_disabled(), msg.trace) {
            // fails only when the span is disabled, which was just ruled out
            let _ = span.set_parent(opentelemetry::Context::new().with_remote_span_context(remote(parent)));
        }
        Handling(span)
    }

    /// The span of `agent` handling its timer `id`: the start of a trace.
    pub fn timer(agent: &str, id: u64) -> Handling {
        Handling(tracing::info_span!(
            target: TARGET,
            "handle-timer",
            otel.name = %format_args!("{agent}: timer"),
            otel.kind = "consumer",
            caxton.agent = agent,
            caxton.timer_id = id,
            caxton.fuel = tracing::field::Empty,
            caxton.outcome = tracing::field::Empty,
            caxton.failure_reason = tracing::field::Empty,
            otel.status_code = tracing::field::Empty,
        ))
    }

    /// The trace context of what the agent sends while handling: this span,
    /// or (spans off) the handled message's own context unchanged.
    pub fn context_for_sends(&self, handled: Option<TraceContext>) -> Option<TraceContext> {
        if self.0.is_disabled() {
            return handled;
        }
        let context = self.0.context();
        let span = context.span();
        let span = span.span_context();
        span.is_valid().then(|| TraceContext {
            trace_id: span.trace_id().to_bytes(),
            parent_id: span.span_id().to_bytes(),
            flags: span.trace_flags().to_u8(),
        })
    }

    /// Record how the handling ended: the fuel it burned and, if it failed,
    /// the failure's wire reason; the span ends with `self`.
    pub fn finish(self, fuel: u64, failure: Option<&'static str>) {
        let span = &self.0;
        if span.is_disabled() {
            return;
        }
        span.record("caxton.fuel", fuel);
        match failure {
            None => {
                span.record("caxton.outcome", "handled");
            }
            Some(reason) => {
                span.record("caxton.outcome", "failed");
                span.record("caxton.failure_reason", reason);
                span.record("otel.status_code", "ERROR");
            }
        }
    }
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
    /// `…/v1/traces` URL), naming this process `service.name = caxton` with
    /// `service.instance.id = instance` (the host id in a cluster).
    ///
    /// Errors: [`TraceExportError`] when `endpoint` is not an `http://` URL.
    /// Nothing is sent yet; a collector that is down costs dropped batches,
    /// reported in the log, never an error here.
    pub fn start(endpoint: &str, instance: &str) -> Result<TraceExport, TraceExportError> {
        use opentelemetry_otlp::WithExportConfig;
        let endpoint = traces_url(endpoint)?;
        let exporter = opentelemetry_otlp::SpanExporter::builder()
            .with_http()
            .with_endpoint(endpoint.clone())
            .with_timeout(Duration::from_secs(10))
            .build()
            .map_err(|source| TraceExportError::Exporter { endpoint: endpoint.clone(), source })?;
        let resource = opentelemetry_sdk::Resource::builder()
            .with_service_name("caxton")
            .with_attribute(KeyValue::new("service.instance.id", instance.to_string()))
            .with_attribute(KeyValue::new("service.version", env!("CARGO_PKG_VERSION")))
            .build();
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

    /// The `tracing` layer that turns handling spans into exported spans;
    /// add it to the subscriber filtered to [`TARGET`].
    pub fn layer<S>(&self) -> impl tracing_subscriber::Layer<S> + use<S>
    where
        S: tracing::Subscriber + for<'span> tracing_subscriber::registry::LookupSpan<'span>,
    {
        tracing_opentelemetry::layer()
            .with_tracer(self.provider.tracer("caxton"))
            .with_tracked_inactivity(false)
            .with_threads(false)
            .with_location(false)
            .with_target(false)
            .with_level(false)
    }

    /// Send what is queued and stop (blocks up to the export timeout).
    pub fn shutdown(self) {
        if let Err(e) = self.provider.shutdown() {
            tracing::warn!("traces not all exported to {}: {e}", self.endpoint);
        }
    }
}

/// The traces URL of an OTLP/HTTP endpoint: `/v1/traces` under the base URL
/// (as `OTEL_EXPORTER_OTLP_ENDPOINT` is read), unless it names that path.
fn traces_url(endpoint: &str) -> Result<String, TraceExportError> {
    let refuse = || TraceExportError::NotAnEndpoint(endpoint.chars().take(200).collect());
    let uri: hyper::Uri = endpoint.parse().map_err(|_| refuse())?;
    if uri.scheme_str() != Some("http") || uri.host().is_none_or(str::is_empty) || uri.query().is_some() {
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
        for bad in ["", "127.0.0.1:4318", "https://collector:4318", "grpc://c:4317", "http://", "http://c/?x=1"] {
            let e = traces_url(bad).unwrap_err();
            assert!(e.to_string().contains("OTLP/HTTP"), "{bad}: {e}");
        }
    }

    #[test]
    fn without_an_exporter_a_message_keeps_its_trace_context() {
        let mut msg = Message::new(crate::acl::Performative::Request, vec!["b".into()], String::new());
        msg.trace = Some(TraceContext { trace_id: [7; 16], parent_id: [9; 8], flags: 1 });
        let handling = Handling::message("a", &msg);
        assert_eq!(handling.context_for_sends(msg.trace), msg.trace);
        assert_eq!(Handling::timer("a", 1).context_for_sends(None), None);
        handling.finish(10, None);
    }
}
