//! Agents on other hosts, as the bus sees them: the bus asks a [`Remote`]
//! where a receiver it does not hold lives and hands it the message; how the
//! message travels (NATS, signed envelopes) is the cluster's business
//! (`crate::cluster`), never the bus's. Without a cluster there is no
//! `Remote` and every receiver is local.

use super::directory::{Profile, Query};
use super::BusError;
use crate::acl::Message;

/// The other hosts of a cluster.
pub trait Remote: Send + Sync {
    /// This host's id in the cluster.
    fn host_id(&self) -> &str;

    /// The host that runs agent `agent`, when another host does; for an
    /// instance `TYPE/KEY`, the host it is placed on when that is another host.
    fn host_of(&self, agent: &str) -> Option<String>;

    /// A host that runs the agent type `agent_type`, when another host does.
    fn type_host(&self, agent_type: &str) -> Option<String>;

    /// Deliver `msg` (its sender already stamped) to `receivers`, all agents or
    /// waiting parties of `host`: `Ok` once every receiver's mailbox took it
    /// (or has a slot reserved for it), or the refusal a local send would give
    /// (`MailboxFull`, `NoSuchAgent`), or [`BusError::HostUnreachable`]. May
    /// block the calling thread for that host's answer, for at most the
    /// cluster's send timeout (and never past the message's reply-by).
    fn forward(&self, host: &str, msg: &Message, receivers: &[String]) -> Result<(), BusError>;

    /// Directory entries of other hosts' agents that match `query`.
    fn search(&self, query: &Query) -> Vec<(String, Profile)>;

    /// Agents of other hosts subscribed to `topic`.
    fn subscribers(&self, topic: &str) -> Vec<String>;
}

/// The prefix of the reply tokens a host issues: `reply` alone, or
/// `reply@HOST` in a cluster, so a reply from another host's agent finds its
/// way back to the host where the party waits.
pub fn reply_prefix(host: Option<&str>) -> String {
    match host {
        Some(host) => format!("reply@{host}"),
        None => "reply".to_string(),
    }
}

/// The host that issued reply token `token`, if it is a clustered host's
/// token (`reply@HOST-HEX`, see [`reply_prefix`]).
pub fn token_host(token: &str) -> Option<&str> {
    let rest = token.strip_prefix("reply@")?;
    let (host, hex) = rest.rsplit_once('-')?;
    (!host.is_empty() && crate::ids::has_shape(&format!("x-{hex}"), "x")).then_some(host)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reply_token_names_the_host_that_issued_it() {
        let token = crate::ids::fresh(&reply_prefix(Some("host-a")));
        assert_eq!(token_host(&token), Some("host-a"));
        assert_eq!(token_host(&crate::ids::fresh(&reply_prefix(None))), None);
        for bad in ["reply@-0123", "reply@a-xyz", "conv-00000000000000000000000000000000", "reply@a"] {
            assert_eq!(token_host(bad), None, "{bad}");
        }
    }
}
