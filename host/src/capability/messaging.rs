//! `caxton:agent/messaging`: sending ACL messages through the [`Bus`] — to named
//! agents, to what the directory matches, and to topic subscribers.
//!
//! The grant's scope (`send-to`, `acts`, `broadcast`, `publish`, `subscribe`)
//! is checked on every call; a call outside it gets the WIT `access-denied`
//! error naming what was refused (for an act, `ACT to RECEIVER`), never a
//! trap. Every message an agent sends while handling one carries the hop
//! count of that message plus one.

use crate::acl;
use crate::bindings::caxton::agent::messaging::Host;
use crate::bindings::caxton::agent::types::{DirectoryQuery, Message, SendError};
use crate::bus::directory::Query;
use crate::bus::topics::Staged;
use crate::bus::{Bus, BusError};
use crate::policy::{Limits, MessagingGrant};
use crate::rate::TokenBucket;
use std::sync::Arc;
use std::time::Instant;

/// Per-agent state of the `messaging` capability.
pub struct MessagingCtx {
    agent: String,
    bus: Arc<Bus>,
    grant: MessagingGrant,
    max_message_bytes: u64,
    rate: u32,
    bucket: TokenBucket,
    hops: u32,
    trace: Option<crate::acl::trace::TraceContext>,
    subscriptions: Staged,
}

impl MessagingCtx {
    /// State for `agent`, sending through `bus` within `grant` and `limits`
    /// (message size; `messages-per-second` with a burst of twice that);
    /// subscriptions are staged in `subscriptions` until the agent is registered.
    pub fn new(
        agent: &str,
        bus: Arc<Bus>,
        grant: Option<MessagingGrant>,
        limits: &Limits,
        subscriptions: Staged,
    ) -> Self {
        let rate = limits.messages_per_second;
        MessagingCtx {
            agent: agent.to_string(),
            bus,
            grant: grant.unwrap_or_default(),
            max_message_bytes: limits.message_bytes,
            rate,
            bucket: TokenBucket::new(rate, rate.saturating_mul(2)),
            hops: 0,
            trace: None,
            subscriptions,
        }
    }

    /// Take one token per copy to be sent.
    fn spend(&mut self, copies: usize) -> Result<(), SendError> {
        let n = u32::try_from(copies).unwrap_or(u32::MAX);
        if self.bucket.take(n, Instant::now()) {
            Ok(())
        } else {
            Err(SendError::RateLimited(self.rate))
        }
    }

    /// Set what the event being handled passes on to what the agent sends:
    /// its hop count (0 for timers) and its trace context.
    pub fn set_cause(&mut self, hops: u32, trace: Option<crate::acl::trace::TraceContext>) {
        self.hops = hops;
        self.trace = trace;
    }

    /// The message as it leaves this agent, hop count stamped, and whether it is too large.
    fn outgoing(&self, msg: Message) -> (acl::Message, Result<(), SendError>) {
        let mut msg: acl::Message = msg.into();
        msg.hops = self.hops.saturating_add(1);
        msg.trace = self.trace;
        let size = if msg.byte_size() as u64 > self.max_message_bytes {
            Err(SendError::TooLarge(self.max_message_bytes))
        } else {
            Ok(())
        };
        (msg, size)
    }

    /// Size, scope and rate: what the grant and limits say of `msg` before the bus sees it.
    fn admissible(&mut self, msg: &acl::Message) -> Result<(), SendError> {
        if msg.receivers.is_empty() {
            return Err(SendError::NoReceivers);
        }
        if let Some(denied) = msg.receivers.iter().find(|r| !self.grant.may_send_to(r)) {
            return Err(SendError::AccessDenied(denied.clone()));
        }
        if let Some(denied) = msg.receivers.iter().find(|r| !self.grant.may_send_act(r, msg.performative)) {
            return Err(SendError::AccessDenied(act_denied(msg.performative, denied)));
        }
        self.spend(msg.receivers.len())
    }

    /// Check size, scope and rate, then hand the message to the bus. A refusal
    /// here is recorded in the message's conversation, as the bus's own are.
    pub fn send_message(&mut self, msg: Message) -> Result<(), SendError> {
        let (msg, size) = self.outgoing(msg);
        if let Err(refused) = size.and_then(|()| self.admissible(&msg)) {
            self.bus.record_refused(&self.agent, &msg, crate::bindings::send_error_name(&refused));
            return Err(refused);
        }
        self.bus.send(&self.agent, msg).map_err(|e| match e {
            BusError::NoReceivers => SendError::NoReceivers,
            BusError::MailboxFull(a) => SendError::MailboxFull(a),
            BusError::TooLarge { max, .. } => SendError::TooLarge(max as u64),
            BusError::ProtocolViolation(v) => SendError::ProtocolViolation((*v).into()),
            BusError::NoSuchAgent(a) | BusError::AlreadyRegistered(a) => SendError::NoSuchAgent(a),
            // the WIT contract has no case for it: to the agent, an unreachable host's agent is not there
            BusError::HostUnreachable { agent, .. } | BusError::RunsElsewhere { agent, .. } => {
                SendError::NoSuchAgent(agent)
            }
        })
    }
}

/// What an `access-denied` names when the `acts` rules refuse `act` to `receiver`.
fn act_denied(act: acl::Performative, receiver: &str) -> String {
    format!("{act} to {receiver}")
}

fn query(q: DirectoryQuery) -> Query {
    Query { service: q.service, ontology: q.ontology, protocol: q.protocol }
}

impl Host for MessagingCtx {
    fn send(&mut self, msg: Message) -> wasmtime::Result<Result<(), SendError>> {
        Ok(self.send_message(msg))
    }

    fn self_id(&mut self) -> wasmtime::Result<String> {
        Ok(self.agent.clone())
    }

    fn search(&mut self, q: DirectoryQuery) -> wasmtime::Result<Vec<String>> {
        Ok(self.bus.search(&query(q)))
    }

    fn broadcast(&mut self, q: DirectoryQuery, msg: Message) -> wasmtime::Result<Result<u32, SendError>> {
        if !self.grant.broadcast {
            return Ok(Err(SendError::AccessDenied("broadcast".into())));
        }
        let (msg, size) = self.outgoing(msg);
        if let Err(e) = size {
            return Ok(Err(e));
        }
        // the receivers the grant lets this act go to; the others are skipped, as ones out of scope
        let allowed =
            |r: &String| self.grant.may_send_to(r) && self.grant.may_send_act(r, msg.performative) && *r != self.agent;
        let receivers: Vec<String> = self.bus.search(&query(q)).into_iter().filter(allowed).collect();
        if let Err(e) = self.spend(receivers.len()) {
            return Ok(Err(e));
        }
        Ok(Ok(self.bus.deliver_each(&self.agent, &msg, receivers)))
    }

    fn subscribe(&mut self, pattern: String) -> wasmtime::Result<Result<(), SendError>> {
        if !self.grant.may_subscribe(&pattern) {
            return Ok(Err(SendError::AccessDenied(pattern)));
        }
        if !self.bus.topics().subscribe_as(&self.subscriptions, &self.agent, &pattern) {
            return Ok(Err(SendError::AccessDenied(format!(
                "{pattern} (at most {} subscriptions per agent)",
                crate::bus::topics::MAX_SUBSCRIPTIONS
            ))));
        }
        Ok(Ok(()))
    }

    fn unsubscribe(&mut self, pattern: String) -> wasmtime::Result<bool> {
        Ok(self.bus.topics().unsubscribe_as(&self.subscriptions, &self.agent, &pattern))
    }

    fn publish(&mut self, topic: String, msg: Message) -> wasmtime::Result<Result<u32, SendError>> {
        if !self.grant.may_publish(&topic) {
            return Ok(Err(SendError::AccessDenied(topic)));
        }
        let (msg, size) = self.outgoing(msg);
        if let Err(e) = size {
            return Ok(Err(e));
        }
        let subscribers: Vec<String> = self.bus.subscribers(&topic).into_iter().filter(|r| *r != self.agent).collect();
        if let Err(e) = self.spend(subscribers.len()) {
            return Ok(Err(e));
        }
        Ok(Ok(self.bus.deliver_each(&self.agent, &msg, subscribers)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::acl::Performative;
    use crate::bus::directory::Profile;
    use crate::bus::mailbox::{self, Receiver};
    use crate::bus::Event;

    fn ctx(send_to: &[&str]) -> (MessagingCtx, Receiver, Receiver) {
        let bus = Bus::new();
        let (tx1, rx1) = mailbox::channel(4);
        let (tx2, rx2) = mailbox::channel(4);
        bus.register("pricing-eu", tx1, Profile::default()).unwrap();
        bus.register("billing", tx2, Profile::default()).unwrap();
        let grant =
            MessagingGrant { send_to: send_to.iter().map(|s| s.to_string()).collect(), ..MessagingGrant::default() };
        (MessagingCtx::new("me", bus, Some(grant), &small(), Staged::live()), rx1, rx2)
    }

    fn small() -> Limits {
        Limits { message_bytes: 1024, ..Limits::default() }
    }

    fn to(r: &str) -> Message {
        acl::Message::new(Performative::Inform, vec![r.to_string()], "{}".into()).into()
    }

    #[test]
    fn sends_within_scope_and_stamps_the_sender() {
        let (mut m, mut rx, _) = ctx(&["pricing-*"]);
        let mut msg = to("pricing-eu");
        msg.sender = "billing".into();
        assert!(m.send(msg).unwrap().is_ok());
        match rx.try_recv() {
            Some(Event::Message(got)) => assert_eq!(got.sender, "me"),
            other => panic!("expected the message, got {other:?}"),
        }
    }

    #[test]
    fn refuses_receivers_outside_the_grant_with_access_denied() {
        let (mut m, _, mut rx) = ctx(&["pricing-*"]);
        assert_eq!(m.send(to("billing")).unwrap(), Err(SendError::AccessDenied("billing".into())));
        assert!(rx.try_recv().is_none());
    }

    #[test]
    fn the_acts_rules_refuse_an_act_to_a_receiver_naming_both() {
        let (mut m, mut rx, _billing) = ctx(&["*"]);
        let rules = [("pricing-*", vec!["query-ref"]), ("*", vec!["inform"])];
        let table = rules.into_iter().map(|(p, a)| (p.to_string(), a.into_iter().map(String::from).collect()));
        m.grant.acts = Some(crate::policy::acts::parse(table.collect()).unwrap());
        assert_eq!(m.send(to("pricing-eu")).unwrap(), Err(SendError::AccessDenied("inform to pricing-eu".into())));
        assert!(rx.try_recv().is_none());
        let mut query = to("pricing-eu");
        query.performative = Performative::QueryRef.into();
        assert_eq!(m.send(query).unwrap(), Ok(()));
        assert!(rx.try_recv().is_some());
        // `*` speaks for everyone no narrower pattern matches
        assert_eq!(m.send(to("billing")).unwrap(), Ok(()));
    }

    #[test]
    fn refuses_oversize_messages_before_queueing() {
        let (mut m, mut rx, _) = ctx(&["*"]);
        let mut big = to("pricing-eu");
        big.content = "x".repeat(2048);
        assert_eq!(m.send(big).unwrap(), Err(SendError::TooLarge(1024)));
        assert!(rx.try_recv().is_none());
    }

    #[test]
    fn reports_unknown_receivers() {
        let (mut m, _, _) = ctx(&["*"]);
        assert_eq!(m.send(to("ghost")).unwrap(), Err(SendError::NoSuchAgent("ghost".into())));
        assert_eq!(m.self_id().unwrap(), "me");
    }

    #[test]
    fn stamps_one_more_hop_than_the_message_being_handled() {
        let (mut m, mut rx, _) = ctx(&["*"]);
        m.set_cause(7, None);
        m.send(to("pricing-eu")).unwrap().unwrap();
        match rx.try_recv() {
            Some(Event::Message(got)) => assert_eq!(got.hops, 8),
            other => panic!("expected the message, got {other:?}"),
        }
    }

    #[test]
    fn broadcast_publish_and_subscribe_need_their_grants() {
        let (mut m, _, _) = ctx(&["*"]);
        assert!(matches!(
            m.broadcast(DirectoryQuery { service: None, ontology: None, protocol: None }, to("x")).unwrap(),
            Err(SendError::AccessDenied(_))
        ));
        assert!(matches!(m.publish("prices.eu".into(), to("x")).unwrap(), Err(SendError::AccessDenied(_))));
        assert!(matches!(m.subscribe("prices.*".into()).unwrap(), Err(SendError::AccessDenied(_))));
    }

    #[test]
    fn subscriptions_must_stay_within_the_granted_patterns() {
        let bus = Bus::new();
        let grant = MessagingGrant {
            send_to: vec!["*".into()],
            subscribe: vec!["prices.*".into()],
            publish: vec!["prices.eu".into()],
            broadcast: true,
            acts: None,
        };
        let mut m = MessagingCtx::new("me", bus, Some(grant), &small(), Staged::live());
        assert_eq!(m.subscribe("prices.*".into()).unwrap(), Ok(()));
        assert_eq!(m.subscribe("prices.eu.*".into()).unwrap(), Ok(()));
        assert!(matches!(m.subscribe("*".into()).unwrap(), Err(SendError::AccessDenied(_))));
        assert!(matches!(m.subscribe("news.*".into()).unwrap(), Err(SendError::AccessDenied(_))));
        assert_eq!(m.publish("prices.eu".into(), to("x")).unwrap(), Ok(0));
        assert!(matches!(m.publish("prices.us".into(), to("x")).unwrap(), Err(SendError::AccessDenied(_))));
        assert!(m.unsubscribe("prices.*".into()).unwrap());
    }

    #[test]
    fn sends_beyond_the_rate_are_refused_with_rate_limited() {
        let bus = Bus::new();
        let (tx, _rx) = mailbox::channel(1000);
        bus.register("sink", tx, Profile::default()).unwrap();
        let limits = Limits { messages_per_second: 5, ..Limits::default() };
        let mut m = MessagingCtx::new("me", bus, Some(MessagingGrant::send_to_all()), &limits, Staged::live());
        let results: Vec<_> = (0..20).map(|_| m.send(to("sink")).unwrap()).collect();
        assert_eq!(results.iter().filter(|r| r.is_ok()).count(), 10, "burst of twice the rate");
        assert!(results.contains(&Err(SendError::RateLimited(5))));
    }
}
