//! Virtual agents as the bus sees them: a receiver the bus does not hold
//! whose name is an instance's (`TYPE/KEY`) is handed to the [`Activator`],
//! which registers a mailbox for it (and starts the instance behind it), and
//! the send goes on into that mailbox. An idle instance leaves through
//! [`Bus::passivate`], which unregisters it only while nothing is queued or
//! reserved in its mailbox. Instances are not listed in the directory: their
//! type is.

use super::mailbox::Mailbox;
use super::Bus;
use std::sync::Weak;

/// What asking for an instance gave.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Activated {
    /// It is registered on the bus now (started or starting).
    Registered,
    /// `name` is no instance of a type this host runs.
    NotAnInstance,
    /// Its type already has as many instances starting or waiting for room as
    /// it may: the sender is refused as by a full mailbox (back-pressure).
    Busy,
}

/// Activates instances of agent types on their first event.
pub trait Activator: Send + Sync {
    /// Make sure the instance `name` is registered on the bus ([`Bus::register_instance`]).
    fn activate(&self, name: &str) -> Activated;

    /// Whether `name` is a deployed agent type or an instance of one (in memory or not).
    fn owns(&self, name: &str) -> bool;

    /// The deployed agent types, sorted.
    fn types(&self) -> Vec<String>;
}

impl Bus {
    /// Hand receivers that are not registered to `activator` from now on. Once only.
    pub fn set_activator(&self, activator: Weak<dyn Activator>) {
        let _ = self.activator.set(activator);
    }

    /// Whether `name` is a deployed agent type or an instance of one (see [`Activator::owns`]).
    pub fn is_virtual(&self, name: &str) -> bool {
        self.activator.get().and_then(Weak::upgrade).is_some_and(|a| a.owns(name))
    }

    /// Why no agent is named `name`, in words a person can act on: the bare
    /// name of an agent type (of any host), or a malformed instance name of
    /// one, gets the rule for instance names.
    pub fn why_no_agent(&self, name: &str) -> String {
        let is_type = |t: &str| self.is_type_anywhere(t);
        let rule = crate::policy::types::KEY_RULE;
        if is_type(name) {
            return format!("`{name}` is an agent type: send to one of its instances, `{name}/KEY` (KEY: {rule})");
        }
        match name.split_once('/') {
            Some((agent_type, key)) if is_type(agent_type) => format!(
                "`{name}` names no instance of the agent type `{agent_type}`: `{}` is not a key (use {rule})",
                key.chars().take(140).collect::<String>()
            ),
            _ => super::BusError::NoSuchAgent(name.to_string()).to_string(),
        }
    }

    /// Whether this host runs the agent type `name`.
    pub fn runs_type(&self, name: &str) -> bool {
        !name.contains('/') && self.is_virtual(name)
    }

    /// Whether this host or another host of the cluster runs the agent type `name`.
    pub fn is_type_anywhere(&self, name: &str) -> bool {
        self.runs_type(name) || self.remote.get().is_some_and(|r| r.type_host(name).is_some())
    }

    /// The agent types this host runs, sorted.
    pub fn local_types(&self) -> Vec<String> {
        self.activator.get().and_then(Weak::upgrade).map(|a| a.types()).unwrap_or_default()
    }

    /// Note that an agent type was deployed or replaced (so the cluster hears of it).
    pub fn types_changed(&self) {
        self.changed();
    }

    /// Whether the instance `name`, held here, is placed on another host of
    /// the cluster now (a host that runs its type joined): it should leave
    /// this host once idle.
    pub fn placed_elsewhere(&self, name: &str) -> bool {
        self.remote.get().is_some_and(|r| r.host_of(name).is_some())
    }

    /// Ask the activator to activate `name`.
    pub(super) fn activate(&self, name: &str) -> Activated {
        self.activator.get().and_then(Weak::upgrade).map_or(Activated::NotAnInstance, |a| a.activate(name))
    }

    /// Activate, before a send reserves its slots, every receiver that is not
    /// registered here and that an agent type of this host would hold, in
    /// one pass (so a message to many new instances costs one activation
    /// each, not a retry of the whole send each); `Err(MailboxFull)` for one whose type is busy.
    /// With `remote`, receivers the cluster places on another host are left to it.
    pub(super) fn activate_receivers(&self, receivers: &[String], remote: bool) -> Result<(), super::BusError> {
        // only names with a `/` can be instances: other sends take no lock here
        if self.activator.get().is_none() || !receivers.iter().any(|r| r.contains('/')) {
            return Ok(());
        }
        let missing: Vec<&String> = {
            let agents = self.agents.read().unwrap_or_else(|p| p.into_inner());
            receivers.iter().filter(|r| r.contains('/') && !agents.contains_key(*r)).collect()
        };
        for receiver in missing.into_iter().filter(|r| !(remote && self.placed_elsewhere(r))) {
            if self.activate(receiver) == Activated::Busy {
                return Err(super::BusError::MailboxFull(receiver.clone()));
            }
        }
        Ok(())
    }

    /// Route the instance `name` to `mailbox` (no directory entry), unless an
    /// open mailbox is registered for it already; whether `mailbox` is its mailbox now.
    pub fn register_instance(&self, name: &str, mailbox: Mailbox) -> bool {
        let mut agents = self.agents.write().unwrap_or_else(|p| p.into_inner());
        if agents.get(name).is_some_and(|m| !m.is_closed()) {
            return false;
        }
        agents.insert(name.to_string(), mailbox);
        true
    }

    /// Stop routing the instance `name` to `mailbox` (it could not start, or
    /// the server stops); a newer mailbox of the same name stays.
    pub fn unregister_instance(&self, name: &str, mailbox: &Mailbox) {
        let mut agents = self.agents.write().unwrap_or_else(|p| p.into_inner());
        self.forget_instance(&mut agents, name, mailbox);
    }

    /// Drop `name`'s route if it is `mailbox` (under the held write lock `agents`), and its subscriptions.
    fn forget_instance(&self, agents: &mut std::collections::HashMap<String, Mailbox>, name: &str, mailbox: &Mailbox) {
        if agents.get(name).is_some_and(|m| m.same_as(mailbox)) {
            agents.remove(name);
        }
        self.topics.remove_agent(name);
    }

    /// List the agent type `name` in the directory with `profile` (its
    /// instances' self-description): a search finds the type, and a message
    /// to `TYPE/KEY` activates an instance.
    pub fn register_type(&self, name: &str, profile: super::directory::Profile) {
        self.directory.insert(name, profile);
        self.changed();
    }

    /// Unregister the instance `name` and close `mailbox`, its mailbox, when
    /// nothing is queued or reserved in it; whether it was. Senders hold the
    /// bus's read lock while they reserve, so none is half-way through.
    pub fn passivate(&self, name: &str, mailbox: &Mailbox) -> bool {
        let mut agents = self.agents.write().unwrap_or_else(|p| p.into_inner());
        if mailbox.depth() > 0 || !mailbox.is_empty() {
            return false;
        }
        mailbox.close();
        self.forget_instance(&mut agents, name, mailbox);
        true
    }
}
