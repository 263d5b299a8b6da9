//! The ports (configured and started on the mempool) and the [`Plane`] the workers read:
//! port addresses and MACs, home pools, next hops.

use super::StartError;
use crate::config::{Config, Role};
use crate::dataplane::neigh::Neighbours;
use crate::dataplane::pipeline::{NextHop, Plane, PortInfo};
use msm_dpdk::{Mempool, PortConf, PortId};
use std::net::Ipv4Addr;
use tracing::{info, warn};

/// Configures and starts every port; returns them with what the data plane knows of each.
pub(super) fn start(
    cfg: &Config,
    pool: &Mempool,
) -> Result<(Vec<PortId>, Vec<PortInfo>), StartError> {
    let mut ports = Vec::new();
    let mut infos = Vec::new();
    for (i, pc) in cfg.ports.iter().enumerate() {
        let port_error = |source| StartError::Port {
            index: i,
            name: pc.name.clone(),
            source,
        };
        let id = PortId::by_name(&pc.device).map_err(|source| StartError::PortDevice {
            index: i,
            device: pc.device.clone(),
            source,
        })?;
        let conf = PortConf {
            rx_queues: cfg.rx_queues(i),
            tx_queues: cfg.tx_queues(),
            rx_desc: pc.rx_desc,
            tx_desc: pc.tx_desc,
            mtu: Some(pc.mtu),
            promiscuous: false,
            rss: true,
        };
        let setup = id.configure(&conf, pool).map_err(port_error)?;
        for w in &setup.warnings {
            warn!("port[{i}] '{}': {w}", pc.name);
        }
        let mac = id.mac_addr().map_err(port_error)?;
        info!(
            "port[{i}] '{}' = {} ({}), role {:?}, {}/{}, mtu {}, mac {}",
            pc.name,
            pc.device,
            id.driver_name().unwrap_or_default(),
            pc.role,
            Ipv4Addr::from(pc.address),
            pc.prefix_len,
            pc.mtu,
            mac.iter()
                .map(|b| format!("{b:02x}"))
                .collect::<Vec<_>>()
                .join(":")
        );
        infos.push(PortInfo {
            role: pc.role,
            ip: pc.address,
            mac,
            mtu: pc.mtu,
        });
        ports.push(id);
    }
    Ok((ports, infos))
}

/// The data plane's view of the ports: addresses, next hops toward the WWAN and the
/// Internet, tunnel settings.
pub(super) fn plane(cfg: &Config, infos: Vec<PortInfo>) -> Result<Plane, StartError> {
    let wp = &cfg.ports[cfg.wwan_port];
    let (wwan_gw, wwan_gw_mac) = if wp.role == Role::Both {
        match wp.wwan_gateway {
            Some(g) => (g, wp.wwan_gateway_mac),
            None => (wp.gateway, wp.gateway_mac),
        }
    } else {
        (wp.gateway, wp.gateway_mac)
    };
    let ip_ = &cfg.ports[cfg.internet_port];
    let mut neigh = Neighbours::new(&[
        (cfg.wwan_port as u16, wwan_gw),
        (cfg.internet_port as u16, ip_.gateway),
    ]);
    // Static next-hop MACs (`gateway_mac`): resolved now, never ARPed for.
    for (port, gw, mac) in [
        (cfg.wwan_port, wwan_gw, wwan_gw_mac),
        (cfg.internet_port, ip_.gateway, ip_.gateway_mac),
    ] {
        if let Some(mac) = mac {
            if !neigh.set_static(port as u16, gw, mac) {
                return Err(StartError::Internal("static next-hop MAC"));
            }
        }
    }
    let to_wwan = NextHop {
        port: cfg.wwan_port as u16,
        neigh: neigh
            .index_of(cfg.wwan_port as u16, wwan_gw)
            .ok_or(StartError::Internal("wwan next hop"))?,
    };
    let to_internet = NextHop {
        port: cfg.internet_port as u16,
        neigh: neigh
            .index_of(cfg.internet_port as u16, ip_.gateway)
            .ok_or(StartError::Internal("internet next hop"))?,
    };
    Ok(Plane {
        ports: infos,
        pools: cfg.home_pools.clone(),
        msm_wlan: ip_.address,
        msm_gprs: wp.address,
        to_internet,
        to_wwan,
        outer_ttl: cfg.tunnel.outer_ttl,
        // IPv4 + TCP headers (40) plus the larger tunnel overhead: a MIP Tunnel Data
        // message (RFC 3519: IPv4 20 + UDP 8 + 4) to a mobile behind a NAT, so that
        // clamped segments fit either tunnel (IP-in-IP adds only 20).
        mss_max: cfg.tunnel.mss_clamp.then(|| {
            ip_.mtu
                .saturating_sub(40 + crate::dataplane::NAT_OUTER as u16)
        }),
        neigh,
        // A cluster member starts as a standby: silent on ARP until it serves.
        standby: std::sync::atomic::AtomicBool::new(cfg.cluster.is_some()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The configuration tests' valid file, with a static MAC for the Internet gateway.
    fn config() -> String {
        crate::config::tests::GOOD.replacen(
            "gateway = \"198.51.100.2\"",
            "gateway = \"198.51.100.2\"\ngateway_mac = \"02:00:00:00:00:bb\"",
            1,
        )
    }

    fn infos(cfg: &Config) -> Vec<PortInfo> {
        cfg.ports
            .iter()
            .map(|p| PortInfo {
                role: p.role,
                ip: p.address,
                mac: [2, 0, 0, 0, 0, 1],
                mtu: p.mtu,
            })
            .collect()
    }

    #[test]
    fn static_gateway_macs_fill_the_neighbour_table() {
        let cfg = Config::from_toml(&config()).unwrap();
        let plane = plane(&cfg, infos(&cfg)).unwrap();
        let inet = &plane.neigh.entries()[plane.to_internet.neigh];
        assert!(inet.is_static());
        assert_eq!(inet.mac(), Some([2, 0, 0, 0, 0, 0xbb]));
        let wwan = &plane.neigh.entries()[plane.to_wwan.neigh];
        assert!(!wwan.is_static(), "no gateway_mac: ARP");
        assert_eq!(wwan.mac(), None);
    }

    #[test]
    fn a_both_port_takes_its_wwan_gateway_mac() {
        let text = config().replacen(
            "role = \"internet\"",
            "role = \"both\"\nwwan_gateway = \"198.51.100.3\"\n\
             wwan_gateway_mac = \"02:00:00:00:00:aa\"",
            1,
        );
        let text = text.replacen("role = \"wwan\"", "role = \"internet\"", 1);
        let cfg = Config::from_toml(&text).unwrap();
        let plane = plane(&cfg, infos(&cfg)).unwrap();
        assert_eq!(plane.to_wwan.port, 1);
        let wwan = &plane.neigh.entries()[plane.to_wwan.neigh];
        assert_eq!(wwan.ip, u32::from(Ipv4Addr::new(198, 51, 100, 3)));
        assert_eq!(wwan.mac(), Some([2, 0, 0, 0, 0, 0xaa]));
        assert!(wwan.is_static());
    }
}
