//! The route table and dispatch: every request is matched to a route, checked
//! for its token when the route is an admin route, then handled.

use super::reply::{error, ApiError, Reply};
use super::{agents, auth, conversations, events, messages, observe, ui, upload, ApiState};
use bytes::Bytes;
use http_body_util::{Either, Full};
use hyper::body::Incoming;
use hyper::header::{HeaderValue, ALLOW};
use hyper::{Method, Request, Response, StatusCode};
use std::convert::Infallible;
use std::sync::Arc;

/// Every route and its methods. The OpenAPI document is built from the same
/// table, and a test checks that each entry answers.
pub const ROUTES: &[(&str, &[&str])] = &[
    ("/", &["GET"]),
    ("/healthz", &["GET"]),
    ("/metrics", &["GET"]),
    ("/v1/openapi.json", &["GET"]),
    ("/v1/agents", &["GET", "POST"]),
    ("/v1/agents/{name}", &["GET", "DELETE"]),
    ("/v1/agents/{name}/logs", &["GET"]),
    ("/v1/agents/{type}/{key}", &["GET", "DELETE"]),
    ("/v1/agent-types", &["GET"]),
    ("/v1/components", &["POST"]),
    ("/v1/messages", &["POST"]),
    ("/v1/directory", &["GET"]),
    ("/v1/dead-letters", &["GET"]),
    ("/v1/conversations", &["GET"]),
    ("/v1/conversations/{id}", &["GET"]),
    ("/v1/cluster", &["GET"]),
    ("/v1/events", &["GET"]),
    ("/ui", &["GET"]),
    ("/ui/{asset}", &["GET"]),
];

/// What every route answers with: a whole body, or an event stream.
pub type ApiBody = Either<Full<Bytes>, events::EventBody>;

/// A matched route; `Agent` carries the name from the path.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Route {
    /// `/`: sends a browser on to the dashboard.
    Root,
    Health,
    Metrics,
    OpenApi,
    Agents,
    Agent(String),
    /// `/v1/agents/{name}/logs` (or `{type}/{key}/logs`); see [`Route::resolve`].
    Logs(String),
    Instance(String),
    AgentTypes,
    Components,
    Messages,
    Directory,
    DeadLetters,
    Conversations,
    Conversation(String),
    Cluster,
    Events,
    /// The dashboard: its page (`""`) or one of its files.
    Ui(String),
}

impl Route {
    fn of(path: &str) -> Option<Route> {
        Some(match path {
            "/" => Route::Root,
            "/healthz" => Route::Health,
            "/metrics" => Route::Metrics,
            "/v1/openapi.json" => Route::OpenApi,
            "/v1/agents" => Route::Agents,
            "/v1/agent-types" => Route::AgentTypes,
            "/v1/components" => Route::Components,
            "/v1/messages" => Route::Messages,
            "/v1/directory" => Route::Directory,
            "/v1/dead-letters" => Route::DeadLetters,
            "/v1/conversations" => Route::Conversations,
            "/v1/cluster" => Route::Cluster,
            "/v1/events" => Route::Events,
            "/ui" | "/ui/" => Route::Ui(String::new()),
            _ if path.starts_with("/ui/") => Route::Ui(path.strip_prefix("/ui/").unwrap_or_default().to_string()),
            _ if path.starts_with("/v1/conversations/") => {
                let id = path.strip_prefix("/v1/conversations/").filter(|id| !id.is_empty() && !id.contains('/'))?;
                Route::Conversation(super::reply::percent_decode(id))
            }
            _ => {
                let name = path.strip_prefix("/v1/agents/").filter(|n| !n.is_empty())?;
                if let Some(agent) = name.strip_suffix("/logs").filter(|a| {
                    let segments: Vec<&str> = a.split('/').collect();
                    segments.len() <= 2 && segments.iter().all(|s| !s.is_empty())
                }) {
                    return Some(Route::Logs(
                        agent.split('/').map(super::reply::percent_decode).collect::<Vec<_>>().join("/"),
                    ));
                }
                match name.split_once('/') {
                    None => Route::Agent(super::reply::percent_decode(name)),
                    Some((t, k)) if !t.is_empty() && !k.is_empty() && !k.contains('/') => Route::Instance(format!(
                        "{}/{}",
                        super::reply::percent_decode(t),
                        super::reply::percent_decode(k)
                    )),
                    Some(_) => return None,
                }
            }
        })
    }

    /// The table entry this route belongs to.
    fn pattern(&self) -> &'static str {
        match self {
            Route::Root => "/",
            Route::Health => "/healthz",
            Route::Metrics => "/metrics",
            Route::OpenApi => "/v1/openapi.json",
            Route::Agents => "/v1/agents",
            Route::Agent(_) => "/v1/agents/{name}",
            Route::Logs(_) => "/v1/agents/{name}/logs",
            Route::Instance(_) => "/v1/agents/{type}/{key}",
            Route::AgentTypes => "/v1/agent-types",
            Route::Components => "/v1/components",
            Route::Messages => "/v1/messages",
            Route::Directory => "/v1/directory",
            Route::DeadLetters => "/v1/dead-letters",
            Route::Conversations => "/v1/conversations",
            Route::Conversation(_) => "/v1/conversations/{id}",
            Route::Cluster => "/v1/cluster",
            Route::Events => "/v1/events",
            Route::Ui(name) if name.is_empty() => "/ui",
            Route::Ui(_) => "/ui/{asset}",
        }
    }

    /// Whether the route needs the token (everything but health, the API
    /// description and the dashboard's files, which hold no data, and `/`).
    fn is_admin(&self) -> bool {
        !matches!(self, Route::Root | Route::Health | Route::OpenApi | Route::Ui(_))
    }

    /// `/v1/agents/{type}/logs` is the instance whose key is `logs` when
    /// `{type}` is a deployed agent type (agent and type names never clash).
    fn resolve(self, state: &ApiState) -> Route {
        match self {
            Route::Logs(name) if !name.contains('/') && state.platform.runtime.is_agent_type(&name) => {
                Route::Instance(format!("{name}/logs"))
            }
            route => route,
        }
    }
}

/// Dispatch one request.
pub async fn handle(state: Arc<ApiState>, req: Request<Incoming>) -> Result<Response<ApiBody>, Infallible> {
    Ok(dispatch(&state, req).await.unwrap_or_else(|e| e.into_reply().map(Either::Left)))
}

async fn dispatch(state: &ApiState, req: Request<Incoming>) -> Result<Response<ApiBody>, ApiError> {
    let path = req.uri().path().to_string();
    let Some(route) = Route::of(&path) else {
        return Err(error(StatusCode::NOT_FOUND, "not-found", &format!("no route for `{path}`")));
    };
    if route.is_admin() {
        if let Some(token) = &state.token {
            if !auth::authorized(req.headers(), token) {
                return Err(error(
                    StatusCode::UNAUTHORIZED,
                    "unauthorized",
                    "this route needs the header `Authorization: Bearer <token>` with the server's token",
                ));
            }
        }
    }
    let method = req.method().clone();
    super::cross_site::check(&method, &path, req.headers(), state.loopback_only)?;
    let query = req.uri().query().map(str::to_string);
    if let (&Method::GET, Route::Events) = (&method, &route) {
        return Ok(events::stream(state, query.as_deref())?.map(Either::Right));
    }
    let reply = answer(state, req, route.resolve(state), (&path, &method), query.as_deref()).await?;
    Ok(reply.map(Either::Left))
}

/// The whole answer to a request for `route`.
async fn answer(
    state: &ApiState,
    req: Request<Incoming>,
    route: Route,
    (path, method): (&str, &Method),
    query: Option<&str>,
) -> Result<Reply, ApiError> {
    let query = query.map(str::to_string);
    match (method, route) {
        (&Method::GET, Route::Health) => Ok(observe::health(state)),
        (&Method::GET, Route::Metrics) => Ok(observe::metrics(state)),
        (&Method::GET, Route::OpenApi) => Ok(super::reply::json_reply(StatusCode::OK, &super::openapi::document())),
        (&Method::GET, Route::Agents) => agents::list(state, query.as_deref()),
        (&Method::GET, Route::AgentTypes) => Ok(agents::types(state)),
        (&Method::POST, Route::Agents) => agents::deploy(state, req).await,
        (&Method::GET, Route::Agent(name)) => agents::get(state, &name),
        (&Method::GET, Route::Logs(name)) => events::logs(state, &name, query.as_deref()),
        (&Method::DELETE, Route::Agent(name)) => agents::remove(state, &name, query.as_deref()).await,
        (&Method::GET, Route::Instance(name)) => agents::get_instance(state, &name),
        (&Method::DELETE, Route::Instance(name)) => agents::purge_instance(state, &name, query.as_deref()).await,
        (&Method::POST, Route::Components) => upload::upload(state, req).await,
        (&Method::POST, Route::Messages) => messages::post(state, req).await,
        (&Method::GET, Route::Directory) => Ok(observe::directory(state, query.as_deref())),
        (&Method::GET, Route::DeadLetters) => Ok(observe::dead_letters(state)),
        (&Method::GET, Route::Conversations) => conversations::list(state, query.as_deref()),
        (&Method::GET, Route::Conversation(id)) => conversations::get(state, &id),
        (&Method::GET, Route::Cluster) => Ok(observe::cluster(state)),
        (&Method::GET, Route::Ui(name)) => ui::asset(&name),
        (&Method::GET, Route::Root) => Ok(ui::to_dashboard()),
        (_, route) => {
            let allowed = ROUTES.iter().find(|(p, _)| *p == route.pattern()).map_or(&[][..], |(_, m)| m).join(", ");
            let mut reply = error(
                StatusCode::METHOD_NOT_ALLOWED,
                "method-not-allowed",
                &format!("`{path}` accepts {allowed}, not {method}"),
            )
            .into_reply();
            if let Ok(value) = HeaderValue::from_str(&allowed) {
                reply.headers_mut().insert(ALLOW, value);
            }
            Ok(reply)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_table_entry_is_a_route_and_back() {
        for (pattern, _) in ROUTES {
            let path = pattern.replace("{name}", "some-agent").replace("{asset}", "app.js");
            let route = Route::of(&path).unwrap_or_else(|| panic!("{pattern} has no route"));
            assert_eq!(route.pattern(), *pattern);
        }
        assert_eq!(Route::of("/v1/agents/a%20b"), Some(Route::Agent("a b".into())));
        assert_eq!(Route::of("/v1/agents/"), None);
        assert_eq!(Route::of("/v1/agents/a/b"), Some(Route::Instance("a/b".into())));
        assert_eq!(
            Route::of("/v1/agents/account/alice%40example.com"),
            Some(Route::Instance("account/alice@example.com".into()))
        );
        assert_eq!(Route::of("/v1/agents/a/b/c"), None);
        assert_eq!(Route::of("/v1/agents/a/"), None);
        assert_eq!(Route::of("/v2/agents"), None);
        assert_eq!(Route::of("/v1/conversations/conv-1"), Some(Route::Conversation("conv-1".into())));
        assert_eq!(Route::of("/v1/conversations/a/b"), None);
        assert_eq!(Route::of("/v1/agents/a/logs"), Some(Route::Logs("a".into())));
        assert_eq!(Route::of("/v1/agents/account/alice/logs"), Some(Route::Logs("account/alice".into())));
        assert_eq!(Route::of("/v1/agents/a//logs"), None);
        assert_eq!(Route::of("/v1/agents/a/b/c/logs"), None);
        assert_eq!(Route::of("/v1/events"), Some(Route::Events));
    }
}
