//! Caxton runs untrusted agents as WebAssembly components (WASI 0.2) on wasmtime.
//!
//! Agents exchange FIPA ACL messages, keep state in a kv-store, set timers and
//! write logs: four capabilities, each a WIT interface in `wit/`. A deployment
//! file lists the agents and grants each one capabilities and limits; the host
//! links only what is granted, so an import that is not granted refuses the
//! deploy with an error that names it.
//!
//! Data flows one way: [`http`] and [`capability::messaging`] hand messages to
//! the [`bus`], which queues them in the receivers' mailboxes; the [`runtime`]
//! runs each agent on its scheduler, one event at a time from its mailbox
//! and calls the component's exports.
//!
//! Modules are layered: a module uses only modules listed before its own line
//! here, so no two of them use each other (`tests/all/layering.rs` checks it).
//!
//! 1. Leaves, which use nothing else in the crate: [`acl`] (the message),
//!    [`interfaces`] (what Caxton serves and what an import means), [`glob`],
//!    [`rate`], [`ids`], [`component`], [`datadir`], [`name_locks`], [`blocking`],
//!    [`printable`] (others' text made safe to print).
//! 2. [`protocol`] (the FIPA interaction protocols the host enforces),
//!    [`events`] (the event stream and agents' log rings) and [`traces`]
//!    (OpenTelemetry spans of handled events and their export); all use `acl`.
//! 3. [`policy`] (deployment files and grants), [`bus`] and [`store`].
//! 4. [`bindings`] (the WIT world and its conversions) and [`journal`].
//! 5. [`capability`], which serves the granted interfaces to an agent.
//! 6. [`runtime`], [`registry`] (what is deployed, on disk) and [`cluster`]
//!    (the other hosts, reached over NATS).
//! 7. [`platform`], then [`http`], then [`cli`].
//!
//! A helper two modules share goes down into a leaf, never sideways: `policy`
//! reads [`interfaces`] and may not use `capability` or `runtime`.
#![deny(missing_docs)]

pub mod acl;
pub mod bindings;
pub mod blocking;
pub mod bus;
pub mod capability;
pub mod cli;
pub mod cluster;
pub mod component;
pub mod datadir;
pub mod events;
pub mod glob;
pub mod http;
pub mod ids;
pub mod interfaces;
pub mod journal;
pub mod name_locks;
pub mod platform;
pub mod policy;
pub mod printable;
pub mod protocol;
pub mod rate;
pub mod registry;
pub mod runtime;
pub mod store;
pub mod traces;
