//! Build script: compiles the C shim and generates DPDK bindings.
//!
//! The *whole* `pkg-config --cflags libdpdk` output is passed to both the C
//! compiler and bindgen (it contains `-include rte_config.h` and `-march=...`,
//! which the DPDK headers require). Link flags come from `pkg-config --libs`.
//! PMDs (net_null, net_ring, net_af_packet, net_pcap, mempool_ring, ...) are
//! plugins that EAL loads at runtime from its plugin directory, so they are not
//! linked here — except `rte_net_ring`, whose `rte_eth_from_rings` is called
//! directly (its plugin and the linked library are the same file, so EAL's
//! `dlopen` of the plugin finds it already loaded).

use std::env;
use std::path::PathBuf;
use std::process::Command;

fn pkg_config(arg: &str) -> Vec<String> {
    let pc = env::var("PKG_CONFIG").unwrap_or_else(|_| "pkg-config".to_string());
    let out = Command::new(&pc)
        .args([arg, "libdpdk"])
        .output()
        .unwrap_or_else(|e| {
            panic!("failed to run `{pc} {arg} libdpdk`: {e} (install libdpdk-dev and pkg-config)")
        });
    if !out.status.success() {
        panic!(
            "`{pc} {arg} libdpdk` failed: {}\n(install libdpdk-dev, or set PKG_CONFIG_PATH)",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .map(str::to_owned)
        .collect()
}

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed=shim/shim.c");
    println!("cargo:rerun-if-changed=shim/shim.h");
    println!("cargo:rerun-if-env-changed=PKG_CONFIG_PATH");
    println!("cargo:rerun-if-env-changed=PKG_CONFIG");

    let cflags = pkg_config("--cflags");
    let libs = pkg_config("--libs");

    // 1. C shim (static library; cc emits its own link directives first, so
    //    the DPDK shared libraries below come after it on the link line).
    let mut build = cc::Build::new();
    build.file("shim/shim.c").include("shim").opt_level(2);
    for f in &cflags {
        build.flag(f);
    }
    build.flag_if_supported("-Wno-unused-parameter");
    build.compile("msm_dpdk_shim");

    // 2. Link flags.
    for tok in &libs {
        if let Some(dir) = tok.strip_prefix("-L") {
            println!("cargo:rustc-link-search=native={dir}");
        } else if let Some(lib) = tok.strip_prefix("-l") {
            println!("cargo:rustc-link-lib={lib}");
        } else if tok.starts_with("-Wl,") {
            println!("cargo:rustc-link-arg={tok}");
        }
    }
    // `rte_eth_from_rings` (PortId::from_rings) lives in the net_ring PMD; its
    // ports are vdevs, removed with `rte_vdev_uninit` (bus_vdev).
    println!("cargo:rustc-link-lib=rte_net_ring");
    println!("cargo:rustc-link-lib=rte_bus_vdev");

    // 3. Bindings.
    let bindings = bindgen::Builder::default()
        .header("shim/shim.h")
        .clang_args(&cflags)
        .clang_arg("-Ishim")
        .layout_tests(false)
        .generate_comments(false)
        .derive_default(true)
        .derive_debug(false)
        .opaque_type("rte_l2tpv2_combined_msg_hdr")
        .opaque_type("rte_arp_hdr")
        .opaque_type("rte_gtp_psc_generic_hdr")
        .allowlist_function("msm_.*")
        .allowlist_function("rte_eal_(init|cleanup|remote_launch|wait_lcore|mp_wait_lcore|get_lcore_state|process_type)")
        .allowlist_function("rte_eth_(dev_.*|promiscuous_.*|stats_.*|macaddr_get|link_get_nowait|rx_queue_setup|tx_queue_setup|find_next|from_rings|(add|remove)_(rx|tx)_callback)")
        .allowlist_function("rte_pktmbuf_(pool_create|free_bulk)")
        .allowlist_function("rte_mempool_(avail_count|in_use_count|free|lookup)")
        .allowlist_function("rte_ring_(create|free|lookup)")
        .allowlist_function("rte_lcore_(count|is_enabled|to_socket_id)")
        .allowlist_function("rte_get_(main_lcore|next_lcore|tsc_hz)")
        .allowlist_function("rte_socket_id")
        .allowlist_function("rte_strerror")
        .allowlist_function("rte_vdev_uninit|rte_free")
        .allowlist_function("rte_eal_(has_hugepages|get_runtime_dir)")
        .allowlist_function("rte_telemetry_register_cmd|rte_tel_data_.*")
        .allowlist_function("rte_pdump_(init|uninit)")
        .allowlist_type("rte_mbuf")
        .allowlist_type("rte_eth_(conf|dev_info|stats|link|rx_mq_mode)")
        .allowlist_type("rte_ether_addr")
        .allowlist_var("RTE_MAX_ETHPORTS|RTE_MAX_LCORE|RTE_PKTMBUF_HEADROOM|RTE_ETH_NAME_MAX_LEN")
        .allowlist_var("RTE_TEL_MAX_(STRING_LEN|SINGLE_STRING_LEN|DICT_ENTRIES|ARRAY_ENTRIES)")
        .allowlist_var("RING_F_(SP_ENQ|SC_DEQ|EXACT_SZ)|SOCKET_ID_ANY|RTE_MEMPOOL_NAMESIZE|RTE_RING_NAMESIZE")
        .generate()
        .expect("bindgen failed to generate DPDK bindings");

    let out = PathBuf::from(env::var("OUT_DIR").expect("OUT_DIR not set"));
    bindings
        .write_to_file(out.join("bindings.rs"))
        .expect("failed to write bindings.rs");
}
