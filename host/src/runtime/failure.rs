//! Why a call into an agent failed: one [`FailureReason`] per cause, mapped
//! once to the string that travels in `failure` replies, dead letters,
//! `caxton agents --json` and `/metrics`, and the classification of a
//! wasmtime error into one of them by its type.

use crate::capability::baseline::BlockedPastDeadline;
use crate::policy::Limits;
use serde::Serialize;
use std::fmt;
use wasmtime::Trap;

/// Every reason a call into an agent fails (ordered by wire string).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(into = "&'static str")]
pub enum FailureReason {
    /// The event used more CPU (fuel) than its budget.
    CpuLimit,
    /// The event ran past its wall-clock deadline.
    Deadline,
    /// The guest's export returned an error.
    HandlerError,
    /// The event made more host calls than allowed.
    HostCallLimit,
    /// A host function panicked while the agent ran.
    HostPanic,
    /// A virtual agent's instance could not start: instantiating it or its `init` failed.
    InitFailed,
    /// The instance tried to grow its memory past its limit.
    MemoryLimit,
    /// The guest passed the host more data in one call than allowed.
    MessageTooLarge,
    /// The agent failed too often and refuses messages until redeployed.
    Quarantined,
    /// The agent was removed before it handled the message.
    Removed,
    /// The guest held more resource handles than allowed.
    ResourceLimit,
    /// The guest trapped (unreachable, stack overflow, out-of-bounds access…).
    Trap,
}

impl FailureReason {
    /// Every reason, in wire-string order.
    pub const ALL: [FailureReason; 12] = [
        FailureReason::CpuLimit,
        FailureReason::Deadline,
        FailureReason::HandlerError,
        FailureReason::HostCallLimit,
        FailureReason::HostPanic,
        FailureReason::InitFailed,
        FailureReason::MemoryLimit,
        FailureReason::MessageTooLarge,
        FailureReason::Quarantined,
        FailureReason::Removed,
        FailureReason::ResourceLimit,
        FailureReason::Trap,
    ];

    /// The reason as it travels on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            FailureReason::HandlerError => "handler-error",
            FailureReason::Deadline => "deadline",
            FailureReason::CpuLimit => "cpu-limit",
            FailureReason::MemoryLimit => "memory-limit",
            FailureReason::HostCallLimit => "host-call-limit",
            FailureReason::MessageTooLarge => "message-too-large",
            FailureReason::ResourceLimit => "resource-limit",
            FailureReason::Trap => "trap",
            FailureReason::HostPanic => "host-panic",
            FailureReason::InitFailed => "init-failed",
            FailureReason::Quarantined => "quarantined",
            FailureReason::Removed => "removed",
        }
    }

    /// Whether the instance is unusable after this failure and must be replaced.
    pub fn poisons(self) -> bool {
        !matches!(self, FailureReason::HandlerError | FailureReason::Quarantined | FailureReason::Removed)
    }
}

impl From<FailureReason> for &'static str {
    fn from(reason: FailureReason) -> &'static str {
        reason.as_str()
    }
}

impl fmt::Display for FailureReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a call into the agent did not complete.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct CallFailure {
    /// The cause.
    pub reason: FailureReason,
    /// A sentence naming it.
    pub message: String,
    /// The error wasmtime raised, when there was one.
    #[source]
    pub source: Option<wasmtime::Error>,
}

impl CallFailure {
    /// A failure with no underlying error. `message` often quotes the guest (the error it
    /// returned), so it is kept [neutralised](crate::printable::neutralise), on one line:
    /// it goes to logs, dead letters and the sender's `failure`.
    pub fn new(reason: FailureReason, message: String) -> CallFailure {
        CallFailure { reason, message: crate::printable::neutralise(&message), source: None }
    }

    /// Whether the instance must be replaced.
    pub fn poisoned(&self) -> bool {
        self.reason.poisons()
    }
}

/// The error a call hook raises when an agent makes too many host calls.
#[derive(Debug, thiserror::Error)]
#[error("host-call limit of {0} per message exceeded")]
pub struct HostCallLimit(pub u64);

/// What the store knew when a call failed, beside the error itself.
pub struct Observed {
    /// The memory limiter refused a growth during the call.
    pub memory_refused: bool,
    /// The memory limit in bytes.
    pub memory_limit: usize,
    /// Most resource handles an agent may hold.
    pub max_resources: usize,
}

/// Turn a wasmtime error into a failure with its reason, by the error's type.
pub fn classify(e: wasmtime::Error, observed: &Observed, limits: &Limits) -> CallFailure {
    let (reason, message) = reason_of(&e, observed, limits);
    CallFailure { reason, message: crate::printable::neutralise(&message), source: Some(e) }
}

fn reason_of(e: &wasmtime::Error, observed: &Observed, limits: &Limits) -> (FailureReason, String) {
    if observed.memory_refused {
        return (FailureReason::MemoryLimit, format!("memory limit of {} bytes exceeded", observed.memory_limit));
    }
    if let Some(limit) = e.downcast_ref::<HostCallLimit>() {
        return (FailureReason::HostCallLimit, limit.to_string());
    }
    if e.downcast_ref::<wasmtime::component::ResourceTableError>().is_some() {
        let message = format!("the agent holds more than {} resource handles", observed.max_resources);
        return (FailureReason::ResourceLimit, message);
    }
    if hostcall_fuel_exhausted(e) {
        let message = format!(
            "the agent passed the host more data in one call than allowed (message limit {} bytes)",
            limits.message_bytes
        );
        return (FailureReason::MessageTooLarge, message);
    }
    let deadline = limits.deadline_micros;
    if e.downcast_ref::<BlockedPastDeadline>().is_some() {
        return (
            FailureReason::Deadline,
            format!("deadline of {deadline} µs per message exceeded while blocked in a host call"),
        );
    }
    match e.downcast_ref::<Trap>() {
        Some(Trap::Interrupt) => (FailureReason::Deadline, format!("deadline of {deadline} µs per message exceeded")),
        Some(Trap::OutOfFuel) => {
            (FailureReason::CpuLimit, format!("CPU limit of {} µs per message exceeded", limits.cpu_micros_per_message))
        }
        Some(Trap::StackOverflow) => (FailureReason::Trap, "the agent overflowed its stack".into()),
        Some(trap) => (FailureReason::Trap, format!("the agent trapped: {trap}")),
        // the cause itself, without the wasm backtrace wasmtime wraps it in (the guest's
        // internals are not the sender's business; the host log has the whole error)
        None => (FailureReason::Trap, format!("the agent failed: {}", e.root_cause())),
    }
}

/// Whether wasmtime refused to lift a host call's arguments because they
/// exceed the store's hostcall fuel (`Store::set_hostcall_fuel`). wasmtime
/// raises this as its own unit struct `HostcallFuelExhausted`, which it does
/// not export, so it is recognised by its type's name (its `Debug` form), not
/// by the message it prints.
fn hostcall_fuel_exhausted(e: &wasmtime::Error) -> bool {
    e.chain().any(|cause| format!("{cause:?}") == "HostcallFuelExhausted")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_reason_has_its_own_wire_string_and_all_lists_them_in_order() {
        let strings: Vec<&str> = FailureReason::ALL.iter().map(|r| r.as_str()).collect();
        let mut sorted = strings.clone();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(strings, sorted, "ALL is sorted by wire string and has no duplicate");
        let mut by_ord = FailureReason::ALL.to_vec();
        by_ord.sort();
        assert_eq!(by_ord, FailureReason::ALL, "the order of the enum is that of the wire strings");
        assert_eq!(serde_json::to_string(&FailureReason::CpuLimit).unwrap(), "\"cpu-limit\"");
    }

    #[test]
    fn only_handler_errors_quarantine_and_removal_leave_the_instance_usable() {
        let usable: Vec<FailureReason> = FailureReason::ALL.into_iter().filter(|r| !r.poisons()).collect();
        assert_eq!(usable, [FailureReason::HandlerError, FailureReason::Quarantined, FailureReason::Removed]);
    }

    #[test]
    fn errors_are_classified_by_their_type() {
        let observed = Observed { memory_refused: false, memory_limit: 1, max_resources: 4 };
        let limits = Limits::default();
        let reason = |e: wasmtime::Error| classify(e, &observed, &limits).reason;
        assert_eq!(reason(wasmtime::Error::new(Trap::OutOfFuel)), FailureReason::CpuLimit);
        assert_eq!(reason(wasmtime::Error::new(Trap::Interrupt)), FailureReason::Deadline);
        assert_eq!(reason(wasmtime::Error::new(HostCallLimit(3))), FailureReason::HostCallLimit);
        assert_eq!(reason(wasmtime::Error::new(Trap::UnreachableCodeReached)), FailureReason::Trap);
        // a message that merely reads like a limit is still a trap
        assert_eq!(
            reason(wasmtime::format_err!("fuel allocated for hostcalls has been exhausted")),
            FailureReason::Trap
        );
    }
}
