//! Caxton's integration tests: real components, the real runtime, the real binary.
//!
//! Components come from `just build-guests` (`components/*.wasm`); hostile
//! fixtures are WAT compiled in the test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing, missing_docs)]

mod admission;
mod agents;
mod api;
mod applying;
mod bus;
mod cluster;
mod components;
mod composition;
mod conformance;
mod contract_net;
mod conversations;
mod dashboard;
mod durability;
mod failures;
mod filesystem;
mod layering;
mod least_privilege;
mod lifecycle;
mod limits;
mod observing;
mod policy_gate;
mod process;
mod protocols;
mod scaffold;
mod scheduling;
mod standalone;
mod standard;
mod supervision;
mod support;
mod traces;
mod trust;
mod virtual_agents;
mod virtual_cluster;
mod wasi_baseline;
mod wit_coverage;
