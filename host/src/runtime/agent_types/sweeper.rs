//! The sweeper of an agent type: passivates the instances that have had no
//! event for the type's `idle-after-ms` (or that the cluster places on another
//! host now), and makes room under `max-active` for starts waiting for it.

use super::{lock, AgentType, AgentTypes};
use crate::runtime::cell::{AgentCell, Turn};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Weak};
use std::time::Duration;
use tokio::time::Instant;

/// How soon the sweeper looks again for idle instances to make way when starts wait for room and none was idle.
const EVICT_RETRY: Duration = Duration::from_millis(10);

/// Events an instance has handled.
fn events(cell: &AgentCell) -> u64 {
    let stats = lock(&cell.env.stats);
    stats.messages + stats.timers
}

/// Passivate the instances of a type that have had no event for its
/// `idle-after-ms`, and make room under `max-active` for starts waiting for
/// it: the least recently used idle instances go, one per waiting start
/// (less those already going); when too few are idle, look again soon.
pub(super) async fn sweep(types: Weak<AgentTypes>, t: Weak<AgentType>) {
    let every = match t.upgrade() {
        Some(t) => (t.spec.idle_after / 4).clamp(Duration::from_millis(5), Duration::from_secs(1)),
        None => return,
    };
    let (mut swept, mut short) = (Instant::now(), false);
    loop {
        let Some(agent_type) = t.upgrade() else { return };
        let pause = if short { EVICT_RETRY } else { every };
        tokio::select! {
            _ = tokio::time::sleep(pause) => {}
            _ = agent_type.need_room.notified() => {}
        }
        let Some(types) = types.upgrade() else { return };
        let (waiting, retiring) =
            (agent_type.waiting.load(Ordering::SeqCst), agent_type.retiring.load(Ordering::SeqCst));
        let wanted = waiting.saturating_sub(retiring);
        short = wanted > 0 && types.evict(&agent_type, wanted) < wanted;
        if swept.elapsed() >= every {
            swept = Instant::now();
            passivate_idle(&types, &agent_type);
        }
    }
}

/// Passivate the instances of `t` idle for its `idle-after-ms`, and the idle
/// ones the cluster places on another host now.
fn passivate_idle(types: &AgentTypes, t: &Arc<AgentType>) {
    let now = Instant::now();
    let mut instances = lock(&t.instances);
    let mut idle = Vec::new();
    for (key, active) in instances.iter_mut() {
        let (cell, count) = (&active.cell, events(&active.cell));
        let busy = cell.turn() != Turn::Idle || cell.mailbox().depth() > 0 || !cell.mailbox().is_empty();
        if busy {
            active.seen = (count, now);
        } else if cell.not_started()
            || (count == active.seen.0 && now.duration_since(active.seen.1) >= t.spec.idle_after)
            || types.parts.bus.placed_elsewhere(&cell.env.spec.name)
        {
            idle.push(key.clone());
        } else if count != active.seen.0 {
            active.seen = (count, now);
        }
    }
    for key in idle {
        types.passivate(t, &mut instances, &key);
    }
}
