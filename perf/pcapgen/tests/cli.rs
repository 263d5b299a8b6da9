//! The `msm-pcapgen` binary: files written, byte-for-byte reproducibility, manifests,
//! refusals, and `verify` failing on something that is not the MSM's answer.

use std::path::Path;
use std::process::{Command, Output};

fn gen(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_msm-pcapgen"))
        .args(args)
        .output()
        .expect("run msm-pcapgen")
}

fn ok(args: &[&str]) -> String {
    let o = gen(args);
    assert!(
        o.status.success(),
        "msm-pcapgen {args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8(o.stdout).unwrap()
}

fn read(d: &Path, f: &str) -> Vec<u8> {
    std::fs::read(d.join(f)).unwrap_or_else(|e| panic!("{f}: {e}"))
}

fn manifest(d: &Path, kind: &str) -> serde_json::Value {
    serde_json::from_slice(&read(d, &format!("manifest-{kind}.json"))).unwrap()
}

#[test]
fn same_seed_same_bytes_other_seed_other_bytes() {
    let t = tempfile::tempdir().unwrap();
    let (a, b, c) = (t.path().join("a"), t.path().join("b"), t.path().join("c"));
    for (d, seed) in [(&a, "7"), (&b, "7"), (&c, "8")] {
        let d = d.to_str().unwrap();
        for kind in ["downlink", "uplink"] {
            ok(&[
                kind,
                "--out",
                d,
                "--subscribers",
                "300",
                "--packets",
                "2000",
                "--size",
                "mix",
                "--seed",
                seed,
            ]);
        }
        ok(&[
            "registrations",
            "--out",
            d,
            "--subscribers",
            "300",
            "--seed",
            seed,
            "--time",
            "1800000000",
        ]);
    }
    for f in [
        "downlink.pcap",
        "uplink.pcap",
        "registrations.pcap",
        "subscribers.txt",
        "bindings.txt",
        "bindings-after.txt",
    ] {
        assert_eq!(read(&a, f), read(&b, f), "{f} differs for the same seed");
        assert_ne!(read(&a, f), read(&c, f), "{f} is the same for another seed");
    }
    // One-round storm binds exactly bindings.txt (comment lines aside).
    let strip = |v: Vec<u8>| -> Vec<String> {
        String::from_utf8(v)
            .unwrap()
            .lines()
            .filter(|l| !l.starts_with('#'))
            .map(String::from)
            .collect()
    };
    assert_eq!(
        strip(read(&a, "bindings.txt")),
        strip(read(&a, "bindings-after.txt"))
    );
    let subs = strip(read(&a, "subscribers.txt"));
    assert_eq!(subs.len(), 300);
    assert!(subs
        .iter()
        .all(|l| l.split(' ').count() == 4 && l.ends_with(|c: char| c.is_ascii_hexdigit())));
    let m = manifest(&a, "registrations");
    assert_eq!(m["frames"], 301);
    assert_eq!(m["packets"], 300);
    assert_eq!(m["path"], "direct");
    // 300 requests at 10000/s: all in second 1800000000, valid 7 s either side.
    assert_eq!(
        m["valid_unix"],
        serde_json::json!([1_799_999_993u64, 1_800_000_007u64])
    );
    let m = manifest(&a, "downlink");
    assert_eq!(m["frames"], 2001);
    assert_eq!(m["msm_mac"], "02:70:63:61:70:01");
    let per_size: u64 = m["frames_per_size"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x[1].as_u64().unwrap())
        .sum();
    assert_eq!(per_size, 2000);
}

#[test]
fn wwan_path_defaults_to_the_wwan_port() {
    let t = tempfile::tempdir().unwrap();
    let d = t.path().to_str().unwrap();
    ok(&[
        "registrations",
        "--out",
        d,
        "--subscribers",
        "5",
        "--path",
        "wwan",
    ]);
    let m = manifest(t.path(), "registrations");
    assert_eq!(m["msm_mac"], "02:70:63:61:70:00");
    assert_eq!(m["gateway"], "192.0.2.130");
}

#[test]
fn refusals_exit_2_with_a_reason() {
    let t = tempfile::tempdir().unwrap();
    let d = t.path().to_str().unwrap();
    for (args, why) in [
        (
            vec!["downlink", "--out", d, "--size", "1499"],
            "does not fit the tunnel",
        ),
        (
            vec!["downlink", "--out", d, "--subscribers", "200000"],
            "cannot draw",
        ),
        (
            vec!["uplink", "--out", d, "--coa-pool", "100.64.128.0/17"],
            "overlap",
        ),
        (
            vec!["registrations", "--out", d, "--spi", "255"],
            "reserved",
        ),
        (
            vec!["downlink", "--out", d, "--correspondent", "100.64.0.9"],
            "inside the home pool",
        ),
    ] {
        let o = gen(&args);
        assert_eq!(o.status.code(), Some(2), "{args:?}");
        let e = String::from_utf8_lossy(&o.stderr);
        assert!(e.contains(why), "{args:?}: {e}");
    }
}

#[test]
fn verify_fails_on_the_input_itself() {
    let t = tempfile::tempdir().unwrap();
    let d = t.path().to_str().unwrap();
    ok(&[
        "downlink",
        "--out",
        d,
        "--subscribers",
        "50",
        "--packets",
        "100",
    ]);
    let pcap = t.path().join("downlink.pcap");
    let o = gen(&[
        "verify",
        "--dir",
        d,
        "--kind",
        "downlink",
        pcap.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(1));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.contains("matched 0") && out.contains("FAIL"), "{out}");
}
