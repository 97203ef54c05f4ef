//! The cluster's tasks: publishing this host's envelopes in order, answering
//! deliveries from other hosts, taking their answers and grants, listening to
//! their heartbeats, announcing this host, and dropping hosts gone quiet.

use super::envelope::Dropped;
use super::presence::{Heard, Presence, HEARTBEAT};
use super::wire::{Answer, Batch, Delivered, Delivery, Outcome};
use super::{Cluster, ClusterError, Outgoing};
use crate::bus::{Bus, BusError};
use crate::policy::types::split_instance;
use futures_util::StreamExt;
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

/// How often the heartbeat task looks for changes to announce, and the
/// expiry task for hosts gone quiet.
const LOOK_EVERY: Duration = Duration::from_millis(100);

/// Subscribe to this host's deliveries and to the hosts' heartbeats, and
/// start the tasks that serve them.
pub(super) async fn start(
    cluster: &Arc<Cluster>,
    queued: tokio::sync::mpsc::UnboundedReceiver<Outgoing>,
) -> Result<(), ClusterError> {
    let subscribe = |subject: String| async move {
        cluster.client.subscribe(subject.clone()).await.map_err(|source| ClusterError::Subscribe { subject, source })
    };
    let deliveries = subscribe(cluster.subject(&format!("deliver.{}", cluster.host))).await?;
    let outcomes = subscribe(cluster.subject(&format!("outcome.{}", cluster.host))).await?;
    let presence = subscribe(cluster.subject("presence")).await?;
    let weak = Arc::downgrade(cluster);
    let tasks = vec![
        tokio::spawn(publish(weak.clone(), queued)).abort_handle(),
        tokio::spawn(serve_deliveries(weak.clone(), deliveries)).abort_handle(),
        tokio::spawn(take_outcomes(weak.clone(), outcomes)).abort_handle(),
        tokio::spawn(listen(weak.clone(), presence)).abort_handle(),
        tokio::spawn(announce(weak.clone())).abort_handle(),
        tokio::spawn(expire(weak)).abort_handle(),
    ];
    cluster.tasks.lock().unwrap_or_else(|p| p.into_inner()).extend(tasks);
    // the others learn of this host now, not at the first tick; on the connection that
    // subscribed above, which the server reads in order: nobody hears of this host before
    // its subscriptions hold
    publish_presence(cluster, false).await;
    Ok(())
}

/// Most deliveries one pass of the publishing task takes off the queue.
const BATCH: usize = 512;

/// Publish this host's deliveries in the order they were queued, those
/// queued for one host meanwhile together in one envelope.
async fn publish(cluster: Weak<Cluster>, mut queued: tokio::sync::mpsc::UnboundedReceiver<Outgoing>) {
    let mut taken = Vec::with_capacity(BATCH);
    while queued.recv_many(&mut taken, BATCH).await > 0 {
        let Some(cluster) = cluster.upgrade() else { return };
        let mut batches = Batches::new(cluster.client.max_payload());
        for out in taken.drain(..) {
            match out {
                Outgoing::Delivery { host, head, message } => {
                    if let Some(full) = batches.add(host, &head, &message) {
                        send_batch(&cluster, full).await;
                    }
                }
                Outgoing::Drained(done) => {
                    for batch in batches.take() {
                        send_batch(&cluster, batch).await;
                    }
                    let _ = cluster.client.flush().await;
                    let _ = done.send(());
                }
            }
        }
        for batch in batches.take() {
            send_batch(&cluster, batch).await;
        }
    }
}

/// The batches being filled, one per host, each within NATS's max payload.
struct Batches {
    max_payload: usize,
    open: Vec<(String, Batch)>,
}

impl Batches {
    fn new(max_payload: usize) -> Batches {
        Batches { max_payload, open: Vec::new() }
    }

    /// Add a delivery for `host`; the batch it closes when that host's is full.
    fn add(&mut self, host: String, head: &[u8], message: &[u8]) -> Option<(String, Batch)> {
        let room = self.max_payload.saturating_sub(super::ENVELOPE_BYTES);
        let i = match self.open.iter().position(|(h, _)| *h == host) {
            Some(i) => i,
            None => {
                self.open.push((host, Batch::default()));
                self.open.len() - 1
            }
        };
        let (host, batch) = self.open.get_mut(i)?;
        let full = (!batch.is_empty() && batch.bytes() + head.len() + message.len() > room)
            .then(|| (host.clone(), std::mem::take(batch)));
        batch.push(head, message);
        full
    }

    /// The batches filled so far.
    fn take(&mut self) -> Vec<(String, Batch)> {
        std::mem::take(&mut self.open)
    }
}

/// Publish `batch` in one envelope on `host`'s `deliver` subject.
async fn send_batch(cluster: &Cluster, (host, batch): (String, Batch)) {
    let subject = cluster.subject(&format!("deliver.{host}"));
    let (payload, headers, _) = super::with_mac(cluster.seal.seal_bytes(&subject, &batch.encode()));
    if let Err(e) = cluster.client.publish_with_headers(subject, headers, payload).await {
        tracing::warn!(host = %host, "cannot publish {} deliveries: {e}", batch.len());
    }
}

/// Handle each batch of deliveries, one after another in arrival order;
/// answer those whose sender waits, and grant credits.
async fn serve_deliveries(cluster: Weak<Cluster>, mut deliveries: async_nats::Subscriber) {
    while let Some(msg) = deliveries.next().await {
        let Some(cluster) = cluster.upgrade() else { return };
        let envelope = match cluster.open::<Vec<Delivery>>(&msg) {
            Ok(envelope) => envelope,
            Err(why) => {
                cluster.dropped.count(why);
                tracing::warn!("dropped a delivery envelope: {}", why.as_str());
                continue;
            }
        };
        let (from, from_boot) = (envelope.host, envelope.boot);
        let mut outcome = Outcome { answers: Vec::new(), grants: Vec::new(), to_boot: from_boot };
        for delivery in envelope.body {
            if delivery.to_boot.as_deref().is_some_and(|b| b != cluster.seal.boot()) {
                // meant for an earlier boot of this host: a replay
                cluster.dropped.count(Dropped::Replayed);
                continue;
            }
            let (receivers, ask) = (delivery.receivers.clone(), delivery.ask);
            let result = match deliver(&cluster, &from, delivery) {
                Ok(result) => result,
                Err(why) => {
                    cluster.dropped.count(why);
                    tracing::warn!(from = %from, "dropped a delivery: {}", why.as_str());
                    Delivered::Refused(format!("the message was dropped as {}", why.as_str()))
                }
            };
            // a sender that asked has no credit left for these receivers: their reserves start afresh
            outcome.grants.extend(grant(&cluster, &from, &receivers, ask.is_some()));
            if let Some(re) = ask {
                outcome.answers.push(Answer { re, result });
            }
        }
        if !outcome.answers.is_empty() || !outcome.grants.is_empty() {
            send_outcome(&cluster, &from, outcome).await;
        }
    }
}

/// Send `outcome` to `host` on its `outcome` subject.
async fn send_outcome(cluster: &Cluster, host: &str, outcome: Outcome) {
    let subject = cluster.subject(&format!("outcome.{host}"));
    let (payload, headers, _) = cluster.seal(&subject, &outcome);
    if let Err(e) = cluster.client.publish_with_headers(subject, headers, payload).await {
        tracing::debug!("cannot answer {host}: {e}");
    }
}

/// Whether host `from` may send in the name of `sender`: an instance of an
/// agent type only when `from` runs that type (an instance may be in memory
/// on two hosts for a moment while it moves); any other name only when it is
/// no agent of this host or of a third host (then it is `from`'s agent or a client there).
fn may_send_as(cluster: &Cluster, bus: &Bus, from: &str, sender: &str) -> bool {
    if from == cluster.host {
        return false;
    }
    if let Some((agent_type, _)) = split_instance(sender) {
        if bus.is_type_anywhere(agent_type) {
            return cluster.view.runs_type(from, agent_type);
        }
    }
    !bus.is_agent(sender) && cluster.view.host_of(sender).is_none_or(|host| host == from)
}

/// Top up the slots reserved for `from` in the mailboxes of the agents among
/// `receivers` (`renew`ing them: see [`super::flow`]); the grants to send.
/// Instances of agent types get none: a reserved slot would keep one from
/// passivating, so every send to another host's instance waits for its answer.
fn grant(cluster: &Cluster, from: &str, receivers: &[String], renew: bool) -> Vec<super::flow::Grant> {
    let Some(bus) = cluster.bus.upgrade() else { return Vec::new() };
    let agents = receivers.iter().filter(|agent| !bus.is_virtual(agent));
    agents.filter_map(|agent| cluster.grants.top_up((from, agent), &bus.mailbox_of(agent)?, renew)).collect()
}

/// Deliver a message `from` another host to its receivers here, after
/// checking that `from` may speak for its sender ([`may_send_as`]). A
/// credited message goes into the slots reserved for `from`; one that cannot
/// be delivered after all is answered with a `failure` here.
fn deliver(cluster: &Cluster, from: &str, delivery: Delivery) -> Result<Delivered, Dropped> {
    let msg = delivery.message;
    let Some(bus) = cluster.bus.upgrade() else { return Ok(Delivered::Refused("the host is stopping".into())) };
    if !may_send_as(cluster, &bus, from, &msg.sender) {
        return Err(Dropped::Impersonation);
    }
    let credited = delivery.credited;
    let mut held = |agent: &str, mailbox: &crate::bus::Mailbox| {
        if credited {
            cluster.grants.take(from, agent, mailbox)
        } else {
            None
        }
    };
    match bus.deliver_from_host(msg, &delivery.receivers, &mut held) {
        Ok(()) => Ok(Delivered::Delivered),
        Err((error, msg)) if credited => {
            // its sender was told it went: it is answered here instead, off this loop (the
            // answer may wait for another host)
            let receiver = match &error {
                BusError::MailboxFull(r) | BusError::NoSuchAgent(r) => r.clone(),
                _ => delivery.receivers.first().cloned().unwrap_or_default(),
            };
            let refused = Delivered::from_result(Err(error.clone()));
            tokio::task::spawn_blocking(move || bus.undeliverable(*msg, &receiver, &error));
            Ok(refused)
        }
        Err((error, _)) => Ok(Delivered::from_result(Err(error))),
    }
}

/// Take other hosts' answers and grants.
async fn take_outcomes(cluster: Weak<Cluster>, mut outcomes: async_nats::Subscriber) {
    while let Some(msg) = outcomes.next().await {
        let Some(cluster) = cluster.upgrade() else { return };
        let answered = cluster.open::<Outcome>(&msg).and_then(|e| cluster.answered(&e.host, &e.boot, e.body));
        if let Err(why) = answered {
            cluster.dropped.count(why);
        }
    }
}

/// Keep the view of the other hosts from their heartbeats.
async fn listen(cluster: Weak<Cluster>, mut presence: async_nats::Subscriber) {
    while let Some(msg) = presence.next().await {
        let Some(cluster) = cluster.upgrade() else { return };
        let envelope = match cluster.open::<Presence>(&msg) {
            Ok(envelope) => envelope,
            Err(why) => {
                cluster.dropped.count(why);
                continue;
            }
        };
        if envelope.host == cluster.host {
            if envelope.boot != cluster.seal.boot() {
                tracing::error!(host = %cluster.host, "another host runs with this host's id; give each host its own --host-id");
            }
            continue;
        }
        match cluster.view.heard(&envelope.host, &envelope.boot, envelope.body) {
            Heard::Joined => {
                tracing::info!(host = %envelope.host, "host joined the cluster");
                grant_all(&cluster, &envelope.host, &envelope.boot, true).await;
            }
            Heard::Restarted => {
                tracing::info!(host = %envelope.host, "host restarted");
                cluster.forget_host(&envelope.host);
                grant_all(&cluster, &envelope.host, &envelope.boot, true).await;
            }
            Heard::Left => {
                tracing::info!(host = %envelope.host, "host left the cluster");
                cluster.forget_host(&envelope.host);
            }
            Heard::Known => {}
        }
    }
}

/// Reserve slots for `host` (boot `boot`) in every agent's mailbox here
/// (anew, or only where a reserve fell to half its target) and tell it, so that its first sends
/// to them go at once too.
async fn grant_all(cluster: &Cluster, host: &str, boot: &str, renew: bool) {
    let Some(bus) = cluster.bus.upgrade() else { return };
    let agents: Vec<String> = bus.local_directory().into_iter().map(|(name, _)| name).collect();
    let grants = grant(cluster, host, &agents, renew);
    if !grants.is_empty() {
        let outcome = Outcome { answers: Vec::new(), grants, to_boot: boot.to_string() };
        send_outcome(cluster, host, outcome).await;
    }
}

/// Announce this host every [`HEARTBEAT`], and at once when its agents or
/// subscriptions change.
async fn announce(cluster: Weak<Cluster>) {
    let mut announced = (0, Instant::now());
    loop {
        tokio::time::sleep(LOOK_EVERY).await;
        let Some(cluster) = cluster.upgrade() else { return };
        let Some(bus) = cluster.bus.upgrade() else { return };
        cluster.grants.release_stale();
        let generation = bus.generation();
        if generation != announced.0 || announced.1.elapsed() >= HEARTBEAT {
            publish_presence(&cluster, false).await;
            if generation != announced.0 {
                // agents deployed since: the other hosts get credits for them
                for host in cluster.view.hosts() {
                    grant_all(&cluster, &host.host, &host.boot, false).await;
                }
            }
            announced = (generation, Instant::now());
        }
    }
}

/// Publish this host's presence (or that it leaves).
async fn publish_presence(cluster: &Cluster, leaving: bool) {
    let presence = match cluster.bus.upgrade() {
        Some(bus) if !leaving => Presence {
            agents: bus.local_directory(),
            topics: bus.topics().all(),
            types: bus.local_types(),
            leaving: false,
        },
        _ => Presence { agents: Vec::new(), topics: Vec::new(), types: Vec::new(), leaving: true },
    };
    let subject = cluster.subject("presence");
    let (payload, headers, _) = cluster.seal(&subject, &presence);
    if let Err(e) = cluster.client.publish_with_headers(subject, headers, payload).await {
        tracing::debug!("cannot announce this host: {e}");
    }
}

/// Tell the others this host leaves, and wait until NATS has it.
pub(super) async fn leave(cluster: &Cluster) {
    publish_presence(cluster, true).await;
    let _ = tokio::time::timeout(Duration::from_secs(2), cluster.client.flush()).await;
}

/// Drop hosts unheard of for too long.
async fn expire(cluster: Weak<Cluster>) {
    loop {
        tokio::time::sleep(LOOK_EVERY).await;
        let Some(cluster) = cluster.upgrade() else { return };
        for host in cluster.view.expire() {
            tracing::warn!(host = %host, "host stopped answering heartbeats; its agents left the directory");
            cluster.forget_host(&host);
        }
    }
}
