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
//! - `deliver.HOST`: batches of [`wire::Delivery`] for HOST's agents.
//! - `outcome.HOST`: the answers and credit grants ([`flow`]) other hosts send HOST ([`wire::Outcome`]).
//! - `presence`: every host's [`presence::Presence`], every [`presence::HEARTBEAT`] and on change.
//!
//! A host sends all its deliveries through one queue ([`Outgoing`]) on one
//! connection; what has queued up for one host while the last envelope went
//! out goes in the next envelope together, as many as fit NATS's max payload
//! (so a busy host sends few large envelopes and an idle one sends each
//! message at once). A host handles the deliveries it receives one after
//! another in arrival order, so what one sender sends to one receiver
//! arrives in the order sent. A send spends a credit and goes at once when the receiving
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
use wire::{Delivered, Outcome};

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
    /// The last id a delivery that waits for its answer was given.
    asks: std::sync::atomic::AtomicU64,
    /// Deliveries waiting for their answer, by id, with the host asked.
    pending: Mutex<HashMap<u64, (String, std::sync::mpsc::SyncSender<Delivered>)>>,
    /// Set when this host leaves: sends to other hosts fail from then on.
    leaving: std::sync::atomic::AtomicBool,
    tasks: Mutex<Vec<tokio::task::AbortHandle>>,
}

/// What the publishing task takes, in order.
enum Outgoing {
    /// A delivery for `host`: its [`wire::DeliveryHead`] and its message, each in postcard.
    Delivery { host: String, head: Vec<u8>, message: Vec<u8> },
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
            asks: std::sync::atomic::AtomicU64::new(0),
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
        let bus = self.bus.upgrade();
        let this = HostSummary {
            host: self.host.clone(),
            state: "this host",
            boot: self.seal.boot().to_string(),
            agents: bus.as_ref().map(|b| b.local_agent_names()).unwrap_or_default(),
            types: bus.as_ref().map(|b| b.local_types()).unwrap_or_default(),
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
    fn seal(&self, subject: &str, body: &impl Serialize) -> (bytes::Bytes, async_nats::HeaderMap, u64) {
        with_mac(self.seal.seal(subject, body))
    }

    /// `msg` in postcard, when a delivery of it to `receivers` on `host`
    /// fits in NATS's max payload with room for its envelope; else [`BusError::TooLarge`].
    fn pack(&self, host: &str, msg: &Message, receivers: &[String]) -> Result<Vec<u8>, BusError> {
        // postcard fails only on types it cannot write (maps of unknown length): a message has none
        let message = postcard::to_allocvec(msg).unwrap_or_default();
        let bytes = message.len() + receivers.iter().map(|r| r.len() + 2).sum::<usize>() + ENVELOPE_BYTES;
        let max = self.client.max_payload();
        if bytes > max {
            let agent = receivers.first().cloned().unwrap_or_default();
            return Err(BusError::TooLarge { agent, host: host.to_string(), bytes, max });
        }
        Ok(message)
    }

    /// Queue a delivery of `message` (from [`Cluster::pack`]) to `receivers`
    /// on `host`; with `answer`, the outcome is sent there (the other host
    /// answers on this host's `outcome` subject, never on a subject the
    /// envelope does not sign). Returns the delivery's ask id (0 without `answer`).
    fn post(
        &self,
        host: &str,
        (message, receivers, credited): (Vec<u8>, &[String], bool),
        answer: Option<std::sync::mpsc::SyncSender<Delivered>>,
    ) -> u64 {
        let ask = answer.map(|tx| {
            let id = self.asks.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
            self.pending.lock().unwrap_or_else(|p| p.into_inner()).insert(id, (host.to_string(), tx));
            id
        });
        let head = wire::DeliveryHead { receivers, credited, ask, to_boot: self.view.boot_of(host) };
        let head = postcard::to_allocvec(&head).unwrap_or_default();
        let _ = self.outbox.send(Outgoing::Delivery { host: host.to_string(), head, message });
        ask.unwrap_or(0)
    }

    /// Ask `host` to deliver `delivery` and wait for its answer; `None` when
    /// none came within `timeout`.
    fn ask(&self, host: &str, delivery: (Vec<u8>, &[String], bool), timeout: Duration) -> Option<Delivered> {
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        let id = self.post(host, delivery, Some(tx));
        let answer = wait_here(|| rx.recv_timeout(timeout));
        self.pending.lock().unwrap_or_else(|p| p.into_inner()).remove(&id);
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
        let mut pending = self.pending.lock().unwrap_or_else(|p| p.into_inner());
        for answer in outcome.answers {
            if pending.get(&answer.re).is_some_and(|(asked, _)| asked == host) {
                if let Some((_, tx)) = pending.remove(&answer.re) {
                    let _ = tx.send(answer.result);
                }
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

/// A sealed payload ([`Seal::seal`]) as a NATS payload and headers, with its sequence number.
fn with_mac((payload, mac, seq): (Vec<u8>, String, u64)) -> (bytes::Bytes, async_nats::HeaderMap, u64) {
    let mut headers = async_nats::HeaderMap::new();
    headers.insert(MAC_HEADER, mac.as_str());
    (payload.into(), headers, seq)
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
        if let Some(host) = self.view.host_of(agent) {
            return Some(host);
        }
        let (agent_type, _) = crate::policy::types::split_instance(agent)?;
        let here = self.bus.upgrade().is_some_and(|bus| bus.runs_type(agent_type));
        self.view.place(agent, agent_type, here.then_some(self.host.as_str()))
    }

    fn type_host(&self, agent_type: &str) -> Option<String> {
        self.view.type_host(agent_type)
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
        let agents: Vec<String> = receivers.iter().filter(|r| self.host_of(r).is_some()).cloned().collect();
        let message = self.pack(host, msg, receivers)?;
        if self.credits.spend(host, &agents) {
            self.post(host, (message, receivers, true), None);
            return Ok(());
        }
        match self.ask(host, (message, receivers, false), timeout).ok_or_else(unreachable)? {
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

/// Room kept in a NATS payload for an envelope's fields around its deliveries, in bytes.
const ENVELOPE_BYTES: usize = 512;

/// The shortest wait for another host's answer, even when the reply-by is closer.
const MIN_WAIT: Duration = Duration::from_millis(50);
