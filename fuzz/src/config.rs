//! Target `config`: `Config::from_toml` of arbitrary text (bytes that are not UTF-8 are
//! replaced).
//!
//! Properties: on success, the WWAN and Internet port indexes name ports facing those
//! roles, every MTU is in 576..=9000 and every worker queue names an existing port; on
//! failure, the error names a field.

use msm::config::Config;

pub fn run(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    match Config::from_toml(&text) {
        Ok(c) => {
            assert!(c.ports[c.wwan_port].role.faces_wwan());
            assert!(c.ports[c.internet_port].role.faces_internet());
            for p in &c.ports {
                assert!((576..=9000).contains(&p.mtu), "mtu {}", p.mtu);
                let _ = p.subnet();
            }
            for w in &c.workers {
                for &(p, _) in &w.queues {
                    assert!(p < c.ports.len(), "queue on port {p}");
                }
            }
            for pi in 0..c.ports.len() {
                let _ = c.rx_queues(pi);
            }
            let _ = c.tx_queues();
            let _ = c.in_home_pool(0xc000_020a);
        }
        Err(e) => {
            assert!(!e.field.is_empty(), "{e}");
            let _ = e.to_string();
        }
    }
}
