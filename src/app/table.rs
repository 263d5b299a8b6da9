//! The binding table at start: the journal's live bindings (and the registrar's replay
//! state), then a preload file not applied before, published before any worker takes traffic.
//!
//! With a journal, a preload file is applied once per content (see
//! [`crate::control::preload`]): its bindings are journalled and committed, then the
//! marker with its SHA-256 is written; a file already applied is skipped, so what
//! happened to its bindings since (unbind, expiry, cancel, registration) stands.

use super::StartError;
use crate::config::Config;
use crate::control::journal::{Journal, Record, Replay};
use crate::control::preload::{self, PreloadFile};
use crate::control::registrar::{Now, Registrar};
use msm_table::{Binding, Rcu, TableConfig, TableWriter};
use std::net::Ipv4Addr;
use std::sync::Arc;
use std::time::Instant;
use tracing::info;

/// Builds the table writer, fills it and publishes the first generation.
pub(super) fn build(
    cfg: &Config,
    rcu: Arc<Rcu>,
    preload: Option<&PreloadFile>,
    replay: Option<Replay>,
    journal: Option<&mut Journal>,
    mut registrar: Option<&mut Registrar>,
) -> Result<TableWriter, StartError> {
    let mut tc = TableConfig::new(cfg.max_bindings as usize);
    tc.initial_capacity = cfg.table_capacity.min(cfg.max_bindings) as usize;
    let mut writer = TableWriter::new(tc, rcu).map_err(StartError::Table)?;
    if let Some(r) = &replay {
        replay_journal(&mut writer, r, registrar.as_deref_mut())?;
    }
    drop(replay);
    if let Some(p) = preload {
        apply_preload(&mut writer, p, journal, registrar.as_deref())?;
    }
    writer.publish();
    info!(
        "table published: {} bindings, {} bytes",
        writer.len(),
        writer.memory_bytes()
    );
    Ok(writer)
}

/// Applies a preload file: every start without a journal; with one, only when its
/// content was not applied to that journal before (then journalled, committed, marked).
fn apply_preload(
    writer: &mut TableWriter,
    p: &PreloadFile,
    journal: Option<&mut Journal>,
    registrar: Option<&Registrar>,
) -> Result<(), StartError> {
    if let Some(j) = &journal {
        let dir = j.dir().to_path_buf();
        let marker_err = |source| StartError::PreloadMarker {
            path: dir.join(preload::APPLIED_FILE),
            source,
        };
        if preload::was_applied(&dir, &p.sha256).map_err(marker_err)? {
            info!(
                "table.preload: this file (sha256 {}) was applied before: not again (the journal holds what became of its {} bindings)",
                &p.sha256[..16],
                p.bindings.len()
            );
            return Ok(());
        }
    }
    let t0 = Instant::now();
    for b in &p.bindings {
        writer
            .upsert(b.home, b.coa, b.msisdn, u32::MAX)
            .map_err(|source| StartError::Preload {
                home: Ipv4Addr::from(b.home),
                source,
            })?;
    }
    let Some(j) = journal else {
        info!(
            "{} bindings preloaded in {:?} (no state_dir: at every start)",
            p.bindings.len(),
            t0.elapsed()
        );
        return Ok(());
    };
    for b in &p.bindings {
        let last = registrar.and_then(|r| r.last_ident(b.msisdn)).unwrap_or(0);
        let binding = Binding {
            home: b.home,
            coa: b.coa,
            port: 0,
            msisdn: b.msisdn,
            expires_at: u32::MAX,
        };
        j.append(&Record::upsert(&binding, last));
    }
    j.commit().map_err(StartError::PreloadCommit)?;
    let dir = j.dir().to_path_buf();
    preload::record_applied(&dir, &p.sha256).map_err(|source| StartError::PreloadMarker {
        path: dir.join(preload::APPLIED_FILE),
        source,
    })?;
    info!(
        "{} bindings preloaded and journalled in {:?} (file sha256 {}: not applied again)",
        p.bindings.len(),
        t0.elapsed(),
        &p.sha256[..16]
    );
    Ok(())
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
            .upsert_endpoint(b.home, b.coa, b.port, b.msisdn, b.expires_at)
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::control::preload::parse;

    fn ip(s: &str) -> u32 {
        u32::from(s.parse::<Ipv4Addr>().unwrap())
    }

    fn preload_file(text: &str, cfg: &Config) -> PreloadFile {
        PreloadFile {
            bindings: parse(text, &cfg.home_pools).unwrap(),
            sha256: preload::digest(text.as_bytes()),
        }
    }

    /// One start: open the journal in `dir`, build the table with `pre`; returns the
    /// table and the journal (for changes "while running").
    fn start(cfg: &Config, dir: &std::path::Path, pre: &PreloadFile) -> (TableWriter, Journal) {
        let (mut j, replay) = Journal::open(dir).unwrap();
        let (rcu, _readers) = Rcu::new(1);
        let w = build(cfg, rcu, Some(pre), Some(replay), Some(&mut j), None).unwrap();
        (w, j)
    }

    /// A preloaded binding removed (unbind/expiry) or replaced while running stays so
    /// after a restart with the same file; a changed file is applied again.
    #[test]
    fn a_preload_file_is_applied_once_per_content() {
        let cfg = Config::from_toml(crate::config::tests::GOOD).unwrap();
        let dir = std::env::temp_dir().join(format!("msm-table-preload-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let text = "192.0.2.10 203.0.113.10 491700000010\n192.0.2.11 - 491700000011\n";
        let pre = preload_file(text, &cfg);

        // First start: applied, journalled, marked.
        let (w, mut j) = start(&cfg, &dir, &pre);
        assert_eq!(w.len(), 2);
        assert!(preload::was_applied(&dir, &pre.sha256).unwrap());
        // While running: 192.0.2.10 unbound, 192.0.2.11 re-registered elsewhere.
        let b11 = Binding {
            home: ip("192.0.2.11"),
            coa: Some(ip("203.0.113.99")),
            port: 0,
            msisdn: 491700000011,
            expires_at: u32::MAX,
        };
        j.append(&Record::remove(ip("192.0.2.10"), 491700000010, 0));
        j.append(&Record::upsert(&b11, 0));
        j.commit().unwrap();
        drop((w, j));

        // Restart, same file: not applied again.
        let (w, j) = start(&cfg, &dir, &pre);
        assert_eq!(w.get(ip("192.0.2.10")), None, "removed binding came back");
        assert_eq!(
            w.get(ip("192.0.2.11")).unwrap().coa,
            Some(ip("203.0.113.99"))
        );
        assert_eq!(w.len(), 1);
        drop((w, j));

        // Restart, changed file: applied again, on top of the journal.
        let text2 = format!("{text}192.0.2.12 203.0.113.12 491700000012\n");
        let pre2 = preload_file(&text2, &cfg);
        let (w, j) = start(&cfg, &dir, &pre2);
        assert_eq!(w.len(), 3);
        assert_eq!(
            w.get(ip("192.0.2.10")).unwrap().coa,
            Some(ip("203.0.113.10"))
        );
        assert_eq!(w.get(ip("192.0.2.11")).unwrap().coa, None);
        drop((w, j));

        // ... and durably: the next restart with that file finds them in the journal.
        let (w, j) = start(&cfg, &dir, &pre2);
        assert_eq!(w.len(), 3);
        drop((w, j));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// Without a journal, the file is applied at every start.
    #[test]
    fn without_a_journal_the_preload_is_applied_every_start() {
        let cfg = Config::from_toml(crate::config::tests::GOOD).unwrap();
        let pre = preload_file("192.0.2.10 203.0.113.10 491700000010\n", &cfg);
        for _ in 0..2 {
            let (rcu, _readers) = Rcu::new(1);
            let w = build(&cfg, rcu, Some(&pre), None, None, None).unwrap();
            assert_eq!(w.len(), 1);
        }
    }
}
