//! One shard of the conversation records: the records themselves, kept in
//! place in a slab of slots, an index from conversation id to slot, and the
//! orders in which they are forgotten.
//!
//! Laid out for the message path, where a host at its cap opens a
//! conversation by forgetting its oldest: a forgotten record's slot is taken
//! by the next new one (its memory written over, nothing freed or allocated
//! for it: its names and first messages are inline), the index holds slot
//! numbers only (the ids are in the records), and the two orders hold slot
//! numbers with the slot's generation, so an entry whose record is gone is
//! told by one comparison instead of a lookup. Each slot's id hash is kept
//! beside its generation: finding, forgetting and rehashing read a record
//! only to compare an id whose hash matched, never the cold records of a
//! host at its cap.

use super::record::Record;
use hashbrown::HashTable;
use std::collections::VecDeque;

/// A record's place in the order lists: its slot, and the slot's generation
/// when it was put there (bumped each time the slot's record is forgotten).
#[derive(Debug, Clone, Copy)]
struct Ticket {
    slot: u32,
    generation: u32,
}

/// What a shard knows of a slot without reading its record.
#[derive(Debug, Clone, Copy, Default)]
struct Meta {
    /// The hash of its record's id (seeded per host, see `Conversations::shard`).
    hash: u64,
    /// Bumped each time its record is forgotten.
    generation: u32,
}

/// The record in `slot`, if one is kept there.
fn held(slots: &[Option<Record>], slot: u32) -> Option<&Record> {
    slots.get(slot as usize)?.as_ref()
}

/// The id hash of `slot`'s record.
fn hash_of(meta: &[Meta], slot: u32) -> u64 {
    meta.get(slot as usize).map_or(0, |m| m.hash)
}

/// One shard's records (see the module doc).
#[derive(Default)]
pub(super) struct Shard {
    /// Slot numbers, hashed by their record's id.
    index: HashTable<u32>,
    /// The records; `None` in a slot that is free.
    slots: Vec<Option<Record>>,
    /// Each slot's id hash and generation (apart from `slots`, so checking a
    /// ticket or a hash reads no record).
    meta: Vec<Meta>,
    /// Slots that are free.
    free: Vec<u32>,
    /// Records in the order their conversations started, oldest first (and stale tickets).
    by_age: VecDeque<Ticket>,
    /// Records of ended conversations in the order they ended (and stale tickets).
    ended: VecDeque<Ticket>,
}

impl Shard {
    /// How many records it keeps.
    pub fn len(&self) -> usize {
        self.index.len()
    }

    /// The slot of conversation `id`'s record; `hash` is the id's.
    pub fn find(&self, hash: u64, id: &str) -> Option<u32> {
        let holds =
            |slot: &u32| hash_of(&self.meta, *slot) == hash && held(&self.slots, *slot).is_some_and(|r| r.id.is(id));
        self.index.find(hash, holds).copied()
    }

    /// The record of conversation `id`; `hash` is the id's.
    pub fn get(&self, hash: u64, id: &str) -> Option<&Record> {
        held(&self.slots, self.find(hash, id)?)
    }

    /// See [`Shard::get`].
    pub fn get_mut(&mut self, hash: u64, id: &str) -> Option<&mut Record> {
        let slot = self.find(hash, id)?;
        self.at(slot)
    }

    /// The record in `slot` (from [`Shard::find`] or [`Shard::insert`]).
    pub fn at(&mut self, slot: u32) -> Option<&mut Record> {
        self.slots.get_mut(slot as usize)?.as_mut()
    }

    /// Every record, in no order.
    pub fn records(&self) -> impl Iterator<Item = &Record> {
        self.slots.iter().flatten()
    }

    /// Keep `record` (of a conversation not kept yet, whose id hashes to
    /// `hash`), after forgetting one when `cap` are kept already; returns its slot.
    pub fn insert(&mut self, hash: u64, record: Record, cap: usize, now_ms: u64) -> u32 {
        while self.len() >= cap && self.forget_one(now_ms) {}
        let slot = match self.free.pop() {
            Some(slot) => slot,
            None => {
                self.slots.push(None);
                self.meta.push(Meta::default());
                (self.slots.len() - 1) as u32
            }
        };
        if let Some(meta) = self.meta.get_mut(slot as usize) {
            meta.hash = hash;
        }
        let ticket = self.ticket(slot);
        self.by_age.push_back(ticket);
        let meta = &self.meta;
        if self.index.len() + 1 >= cap && self.index.capacity() < 2 * cap {
            // once at the cap, room for twice as many: forgetting and keeping one record at a
            // time then never fills the table with tombstones and rehashes it on the message path
            self.index.reserve(2 * cap - self.index.len(), |slot| hash_of(meta, *slot));
        }
        self.index.insert_unique(hash, slot, |slot| hash_of(meta, *slot));
        self.compact(cap);
        if let Some(place) = self.slots.get_mut(slot as usize) {
            *place = Some(record);
        }
        slot
    }

    /// Note that the conversation in `slot` ended: it is forgotten before open ones.
    pub fn ended(&mut self, slot: u32) {
        let ticket = self.ticket(slot);
        self.ended.push_back(ticket);
    }

    /// A ticket for the record now in `slot`.
    fn ticket(&self, slot: u32) -> Ticket {
        Ticket { slot, generation: self.meta.get(slot as usize).map_or(0, |m| m.generation) }
    }

    /// Forget one record: a spent one (ended) in the order they became so,
    /// else the oldest. Whether there was one to forget.
    fn forget_one(&mut self, now_ms: u64) -> bool {
        while let Some(ticket) = self.ended.pop_front() {
            // a ticket whose record is gone, or a record open again, is passed over
            if self.current(ticket).is_some_and(|r| r.is_spent(now_ms)) {
                return self.forget(ticket);
            }
        }
        while let Some(ticket) = self.by_age.pop_front() {
            if self.current(ticket).is_some() {
                return self.forget(ticket);
            }
        }
        false
    }

    /// The record `ticket` was given for, if it is still kept.
    fn current(&self, ticket: Ticket) -> Option<&Record> {
        let meta = self.meta.get(ticket.slot as usize)?;
        (meta.generation == ticket.generation).then(|| held(&self.slots, ticket.slot)).flatten()
    }

    fn forget(&mut self, ticket: Ticket) -> bool {
        let slot = ticket.slot;
        let (Some(place), Some(meta)) = (self.slots.get_mut(slot as usize), self.meta.get_mut(slot as usize)) else {
            return false;
        };
        if place.is_none() {
            return false;
        }
        // dropped where it lies: the record is cold, and moving it out would read all of it
        *place = None;
        meta.generation = meta.generation.wrapping_add(1);
        if let Ok(entry) = self.index.find_entry(meta.hash, |s| *s == slot) {
            entry.remove();
        }
        self.free.push(slot);
        true
    }

    /// Its slots, and the entries of its order lists.
    #[cfg(test)]
    pub fn footprint(&self) -> (usize, usize) {
        (self.slots.len(), self.by_age.len() + self.ended.len())
    }

    /// Drop the stale tickets at the front of the order lists (the oldest
    /// records are the first forgotten, so the fronts go stale first: a few
    /// each time, never a long sweep), and every stale one once a list holds
    /// twice as many as `cap` (records forgotten out of their order).
    fn compact(&mut self, cap: usize) {
        let meta = &self.meta;
        let live = |t: &Ticket| meta.get(t.slot as usize).is_some_and(|m| m.generation == t.generation);
        for tickets in [&mut self.by_age, &mut self.ended] {
            while tickets.front().is_some_and(|t| !live(t)) {
                tickets.pop_front();
            }
            if tickets.len() > 2 * cap + 16 {
                tickets.retain(live);
            }
        }
    }
}
