//! The `caxton:agent/guest` interface an agent exports, checked function by
//! function against the host's own bindings of it before anything is
//! instantiated, so that a refusal names the function and what is wrong.
//!
//! wasmtime checks export types only when an instance's functions are looked
//! up (its public type reflection cannot compare two types), which names no
//! function. Here each function's type goes through the same check that
//! lookup runs (`ComponentFunc::typecheck`, which wasmtime keeps out of its
//! documented API) with the Rust types the bindings use, so this check and a
//! deploy cannot disagree.

use super::RuntimeError;
use crate::bindings::caxton::agent::types::{AgentProfile, Message};
use wasmtime::component::types::{ComponentFunc, ComponentItem};
use wasmtime::component::{Component, ComponentNamedList, Lift, Lower};
use wasmtime::Engine;

/// The exported interface every agent implements.
pub const GUEST: &str = "caxton:agent/guest@0.1.0";

/// The functions of [`GUEST`], as `wit/guest.wit` declares them.
pub const GUEST_FUNCTIONS: [&str; 5] = ["init", "handle-message", "handle-timer", "shutdown", "capabilities"];

type Outcome = (Result<(), String>,);

/// Check `func` (the export `function` of [`GUEST`]) against the bindings' types.
fn typecheck(component: &Component, function: &str, func: &ComponentFunc) -> wasmtime::Result<()> {
    fn check<P, R>(component: &Component, func: &ComponentFunc) -> wasmtime::Result<()>
    where
        P: ComponentNamedList + Lower,
        R: ComponentNamedList + Lift,
    {
        func.typecheck::<P, R>(&component.component_type().instance_type())
    }
    match function {
        "init" => check::<(), Outcome>(component, func),
        "handle-message" => check::<(Message,), Outcome>(component, func),
        "handle-timer" => check::<(u64,), Outcome>(component, func),
        "shutdown" => check::<(), ()>(component, func),
        "capabilities" => check::<(), (AgentProfile,)>(component, func),
        other => Err(wasmtime::format_err!("`{other}` is not a function of `{GUEST}`")),
    }
}

/// Refuse `component` (agent `agent`) unless it exports every function of
/// [`GUEST`] with the type the host calls it with.
pub fn check_guest(engine: &Engine, component: &Component, agent: &str) -> Result<(), RuntimeError> {
    let ty = component.component_type();
    let Some(ComponentItem::ComponentInstance(guest)) = ty.get_export(engine, GUEST).map(|e| e.ty) else {
        let found = Vec::new();
        return Err(RuntimeError::MissingExports { agent: agent.to_string(), missing: vec![GUEST.to_string()], found });
    };
    for function in GUEST_FUNCTIONS {
        let fault = |problem: String| RuntimeError::GuestFunction {
            agent: agent.to_string(),
            export: GUEST.to_string(),
            function: function.to_string(),
            problem,
        };
        match guest.get_export(engine, function).map(|e| e.ty) {
            Some(ComponentItem::ComponentFunc(func)) => {
                typecheck(component, function, &func).map_err(|e| fault(format!("has the wrong type: {e:#}")))?
            }
            Some(_) => return Err(fault("is not a function".into())),
            None => return Err(fault("is missing".into())),
        }
    }
    Ok(())
}
