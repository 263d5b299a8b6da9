//! Hot standby on etcd (`docs/cluster.md`): the pure core (entry encoding, roles, the standby's position, the replicated log) and the etcd thread.
//!
//! Nothing here runs without a `[cluster]` section in the configuration.

pub mod etcd;
pub mod follower;
pub mod replicated;
pub mod role;
pub mod value;

#[cfg(test)]
mod replicated_tests;

use crate::control::journal::{CompactionEvent, Journal, Record};
use crate::control::service::DurableLog;
use replicated::ReplicatedLog;

/// Where the MSM's binding changes become durable: the local journal alone (a single
/// box), or the local journal and the shard's log in etcd.
pub enum MsmLog {
    Local(Journal),
    Replicated(ReplicatedLog<Journal, etcd::EtcdReplicator>),
}

impl MsmLog {
    /// The local journal.
    pub fn journal(&self) -> &Journal {
        match self {
            MsmLog::Local(j) => j,
            MsmLog::Replicated(r) => r.local(),
        }
    }

    pub fn replicated(&self) -> Option<&ReplicatedLog<Journal, etcd::EtcdReplicator>> {
        match self {
            MsmLog::Local(_) => None,
            MsmLog::Replicated(r) => Some(r),
        }
    }
}

macro_rules! both {
    ($self:ident, $l:ident => $e:expr) => {
        match $self {
            MsmLog::Local($l) => $e,
            MsmLog::Replicated($l) => $e,
        }
    };
}

impl DurableLog for MsmLog {
    fn append(&mut self, rec: &Record) {
        both!(self, l => DurableLog::append(l, rec))
    }
    fn append_local(&mut self, rec: &Record) {
        both!(self, l => DurableLog::append_local(l, rec))
    }
    fn pending(&self) -> usize {
        both!(self, l => DurableLog::pending(l))
    }
    fn begin_commit(&mut self) -> std::io::Result<Option<u64>> {
        both!(self, l => DurableLog::begin_commit(l))
    }
    fn poll_commit(&mut self, wait: bool) -> Option<(u64, std::io::Result<()>)> {
        both!(self, l => DurableLog::poll_commit(l, wait))
    }
    fn commit(&mut self) -> std::io::Result<()> {
        both!(self, l => DurableLog::commit(l))
    }
    fn log_bytes(&self) -> u64 {
        both!(self, l => DurableLog::log_bytes(l))
    }
    fn maybe_compact(&mut self, threshold: u64) -> CompactionEvent {
        both!(self, l => DurableLog::maybe_compact(l, threshold))
    }
}
