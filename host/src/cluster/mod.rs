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
//! - `outcome.HOST`: the answers and credit grants ([`flow`]) other hosts send HOST.
//!
//! A host sends all its envelopes through one queue ([`Outgoing`]) on one
//! connection, and handles the deliveries it receives one after another in
//! arrival order, so what one sender sends to one receiver arrives in the
//! order sent. A send spends a credit and goes at once when the receiving
//! host reserved slots for this one ([`flow`]), and otherwise waits for its
//! answer.

pub mod envelope;
pub mod flow;
mod link;
pub mod presence;
pub mod wire;

use crate::acl::Message;
use crate::bus::directory::{Profile, Query};
use crate::bus::{Bus, BusError};
use envelope::{DropCounts, Dropped, Envelope, Replays, Seal, MAC_HEADER};
use presence::{HostSummary, View};
use serde::Serialize;
use std::collections::HashMap;
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
    credits: flow::Credits,
    grants: flow::Grants,
    bus: Weak<Bus>,
    /// Envelopes to publish, in order.
    outbox: tokio::sync::mpsc::UnboundedSender<Outgoing>,
    /// Deliveries waiting for their answer, by sequence number, with the host asked.
    pending: Mutex<HashMap<u64, (String, std::sync::mpsc::SyncSender<Delivered>)>>,
    /// Set when this host leaves: sends to other hosts fail from then on.
    leaving: std::sync::atomic::AtomicBool,
    tasks: Mutex<Vec<tokio::task::AbortHandle>>,
}

/// What the publishing task takes, in order.
enum Outgoing {
    /// An envelope for NATS.
    Envelope { subject: String, payload: bytes::Bytes, headers: async_nats::HeaderMap },
    /// Say when everything queued before has been handed to NATS.
    Drained(tokio::sync::oneshot::Sender<()>),
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
        if tokio::runtime::Handle::current().runtime_flavor() != tokio::runtime::RuntimeFlavor::MultiThread {
            return Err(ClusterError::Runtime);
        }
        let client = connect(&config).await?;
        let (outbox, queued) = tokio::sync::mpsc::unbounded_channel();
        let cluster = Arc::new(Cluster {
            seal: Seal::new(config.key, &config.host),
            name: config.name,
            host: config.host,
            client,
            replays: Replays::default(),
            dropped: DropCounts::default(),
            view: View::default(),
            credits: flow::Credits::default(),
            grants: flow::Grants::default(),
            bus: Arc::downgrade(bus),
            outbox,
            pending: Mutex::new(HashMap::new()),
            leaving: std::sync::atomic::AtomicBool::new(false),
            tasks: Mutex::new(Vec::new()),
        });
        link::start(&cluster, queued).await?;
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

    /// How many other hosts this host has heard from within [`presence::HOST_TIMEOUT`].
    pub fn other_hosts(&self) -> usize {
        self.view.len()
    }

    /// Envelopes dropped unread, by reason.
    pub fn dropped(&self) -> Vec<(Dropped, u64)> {
        self.dropped.counts()
    }

    /// Leave the cluster: sends to other hosts fail from now on, what was
    /// queued goes out, the others are told, the tasks stop, and the mailbox
    /// slots reserved for other hosts are given back (agents can then drain).
    pub async fn leave(&self) {
        self.leaving.store(true, std::sync::atomic::Ordering::SeqCst);
        self.grants.close();
        let (drained, sent) = tokio::sync::oneshot::channel();
        if self.outbox.send(Outgoing::Drained(drained)).is_ok() {
            let _ = tokio::time::timeout(Duration::from_secs(2), sent).await;
        }
        link::leave(self).await;
        for task in self.tasks.lock().unwrap_or_else(|p| p.into_inner()).drain(..) {
            task.abort();
        }
        self.grants.close();
    }

    /// Open an envelope received on `subject`, checking it for replays.
    fn open<B: serde::de::DeserializeOwned>(&self, msg: &async_nats::Message) -> Result<Envelope<B>, Dropped> {
        let mac = msg.headers.as_ref().and_then(|h| h.get(MAC_HEADER)).map(|v| v.as_str());
        let envelope: Envelope<B> = self.seal.open(msg.subject.as_str(), &msg.payload, mac)?;
        if !self.replays.accept(&envelope.boot, envelope.seq) {
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

    /// Queue a delivery of `msg` to `receivers` on `host`; with `answer`,
    /// the outcome is sent there (the other host answers on this host's
    /// `outcome` subject, never on a subject the envelope does not sign).
    fn post(
        &self,
        host: &str,
        (msg, receivers, credited): (&Message, &[String], bool),
        answer: Option<std::sync::mpsc::SyncSender<Delivered>>,
    ) -> u64 {
        let subject = self.subject(&format!("deliver.{host}"));
        let delivery = Delivery {
            receivers: receivers.to_vec(),
            message: msg.clone(),
            credited,
            answer: answer.is_some(),
            to_boot: self.view.boot_of(host),
        };
        let (payload, headers, seq) = self.seal(&subject, delivery);
        if let Some(tx) = answer {
            self.pending.lock().unwrap_or_else(|p| p.into_inner()).insert(seq, (host.to_string(), tx));
        }
        let _ = self.outbox.send(Outgoing::Envelope { subject, payload, headers });
        seq
    }

    /// Ask `host` to deliver `delivery` and wait for its answer; `None` when
    /// none came within `timeout`.
    fn ask(&self, host: &str, delivery: (&Message, &[String], bool), timeout: Duration) -> Option<Delivered> {
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        let seq = self.post(host, delivery, Some(tx));
        let answer = wait_here(|| rx.recv_timeout(timeout));
        self.pending.lock().unwrap_or_else(|p| p.into_inner()).remove(&seq);
        answer.ok()
    }

    /// Take `outcome` from `host` (boot `boot`): its grants, and the answer a
    /// send waits for. One meant for an earlier boot of this host is a replay.
    fn answered(&self, host: &str, boot: &str, outcome: Outcome) -> Result<(), Dropped> {
        if outcome.to_boot != self.seal.boot() {
            return Err(Dropped::Replayed);
        }
        // grants of a boot the view has moved past are stale
        let current = self.view.boot_of(host).is_none_or(|b| b == boot);
        if !outcome.grants.is_empty() && current {
            self.credits.grant(host, boot, &outcome.grants);
        }
        if outcome.re == 0 {
            return Ok(());
        }
        let mut pending = self.pending.lock().unwrap_or_else(|p| p.into_inner());
        if pending.get(&outcome.re).is_some_and(|(asked, _)| asked == host) {
            if let Some((_, tx)) = pending.remove(&outcome.re) {
                let _ = tx.send(outcome.result);
            }
        }
        Ok(())
    }

    /// `host` left, or came back with a new boot: its credits and the slots reserved for it go.
    fn forget_host(&self, host: &str) {
        self.credits.forget(host);
        self.grants.forget(host);
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
        if !self.connected() || self.leaving.load(std::sync::atomic::Ordering::SeqCst) {
            return Err(unreachable());
        }
        let timeout = match msg.reply_by {
            Some(by) => {
                let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
                SEND_TIMEOUT.min(Duration::from_millis(by.saturating_sub(now.as_millis() as u64)).max(MIN_WAIT))
            }
            None => SEND_TIMEOUT,
        };
        // agents take a mailbox slot; a waiting party (a reply to a client) takes none
        let agents: Vec<String> = receivers.iter().filter(|r| self.view.host_of(r).is_some()).cloned().collect();
        if self.credits.spend(host, &agents) {
            self.post(host, (msg, receivers, true), None);
            return Ok(());
        }
        match self.ask(host, (msg, receivers, false), timeout).ok_or_else(unreachable)? {
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
