//! Host bindings for the `caxton:agent/agent` world, and the conversions between
//! its message records and the host's [`crate::acl`] types.
//!
//! This is the only module where wasm-facing message types meet host types.
#![allow(missing_docs)]

wasmtime::component::bindgen!({
    path: "../wit",
    world: "agent",
    imports: { default: trappable },
    additional_derives: [PartialEq],
});

/// Host bindings for the standard WASI interfaces Caxton serves behind grants,
/// and what a guest's handle to one of their resources stands for on the host.
pub mod standard {
    wasmtime::component::bindgen!({
        path: "../wit",
        world: "standard-interfaces",
        imports: { default: trappable },
        with: {
            "wasi:keyvalue/store.bucket": crate::bindings::standard::Bucket,
            "wasi:keyvalue/atomics.cas": crate::bindings::standard::Cas,
        },
    });

    /// What a guest's `wasi:keyvalue` bucket handle stands for: the storage
    /// namespace it opened (see `capability::keyvalue`, which serves it).
    pub struct Bucket {
        pub(crate) namespace: String,
    }

    /// What a guest's compare-and-swap handle stands for: the key and the value it saw.
    pub struct Cas {
        pub(crate) namespace: String,
        pub(crate) key: String,
        pub(crate) seen: Option<Vec<u8>>,
    }
}

use crate::acl;
use caxton::agent::types as wit;

impl From<wit::Performative> for acl::Performative {
    fn from(p: wit::Performative) -> Self {
        use acl::Performative as A;
        use wit::Performative as W;
        match p {
            W::AcceptProposal => A::AcceptProposal,
            W::Agree => A::Agree,
            W::Cancel => A::Cancel,
            W::Cfp => A::Cfp,
            W::Confirm => A::Confirm,
            W::Disconfirm => A::Disconfirm,
            W::Failure => A::Failure,
            W::Inform => A::Inform,
            W::InformIf => A::InformIf,
            W::InformRef => A::InformRef,
            W::NotUnderstood => A::NotUnderstood,
            W::Propagate => A::Propagate,
            W::Propose => A::Propose,
            W::Proxy => A::Proxy,
            W::QueryIf => A::QueryIf,
            W::QueryRef => A::QueryRef,
            W::Refuse => A::Refuse,
            W::RejectProposal => A::RejectProposal,
            W::Request => A::Request,
            W::RequestWhen => A::RequestWhen,
            W::RequestWhenever => A::RequestWhenever,
            W::Subscribe => A::Subscribe,
        }
    }
}

impl From<acl::Performative> for wit::Performative {
    fn from(p: acl::Performative) -> Self {
        use acl::Performative as A;
        use wit::Performative as W;
        match p {
            A::AcceptProposal => W::AcceptProposal,
            A::Agree => W::Agree,
            A::Cancel => W::Cancel,
            A::Cfp => W::Cfp,
            A::Confirm => W::Confirm,
            A::Disconfirm => W::Disconfirm,
            A::Failure => W::Failure,
            A::Inform => W::Inform,
            A::InformIf => W::InformIf,
            A::InformRef => W::InformRef,
            A::NotUnderstood => W::NotUnderstood,
            A::Propagate => W::Propagate,
            A::Propose => W::Propose,
            A::Proxy => W::Proxy,
            A::QueryIf => W::QueryIf,
            A::QueryRef => W::QueryRef,
            A::Refuse => W::Refuse,
            A::RejectProposal => W::RejectProposal,
            A::Request => W::Request,
            A::RequestWhen => W::RequestWhen,
            A::RequestWhenever => W::RequestWhenever,
            A::Subscribe => W::Subscribe,
        }
    }
}

/// Build a `$to` message from `$m`, moving every ACL field the two types share.
macro_rules! move_acl_fields {
    ($m:ident => $($to:ident)::+ { $($extra:tt)* }) => {
        $($to)::+ {
            performative: $m.performative.into(),
            sender: $m.sender,
            receivers: $m.receivers,
            content: $m.content,
            language: $m.language,
            encoding: $m.encoding,
            ontology: $m.ontology,
            protocol: $m.protocol,
            conversation_id: $m.conversation_id,
            reply_with: $m.reply_with,
            in_reply_to: $m.in_reply_to,
            reply_by: $m.reply_by,
            $($extra)*
        }
    };
}

impl From<wit::Message> for acl::Message {
    /// A message from a guest starts with no hops; the messaging capability stamps them.
    fn from(m: wit::Message) -> Self {
        move_acl_fields!(m => acl::Message { hops: 0, trace: None })
    }
}

impl From<acl::Message> for wit::Message {
    fn from(m: acl::Message) -> Self {
        move_acl_fields!(m => wit::Message {})
    }
}

/// The WIT name of a `send-error` case, e.g. `access-denied`: the reason a refused
/// message's conversation record gives.
pub fn send_error_name(e: &wit::SendError) -> &'static str {
    match e {
        wit::SendError::NoReceivers => "no-receivers",
        wit::SendError::NoSuchAgent(_) => "no-such-agent",
        wit::SendError::MailboxFull(_) => "mailbox-full",
        wit::SendError::AccessDenied(_) => "access-denied",
        wit::SendError::TooLarge(_) => "too-large",
        wit::SendError::RateLimited(_) => "rate-limited",
        wit::SendError::ProtocolViolation(_) => "protocol-violation",
    }
}

impl From<crate::protocol::Violation> for wit::ProtocolViolation {
    fn from(v: crate::protocol::Violation) -> Self {
        use crate::protocol::Breach;
        let breach = match v.breach {
            Breach::WrongAct => wit::ProtocolBreach::WrongAct,
            Breach::NotAParty => wit::ProtocolBreach::NotAParty,
            Breach::ReplyByPassed => wit::ProtocolBreach::ReplyByPassed,
            Breach::Ended => wit::ProtocolBreach::Ended,
            Breach::OtherProtocol => wit::ProtocolBreach::OtherProtocol,
        };
        wit::ProtocolViolation {
            protocol: v.protocol.to_string(),
            state: v.state.to_string(),
            allowed: v.allowed.into_iter().map(Into::into).collect(),
            breach,
            reason: v.detail,
        }
    }
}

impl From<wit::AgentProfile> for crate::bus::directory::Profile {
    fn from(c: wit::AgentProfile) -> Self {
        use crate::bus::directory::Service;
        crate::bus::directory::Profile {
            version: c.version,
            services: c.services.into_iter().map(|s| Service { name: s.name, description: s.description }).collect(),
            ontologies: c.ontologies,
            protocols: c.protocols,
            performatives: c.performatives.into_iter().map(Into::into).collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn send_error_names_are_the_wit_case_names() {
        let wit_text = include_str!("../../wit/types.wit");
        let start = wit_text.find("variant send-error {").unwrap();
        let variant = &wit_text[start..start + wit_text[start..].find("\n    }").unwrap()];
        let cases = [
            wit::SendError::NoReceivers,
            wit::SendError::NoSuchAgent(String::new()),
            wit::SendError::MailboxFull(String::new()),
            wit::SendError::AccessDenied(String::new()),
            wit::SendError::TooLarge(0),
            wit::SendError::RateLimited(0),
        ];
        for case in &cases {
            let name = send_error_name(case);
            assert!(
                variant.contains(&format!("        {name}(")) || variant.contains(&format!("        {name},")),
                "{name}"
            );
        }
        assert!(variant.contains("        protocol-violation(protocol-violation),"));
    }

    #[test]
    fn performatives_round_trip_between_wit_and_host() {
        for p in acl::Performative::ALL {
            let w: wit::Performative = p.into();
            assert_eq!(acl::Performative::from(w), p);
        }
    }
}
