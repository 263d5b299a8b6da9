//! TODO doc
pub mod rcu;
mod region;
mod table;

pub use rcu::{Limbo, Rcu, RcuGuard, RcuReader};
pub use table::{
    is_valid_home, Binding, ExpireProgress, HashSeed, Lookup, TableConfig, TableError, TableHandle,
    TableStats, TableView, TableWriter, Upsert, SLOTS_PER_BUCKET,
};
#[doc(hidden)]
pub use table::POISON_WORD;
