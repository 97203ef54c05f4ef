//! Where each receiver's copy of a message goes: a slot reserved in its
//! mailbox, the waiter its reply token names, a dead letter, or another host;
//! reserved for every receiver first (all or nothing), then committed.

use super::replies::Claim;
use super::{activation, ids, mailbox, remote, Bus, BusError, Event, Mailbox, Message, Reason, NOBODY_WAITS};
use smallvec::SmallVec;

/// Where one receiver's copy of a message goes, with the receiver's name
/// wherever anything but its mailbox takes the copy (a dead letter or another
/// host names it).
pub(super) enum Slot {
    Agent(mailbox::Permit),
    /// A party waiting for the reply with this token.
    Waiter {
        token: String,
        receiver: String,
    },
    Unsolicited {
        detail: String,
        receiver: String,
    },
    Unclaimed {
        detail: String,
        receiver: String,
    },
    /// An agent or waiting party of this other host.
    Remote {
        host: String,
        receiver: String,
    },
}

/// One slot per receiver, in the receivers' order (most messages have one:
/// kept inline, so a send allocates nothing for them).
pub(super) type Slots = SmallVec<[Slot; 1]>;

impl Bus {
    /// Hand each remote receiver's copy to its host, host by host in the
    /// order they first appear; the local slots stay reserved meanwhile.
    pub(super) fn forward(&self, msg: &Message, slots: Slots) -> Result<Slots, BusError> {
        let Some(remote) = self.remote.get() else { return Ok(slots) };
        let mut hosts: Vec<(&str, Vec<String>)> = Vec::new();
        for slot in &slots {
            if let Slot::Remote { host, receiver } = slot {
                match hosts.iter_mut().find(|(h, _)| h == host) {
                    Some((_, receivers)) => receivers.push(receiver.clone()),
                    None => hosts.push((host, vec![receiver.clone()])),
                }
            }
        }
        for (host, receivers) in &hosts {
            remote.forward(host, msg, receivers)?;
        }
        Ok(slots)
    }

    /// Queue `msg` in the reserved slots: every receiver but the last gets a
    /// copy, the last the message itself; remote receivers already have theirs.
    pub(super) fn commit(&self, msg: Message, slots: Slots) {
        let last = slots.iter().rposition(|slot| !matches!(slot, Slot::Remote { .. }));
        let mut msg = Some(msg);
        for (i, slot) in slots.into_iter().enumerate() {
            if matches!(slot, Slot::Remote { .. }) {
                continue;
            }
            let Some(this) = (if Some(i) == last { msg.take() } else { msg.clone() }) else { break };
            match slot {
                Slot::Agent(permit) => {
                    permit.send(Event::Message(Box::new(this)));
                }
                Slot::Waiter { token, receiver } => match self.replies.take(&token) {
                    Some(tx) => {
                        let _ = tx.send(this);
                    }
                    None => {
                        let detail = format!("`{receiver}` is not an agent and stopped waiting for this reply");
                        self.dead_letter(Reason::UnclaimedReply, &receiver, detail, this);
                    }
                },
                Slot::Unsolicited { detail, receiver } => {
                    self.dead_letter(Reason::UnsolicitedReply, &receiver, detail, this)
                }
                Slot::Unclaimed { .. }
                    if this.in_reply_to.as_deref().is_some_and(|r| ids::has_shape(r, NOBODY_WAITS)) =>
                {
                    // the answer to a request whose client chose not to wait: expected, counted, not kept
                    self.dead_letters.count_only(Reason::UnclaimedReply);
                }
                Slot::Unclaimed { detail, receiver } => {
                    self.dead_letter(Reason::UnclaimedReply, &receiver, detail, this)
                }
                Slot::Remote { .. } => {}
            }
        }
    }

    /// Reserve a mailbox slot (or claim the waiter) for each of `receivers`,
    /// taking it from `held` when that has one in the receiver's mailbox;
    /// with `remote`, a receiver another host holds gets a [`Slot::Remote`].
    pub(super) fn reserve_with(
        &self,
        msg: &Message,
        receivers: &[String],
        remote: bool,
        held: &mut dyn FnMut(&str, &Mailbox) -> Option<mailbox::Permit>,
    ) -> Result<Slots, BusError> {
        // receivers that are instances of agent types here are activated first; one that was
        // passivated again meanwhile is activated again, and the reservation tried again
        self.activate_receivers(receivers, remote)?;
        let mut tries = receivers.len().min(8) + 2;
        loop {
            match self.reserve_once(msg, receivers, remote, held) {
                Err(BusError::NoSuchAgent(receiver)) if tries > 0 => match self.activate(&receiver) {
                    activation::Activated::Registered => tries -= 1,
                    activation::Activated::Busy => return Err(BusError::MailboxFull(receiver)),
                    activation::Activated::NotAnInstance => return Err(BusError::NoSuchAgent(receiver)),
                },
                reserved => return reserved,
            }
        }
    }

    /// One pass of [`Bus::reserve_with`] under the agents' read lock: the
    /// first receiver with no room, or no mailbox here or elsewhere, ends it.
    fn reserve_once(
        &self,
        msg: &Message,
        receivers: &[String],
        remote: bool,
        held: &mut dyn FnMut(&str, &Mailbox) -> Option<mailbox::Permit>,
    ) -> Result<Slots, BusError> {
        let agents = self.agents.read().unwrap_or_else(|p| p.into_inner());
        let mut slots = Slots::with_capacity(receivers.len());
        for receiver in receivers {
            let mailbox = agents.get(receiver);
            let elsewhere = || if remote { self.elsewhere(receiver, msg) } else { None };
            let remote = |host| Slot::Remote { host, receiver: receiver.clone() };
            let slot = match self.replies.claim(msg, receiver, mailbox.is_some()) {
                Claim::Waiter(token) => Slot::Waiter { token, receiver: receiver.clone() },
                Claim::Unsolicited(detail) => Slot::Unsolicited { detail, receiver: receiver.clone() },
                Claim::Unclaimed(detail) => {
                    elsewhere().map_or_else(|| Slot::Unclaimed { detail, receiver: receiver.clone() }, remote)
                }
                Claim::NotClaimed => match mailbox.map(|m| take_slot(held, receiver, m)) {
                    Some(Ok(permit)) => Slot::Agent(permit),
                    Some(Err(mailbox::Refused::Full)) => return Err(BusError::MailboxFull(receiver.clone())),
                    Some(Err(mailbox::Refused::Closed)) => return Err(BusError::NoSuchAgent(receiver.clone())),
                    None => elsewhere().map(remote).ok_or_else(|| BusError::NoSuchAgent(receiver.clone()))?,
                },
            };
            slots.push(slot);
        }
        Ok(slots)
    }

    /// The other host that holds `receiver`: the one that runs an agent of
    /// that name, or for a party that is no agent, the host that issued the
    /// reply token `msg` answers.
    pub(super) fn elsewhere(&self, receiver: &str, msg: &Message) -> Option<String> {
        let remote = self.remote.get()?;
        if let Some(host) = remote.host_of(receiver) {
            return Some(host);
        }
        let host = msg.in_reply_to.as_deref().and_then(remote::token_host)?;
        (host != remote.host_id()).then(|| host.to_string())
    }
}

/// A slot in `mailbox` for `receiver`: the one `held` has there, or a fresh one.
fn take_slot(
    held: &mut dyn FnMut(&str, &Mailbox) -> Option<mailbox::Permit>,
    receiver: &str,
    mailbox: &Mailbox,
) -> Result<mailbox::Permit, mailbox::Refused> {
    match held(receiver, mailbox) {
        Some(permit) if permit.is_in(mailbox) => Ok(permit),
        _ => mailbox.try_reserve(),
    }
}
