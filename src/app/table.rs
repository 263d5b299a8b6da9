//! The binding table at start: preloaded bindings, then the journal's live bindings (and
//! the registrar's replay state), published before any worker takes traffic.

use super::StartError;
use crate::config::Config;
use crate::control::journal::Replay;
use crate::control::preload::Preload;
use crate::control::registrar::{Now, Registrar};
use msm_table::{Rcu, TableConfig, TableWriter};
use std::net::Ipv4Addr;
use std::sync::Arc;
use std::time::Instant;
use tracing::info;

/// Builds the table writer, fills it and publishes the first generation.
pub(super) fn build(
    cfg: &Config,
    rcu: Arc<Rcu>,
    preload: &[Preload],
    replay: Option<Replay>,
    registrar: Option<&mut Registrar>,
) -> Result<TableWriter, StartError> {
    let mut tc = TableConfig::new(cfg.max_bindings as usize);
    tc.initial_capacity = cfg.table_capacity.min(cfg.max_bindings) as usize;
    let mut writer = TableWriter::new(tc, rcu).map_err(StartError::Table)?;
    let t0 = Instant::now();
    for p in preload {
        writer
            .upsert(p.home, p.coa, p.msisdn, u32::MAX)
            .map_err(|source| StartError::Preload {
                home: Ipv4Addr::from(p.home),
                source,
            })?;
    }
    info!("{} bindings preloaded in {:?}", preload.len(), t0.elapsed());
    if let Some(r) = &replay {
        replay_journal(&mut writer, r, registrar)?;
    }
    drop(replay);
    writer.publish();
    info!(
        "table published: {} bindings, {} bytes",
        writer.len(),
        writer.memory_bytes()
    );
    Ok(writer)
}

/// Restores the registrar's last Identification per subscriber and the bindings still
/// live now.
fn replay_journal(
    writer: &mut TableWriter,
    r: &Replay,
    registrar: Option<&mut Registrar>,
) -> Result<(), StartError> {
    let t = Instant::now();
    let now = Now::system().unix_s.min(u32::MAX as u64 - 1) as u32;
    if let Some(reg) = registrar {
        for rec in &r.records {
            if rec.last_ident != 0 && rec.msisdn != 0 {
                reg.restore_ident(rec.msisdn, rec.last_ident);
            }
        }
    }
    let mut restored = 0usize;
    for rec in r.live(now) {
        let b = rec.binding();
        writer
            .upsert(b.home, b.coa, b.msisdn, b.expires_at)
            .map_err(|source| StartError::Replay {
                home: Ipv4Addr::from(b.home),
                source,
            })?;
        restored += 1;
    }
    info!(
        "journal: {restored} live bindings restored in {:?} (cut {} bytes)",
        t.elapsed(),
        r.cut_bytes
    );
    Ok(())
}
