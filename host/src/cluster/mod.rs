//! One society of agents across hosts, carried by NATS.
//!
//! A host started with `--cluster` connects to a NATS server (async-nats,
//! which reconnects on its own) and joins the cluster named by
//! `--cluster-name`. The bus keeps reaching its own agents in-process; for a
//! receiver it does not hold it asks this module ([`crate::bus::remote::Remote`]),
//! which knows from the hosts' heartbeats ([`presence`]) which host runs it
//! and hands the message to that host as a NATS request on
//! `caxton.CLUSTER.deliver.HOST`, in an envelope signed with the cluster key
//! ([`envelope`]). The receiving host verifies the envelope before anything
//! else, delivers to its local mailboxes with the bus's own rules, and
//! answers with the same typed outcome a local send gives ([`wire`]).
//!
//! Subjects (all under `caxton.CLUSTER.`):
//! - `deliver.HOST`: request-reply, a [`wire::Delivery`] answered by a [`wire::Outcome`].
//! - `presence`: every host's [`presence::Presence`], every [`presence::HEARTBEAT`] and on change.
//!
//! Deliveries to one host are handled one after another in arrival order, so
//! what one sender sends to one receiver arrives in the order sent.

pub mod envelope;
mod link;
pub mod presence;
pub mod wire;

use crate::acl::Message;
use crate::bus::directory::{Profile, Query};
use crate::bus::{Bus, BusError};
use envelope::{DropCounts, Dropped, Envelope, Replays, Seal, MAC_HEADER};
use presence::{HostSummary, View};
use serde::Serialize;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;
use wire::{Delivered, Delivery, Outcome};

/// Longest a send to another host waits for that host's answer (a shorter
/// reply-by shortens it).
pub const SEND_TIMEOUT: Duration = Duration::from_secs(5);
/// Longest a host waits for NATS when it starts.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// How a host authenticates to NATS.
#[derive(Debug, Clone)]
pub enum NatsAuth {
    /// No credentials.
    None,
    /// A token (from `--nats-token-file`).
    Token(String),
    /// A NATS credentials file (`--nats-creds`).
    Creds(PathBuf),
}

/// What a host needs to join a cluster.
#[derive(Debug, Clone)]
pub struct ClusterConfig {
    /// The NATS server, e.g. `nats://127.0.0.1:4222`.
    pub url: String,
    /// This host's id: unique in the cluster.
    pub host: String,
    /// The cluster's name (hosts of other clusters on the same NATS do not see each other).
    pub name: String,
    /// How to authenticate to NATS.
    pub auth: NatsAuth,
    /// The shared secret envelopes are signed with (at least [`envelope::MIN_KEY_BYTES`]).
    pub key: Vec<u8>,
}

/// Why a host could not join its cluster.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    /// A host id or cluster name that cannot be part of a NATS subject.
    #[error("the {what} `{value}` must be 1 to 64 of the characters a-z A-Z 0-9 - _")]
    BadName {
        /// Which name.
        what: &'static str,
        /// Its value.
        value: String,
    },
    /// The cluster key is too short to be a secret.
    #[error("the cluster key must be at least {min} bytes; it has {len} (e.g. `openssl rand -hex 32 > cluster.key`)", min = envelope::MIN_KEY_BYTES)]
    ShortKey {
        /// Its length.
        len: usize,
    },
    /// The credentials file could not be read.
    #[error("cannot read the NATS credentials `{path}`")]
    Creds {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// NATS could not be reached.
    #[error("cannot connect to NATS at `{url}`; is nats-server running there?")]
    Connect {
        /// The server.
        url: String,
        /// Why.
        #[source]
        source: async_nats::ConnectError,
    },
    /// A subscription failed.
    #[error("cannot subscribe to `{subject}` on NATS")]
    Subscribe {
        /// The subject.
        subject: String,
        /// Why.
        #[source]
        source: async_nats::SubscribeError,
    },
    /// The cluster must run on a multi-threaded tokio runtime (sends to other
    /// hosts wait for their answer on the blocking pool).
    #[error("the cluster needs the multi-threaded tokio runtime")]
    Runtime,
}

/// Whether `value` can name a host or a cluster (one NATS subject token).
fn valid_name(value: &str) -> bool {
    (1..=64).contains(&value.len()) && value.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// This host's membership of a cluster.
pub struct Cluster {
    name: String,
    host: String,
    client: async_nats::Client,
    seal: Seal,
    replays: Replays,
    dropped: DropCounts,
    view: View,
    bus: Weak<Bus>,
    runtime: tokio::runtime::Handle,
    tasks: Mutex<Vec<tokio::task::AbortHandle>>,
}

/// The cluster as `GET /v1/cluster` shows it.
#[derive(Debug, Serialize)]
pub struct ClusterSummary {
    /// The cluster's name.
    pub cluster: String,
    /// This host's id.
    pub host: String,
    /// Whether this host is connected to NATS now.
    pub connected: bool,
    /// This host, then the other hosts heard from within [`presence::HOST_TIMEOUT`].
    pub hosts: Vec<HostSummary>,
    /// Envelopes dropped unread, by reason.
    pub dropped: std::collections::BTreeMap<&'static str, u64>,
}

impl Cluster {
    /// Connect to NATS, start answering deliveries and heartbeats, and make
    /// `bus` route receivers it does not hold through the cluster.
    pub async fn join(config: ClusterConfig, bus: &Arc<Bus>) -> Result<Arc<Cluster>, ClusterError> {
        for (what, value) in [("host id", &config.host), ("cluster name", &config.name)] {
            if !valid_name(value) {
                return Err(ClusterError::BadName { what, value: value.clone() });
            }
        }
        if config.key.len() < envelope::MIN_KEY_BYTES {
            return Err(ClusterError::ShortKey { len: config.key.len() });
        }
        let runtime = tokio::runtime::Handle::current();
        if runtime.runtime_flavor() != tokio::runtime::RuntimeFlavor::MultiThread {
            return Err(ClusterError::Runtime);
        }
        let client = connect(&config).await?;
        let cluster = Arc::new(Cluster {
            seal: Seal::new(config.key, &config.host),
            name: config.name,
            host: config.host,
            client,
            replays: Replays::default(),
            dropped: DropCounts::default(),
            view: View::default(),
            bus: Arc::downgrade(bus),
            runtime,
            tasks: Mutex::new(Vec::new()),
        });
        link::start(&cluster).await?;
        bus.join(cluster.clone());
        Ok(cluster)
    }

    fn subject(&self, rest: &str) -> String {
        format!("caxton.{}.{rest}", self.name)
    }

    /// Whether this host is connected to NATS now.
    pub fn connected(&self) -> bool {
        self.client.connection_state() == async_nats::connection::State::Connected
    }

    /// The cluster as this host sees it.
    pub fn summary(&self) -> ClusterSummary {
        let agents = self.bus.upgrade().map(|b| b.local_directory().into_iter().map(|(n, _)| n).collect());
        let this = HostSummary {
            host: self.host.clone(),
            state: "this host",
            boot: self.seal.boot().to_string(),
            agents: agents.unwrap_or_default(),
            last_heartbeat_ms_ago: 0,
        };
        ClusterSummary {
            cluster: self.name.clone(),
            host: self.host.clone(),
            connected: self.connected(),
            hosts: std::iter::once(this).chain(self.view.hosts()).collect(),
            dropped: self.dropped.counts().into_iter().map(|(why, n)| (why.as_str(), n)).collect(),
        }
    }

    /// Envelopes dropped unread, by reason.
    pub fn dropped(&self) -> Vec<(Dropped, u64)> {
        self.dropped.counts()
    }

    /// Tell the other hosts this one is leaving, and stop its tasks.
    pub async fn leave(&self) {
        link::leave(self).await;
        for task in self.tasks.lock().unwrap_or_else(|p| p.into_inner()).drain(..) {
            task.abort();
        }
    }

    /// Open an envelope received on `subject`, checking it for replays.
    fn open<B: serde::de::DeserializeOwned>(&self, msg: &async_nats::Message) -> Result<Envelope<B>, Dropped> {
        let mac = msg.headers.as_ref().and_then(|h| h.get(MAC_HEADER)).map(|v| v.as_str());
        let envelope: Envelope<B> = self.seal.open(msg.subject.as_str(), &msg.payload, mac)?;
        if !self.replays.accept(&envelope.host, &envelope.boot, envelope.seq) {
            return Err(Dropped::Replayed);
        }
        Ok(envelope)
    }

    /// Seal `body` for `subject` as a NATS payload and headers, with its sequence number.
    fn seal<B: Serialize>(&self, subject: &str, body: B) -> (bytes::Bytes, async_nats::HeaderMap, u64) {
        let (payload, mac, seq) = self.seal.seal(subject, body);
        let mut headers = async_nats::HeaderMap::new();
        headers.insert(MAC_HEADER, mac.as_str());
        (payload.into(), headers, seq)
    }

    /// Ask `host` to deliver `delivery`; its answer, or `None` when it did not
    /// answer within `timeout` (or answered with something that does not open).
    fn request(&self, host: &str, delivery: Delivery, timeout: Duration) -> Option<Delivered> {
        let subject = self.subject(&format!("deliver.{host}"));
        let (payload, headers, seq) = self.seal(&subject, delivery);
        let request = async_nats::Request::new().payload(payload).headers(headers).timeout(Some(timeout));
        // the sending thread drives the request itself: no task to spawn, one wake-up fewer
        let answer = wait_here(|| self.runtime.block_on(self.client.send_request(subject, request)));
        let reply = answer.ok()?;
        let mac = reply.headers.as_ref().and_then(|h| h.get(MAC_HEADER)).map(|v| v.as_str());
        match self.seal.open::<Outcome>(reply.subject.as_str(), &reply.payload, mac) {
            Ok(outcome) if outcome.host == host && outcome.body.re == seq => Some(outcome.body.result),
            Ok(_) => {
                self.dropped.count(Dropped::Malformed);
                None
            }
            Err(why) => {
                self.dropped.count(why);
                None
            }
        }
    }
}

/// Run `f`, which blocks this thread, letting the scheduler or tokio run other work meanwhile.
fn wait_here<R>(f: impl FnOnce() -> R) -> R {
    crate::blocking::wait(|| match tokio::runtime::Handle::try_current() {
        Ok(h) if h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => tokio::task::block_in_place(f),
        _ => f(),
    })
}

async fn connect(config: &ClusterConfig) -> Result<async_nats::Client, ClusterError> {
    let options = async_nats::ConnectOptions::new()
        .name(format!("caxton-{}", config.host))
        .connection_timeout(CONNECT_TIMEOUT)
        .max_reconnects(None)
        .event_callback(|event| async move {
            match event {
                async_nats::Event::Connected => tracing::info!("connected to NATS"),
                async_nats::Event::Disconnected => tracing::warn!("lost NATS; cross-host sends fail until it is back"),
                other => tracing::debug!("NATS: {other}"),
            }
        });
    let options = match &config.auth {
        NatsAuth::None => options,
        NatsAuth::Token(token) => options.token(token.clone()),
        NatsAuth::Creds(path) => {
            options.credentials_file(path).await.map_err(|source| ClusterError::Creds { path: path.clone(), source })?
        }
    };
    options
        .connect(config.url.as_str())
        .await
        .map_err(|source| ClusterError::Connect { url: config.url.clone(), source })
}

impl crate::bus::remote::Remote for Cluster {
    fn host_id(&self) -> &str {
        &self.host
    }

    fn host_of(&self, agent: &str) -> Option<String> {
        self.view.host_of(agent)
    }

    fn forward(&self, host: &str, msg: &Message, receivers: &[String]) -> Result<(), BusError> {
        let first = receivers.first().cloned().unwrap_or_default();
        let unreachable = || BusError::HostUnreachable { agent: first.clone(), host: host.to_string() };
        if !self.connected() {
            return Err(unreachable());
        }
        let timeout = match msg.reply_by {
            Some(by) => {
                let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
                SEND_TIMEOUT.min(Duration::from_millis(by.saturating_sub(now.as_millis() as u64)).max(MIN_WAIT))
            }
            None => SEND_TIMEOUT,
        };
        let delivery = Delivery { receivers: receivers.to_vec(), message: msg.into() };
        match self.request(host, delivery, timeout).ok_or_else(unreachable)? {
            Delivered::Delivered => Ok(()),
            Delivered::MailboxFull(agent) => Err(BusError::MailboxFull(agent)),
            Delivered::NoSuchAgent(agent) => Err(BusError::NoSuchAgent(agent)),
            Delivered::Refused(why) => {
                tracing::warn!(host, "host refused a message: {why}");
                Err(BusError::NoSuchAgent(first))
            }
        }
    }

    fn search(&self, query: &Query) -> Vec<(String, Profile)> {
        self.view.search(query)
    }

    fn subscribers(&self, topic: &str) -> Vec<String> {
        self.view.subscribers(topic)
    }
}

/// The shortest wait for another host's answer, even when the reply-by is closer.
const MIN_WAIT: Duration = Duration::from_millis(50);
