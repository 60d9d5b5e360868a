//! The transaction table: a slab of slots with generations, so handles are two integers and
//! lookups by handle need no hashing.

use crate::key::TxId;
use crate::transaction::Transaction;

#[derive(Debug)]
struct Slot {
    generation: u32,
    tx: Option<Transaction>,
}

#[derive(Debug, Default)]
pub(crate) struct Slab {
    slots: Vec<Slot>,
    free: Vec<u32>,
    len: usize,
}

impl Slab {
    pub(crate) fn insert(&mut self, tx: Transaction) -> TxId {
        self.len += 1;
        if let Some(index) = self.free.pop() {
            let slot = &mut self.slots[index as usize];
            slot.tx = Some(tx);
            return TxId {
                index,
                generation: slot.generation,
            };
        }
        let index = u32::try_from(self.slots.len()).expect("fewer than 2^32 live transactions");
        self.slots.push(Slot {
            generation: 0,
            tx: Some(tx),
        });
        TxId {
            index,
            generation: 0,
        }
    }

    pub(crate) fn get(&self, id: TxId) -> Option<&Transaction> {
        match self.slots.get(id.index as usize) {
            Some(Slot {
                generation,
                tx: Some(tx),
            }) if *generation == id.generation => Some(tx),
            _ => None,
        }
    }

    pub(crate) fn get_mut(&mut self, id: TxId) -> Option<&mut Transaction> {
        match self.slots.get_mut(id.index as usize) {
            Some(Slot {
                generation,
                tx: Some(tx),
            }) if *generation == id.generation => Some(tx),
            _ => None,
        }
    }

    pub(crate) fn remove(&mut self, id: TxId) -> Option<Transaction> {
        let slot = self.slots.get_mut(id.index as usize)?;
        if slot.generation != id.generation {
            return None;
        }
        let tx = slot.tx.take()?;
        slot.generation = slot.generation.wrapping_add(1);
        self.free.push(id.index);
        self.len -= 1;
        Some(tx)
    }

    pub(crate) fn len(&self) -> usize {
        self.len
    }
}
