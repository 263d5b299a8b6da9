//! A batch's view of the bindings: the committed table with the staged (not yet durable) changes on top.

use crate::control::journal::Record;
use crate::control::registrar::BindingStore;
use msm_table::{Binding, TableError, TableWriter};
use std::collections::HashMap;

/// The current batch's changes, decided and journaled but not yet durable: the registrar
/// reads through them, the workers do not see them.
#[derive(Default)]
pub(super) struct Staged {
    /// Home -> its binding after every change decided and not yet in the table (the
    /// open batch's and those of the batches waiting for their commit).
    pub(super) overlay: HashMap<u32, Staging>,
    /// The open batch's changes in decision order (applied to the table after its
    /// commit).
    pub(super) records: Vec<Record>,
    /// Homes in `overlay` that the table does not hold (they count against
    /// `max_bindings`).
    pub(super) inserts: usize,
}

/// A staged binding: the last change of its home, by which batch, and whether the
/// table lacked the home when it was staged.
#[derive(Debug, Clone, Copy)]
pub(super) struct Staging {
    pub(super) binding: Binding,
    pub(super) batch: u64,
    pub(super) inserted: bool,
}

/// The registrar's view during a batch: the committed table with every staged change on
/// top.
pub(super) struct StagedView<'a> {
    pub(super) table: &'a TableWriter,
    pub(super) staged: &'a mut Staged,
    pub(super) batch: u64,
}

impl BindingStore for StagedView<'_> {
    fn get(&self, home: u32) -> Option<Binding> {
        match self.staged.overlay.get(&home) {
            Some(s) => Some(s.binding),
            None => self.table.get(home),
        }
    }

    fn upsert(&mut self, b: Binding) -> Result<(), TableError> {
        let inserted = match self.staged.overlay.get(&b.home) {
            Some(s) => s.inserted,
            None => self.table.get(b.home).is_none(),
        };
        let new = inserted && !self.staged.overlay.contains_key(&b.home);
        check_upsert(self.table, b.home, b.coa, new, self.staged.inserts)?;
        self.staged.overlay.insert(
            b.home,
            Staging {
                binding: b,
                batch: self.batch,
                inserted,
            },
        );
        self.staged.inserts += usize::from(new);
        Ok(())
    }
}

/// The checks [`TableWriter::upsert`] would make, without changing the table: a valid
/// home, a non-zero care-of address, and for a new binding (`insert`) room for one more
/// (`pending_inserts` bindings are already promised to earlier changes).
pub(super) fn check_upsert(
    table: &TableWriter,
    home: u32,
    coa: Option<u32>,
    insert: bool,
    pending_inserts: usize,
) -> Result<(), TableError> {
    if !msm_table::is_valid_home(home) {
        return Err(TableError::InvalidKey);
    }
    if coa == Some(0) {
        return Err(TableError::InvalidCareOf);
    }
    if insert && table.len() + pending_inserts >= table.max_bindings() {
        return Err(TableError::Full);
    }
    Ok(())
}
