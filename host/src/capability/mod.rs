//! The four capabilities an agent can be granted, and the one function that links them.
//!
//! Each capability is a WIT interface of `caxton:agent` with a module here named
//! after it. [`link_granted`] is the only place imports are added to an agent's
//! linker: it links the inert WASI [`baseline`], the function-free `types`
//! interface, and each capability whose grant is present — nothing else.
//! Which interfaces exist and what an import means is [`crate::interfaces`]'s
//! to say; this module serves them.

pub mod baseline;
pub mod keyvalue;
pub mod kv_store;
pub mod logging;
pub mod messaging;
pub mod timers;

use crate::interfaces::{Capability, PACKAGE, VERSION};
use crate::policy::Grants;
use wasmtime::component::{HasData, Linker};

/// The per-agent state every capability needs to reach from the store.
pub trait AgentHost: wasmtime_wasi::WasiView + 'static {
    /// State of the `messaging` capability.
    fn messaging(&mut self) -> &mut messaging::MessagingCtx;
    /// State of the `timers` capability.
    fn timers(&mut self) -> &mut timers::TimersCtx;
    /// State of the `kv-store` capability.
    fn kv_store(&mut self) -> &mut kv_store::KvStoreCtx;
    /// State of the `logging` capability.
    fn logging(&mut self) -> &mut logging::LoggingCtx;
    /// The `kv-store` capability with the resource table, for `wasi:keyvalue`.
    fn keyvalue(&mut self) -> keyvalue::KeyValue<'_>;
    /// `wasi:io/poll` bounded by the current message's deadline.
    fn deadline_poll(&mut self) -> baseline::DeadlinePoll<'_>;
}

/// Marker for capability contexts borrowed straight out of the store.
struct Borrowed<C: 'static>(std::marker::PhantomData<C>);

impl<C: 'static> HasData for Borrowed<C> {
    type Data<'a> = &'a mut C;
}

/// Marker for the `wasi:keyvalue` view (kv-store plus resource table).
struct KeyValueData;

impl HasData for KeyValueData {
    type Data<'a> = keyvalue::KeyValue<'a>;
}

/// Link the baseline, `types`, and every granted capability — and nothing else.
pub fn link_granted<T: AgentHost>(linker: &mut Linker<T>, grants: &Grants) -> wasmtime::Result<()> {
    use crate::bindings::caxton::agent as wit;
    baseline::add_to_linker(linker)?;
    linker.instance(&format!("{PACKAGE}/types@{VERSION}"))?;
    for capability in grants.granted() {
        match capability {
            Capability::Messaging => {
                wit::messaging::add_to_linker::<T, Borrowed<messaging::MessagingCtx>>(linker, T::messaging)?
            }
            Capability::Timers => wit::timers::add_to_linker::<T, Borrowed<timers::TimersCtx>>(linker, T::timers)?,
            Capability::KvStore => {
                use crate::bindings::standard::wasi::keyvalue as std_kv;
                wit::kv_store::add_to_linker::<T, Borrowed<kv_store::KvStoreCtx>>(linker, T::kv_store)?;
                std_kv::store::add_to_linker::<T, KeyValueData>(linker, T::keyvalue)?;
                std_kv::atomics::add_to_linker::<T, KeyValueData>(linker, T::keyvalue)?;
                std_kv::batch::add_to_linker::<T, KeyValueData>(linker, T::keyvalue)?;
            }
            Capability::Logging => {
                wit::logging::add_to_linker::<T, Borrowed<logging::LoggingCtx>>(linker, T::logging)?;
                crate::bindings::standard::wasi::logging::logging::add_to_linker::<T, Borrowed<logging::LoggingCtx>>(
                    linker,
                    T::logging,
                )?;
            }
        }
    }
    Ok(())
}
