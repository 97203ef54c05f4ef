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
//! told by one comparison instead of a lookup.

use super::record::Record;
use foldhash::fast::RandomState;
use hashbrown::HashTable;
use std::collections::VecDeque;
use std::hash::BuildHasher;

/// A record's place in the order lists: its slot, and the slot's generation
/// when it was put there (bumped each time the slot's record is forgotten).
#[derive(Debug, Clone, Copy)]
struct Ticket {
    slot: u32,
    generation: u32,
}

/// The record in `slot`, if one is kept there.
fn held(slots: &[Option<Record>], slot: u32) -> Option<&Record> {
    slots.get(slot as usize)?.as_ref()
}

/// One shard's records (see the module doc).
#[derive(Default)]
pub(super) struct Shard {
    /// Slot numbers, hashed by their record's id.
    index: HashTable<u32>,
    /// The records; `None` in a slot that is free.
    slots: Vec<Option<Record>>,
    /// Each slot's generation (apart from `slots`, so checking a ticket reads no record).
    generations: Vec<u32>,
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

    /// The slot of conversation `id`'s record.
    pub fn find(&self, hasher: &RandomState, id: &str) -> Option<u32> {
        let holds = |slot: &u32| held(&self.slots, *slot).is_some_and(|r| *r.id == *id);
        self.index.find(hasher.hash_one(id), holds).copied()
    }

    /// The record of conversation `id`.
    pub fn get(&self, hasher: &RandomState, id: &str) -> Option<&Record> {
        held(&self.slots, self.find(hasher, id)?)
    }

    /// See [`Shard::get`].
    pub fn get_mut(&mut self, hasher: &RandomState, id: &str) -> Option<&mut Record> {
        let slot = self.find(hasher, id)?;
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

    /// Keep `record` (of a conversation not kept yet), after forgetting one
    /// when `cap` are kept already; returns its slot.
    pub fn insert(&mut self, hasher: &RandomState, record: Record, cap: usize, now_ms: u64) -> u32 {
        while self.len() >= cap && self.forget_one(hasher, now_ms) {}
        let hash = hasher.hash_one(&*record.id);
        let slot = match self.free.pop() {
            Some(slot) => slot,
            None => {
                self.slots.push(None);
                self.generations.push(0);
                (self.slots.len() - 1) as u32
            }
        };
        let ticket = self.ticket(slot);
        self.by_age.push_back(ticket);
        let slots = &self.slots;
        let rehash = |slot: &u32| held(slots, *slot).map_or(0, |r| hasher.hash_one(&*r.id));
        self.index.insert_unique(hash, slot, rehash);
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
        Ticket { slot, generation: self.generations.get(slot as usize).copied().unwrap_or_default() }
    }

    /// Forget one record: a spent one (ended) in the order they became so,
    /// else the oldest. Whether there was one to forget.
    fn forget_one(&mut self, hasher: &RandomState, now_ms: u64) -> bool {
        while let Some(ticket) = self.ended.pop_front() {
            // a ticket whose record is gone, or a record open again, is passed over
            if self.current(ticket).is_some_and(|r| r.is_spent(now_ms)) {
                return self.forget(hasher, ticket);
            }
        }
        while let Some(ticket) = self.by_age.pop_front() {
            if self.current(ticket).is_some() {
                return self.forget(hasher, ticket);
            }
        }
        false
    }

    /// The record `ticket` was given for, if it is still kept.
    fn current(&self, ticket: Ticket) -> Option<&Record> {
        let generation = self.generations.get(ticket.slot as usize)?;
        (*generation == ticket.generation).then(|| held(&self.slots, ticket.slot)).flatten()
    }

    fn forget(&mut self, hasher: &RandomState, ticket: Ticket) -> bool {
        let slot = ticket.slot;
        let Some(place) = self.slots.get_mut(slot as usize) else { return false };
        let Some(hash) = place.as_ref().map(|record| hasher.hash_one(&*record.id)) else { return false };
        // dropped where it lies: the record is cold, and moving it out would read all of it
        *place = None;
        if let Ok(entry) = self.index.find_entry(hash, |s| *s == slot) {
            entry.remove();
        }
        if let Some(generation) = self.generations.get_mut(slot as usize) {
            *generation = generation.wrapping_add(1);
        }
        self.free.push(slot);
        true
    }

    /// Its slots, and the entries of its order lists.
    #[cfg(test)]
    pub fn footprint(&self) -> (usize, usize) {
        (self.slots.len(), self.by_age.len() + self.ended.len())
    }

    /// Drop stale tickets once the order lists hold twice as many as `cap`.
    fn compact(&mut self, cap: usize) {
        let generations = &self.generations;
        let live = |t: &Ticket| generations.get(t.slot as usize) == Some(&t.generation);
        for tickets in [&mut self.by_age, &mut self.ended] {
            if tickets.len() > 2 * cap + 16 {
                tickets.retain(live);
            }
        }
    }
}
