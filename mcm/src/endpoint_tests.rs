//! Tests of `mcm tunnel`'s arguments (the relay itself needs root: the
//! testbed's end-to-end test covers it).

use super::*;
use clap::Parser;

#[derive(Parser, Debug)]
struct Cli {
    #[command(flatten)]
    a: TunnelArgs,
}

fn parse(args: &[&str]) -> Result<TunnelArgs, clap::Error> {
    Cli::try_parse_from(std::iter::once("mcm-tunnel").chain(args.iter().copied())).map(|c| c.a)
}

const TESTBED: [&str; 8] = [
    "--local",
    "203.0.113.10",
    "--interface",
    "eth0",
    "--remote",
    "198.51.100.1",
    "--home",
    "192.0.2.10",
];

#[test]
fn the_testbeds_arguments_parse_with_the_defaults() {
    let a = parse(&TESTBED).unwrap();
    assert_eq!(
        a,
        TunnelArgs {
            dev: "mip0".into(),
            mtu: 1480,
            local: Ipv4Addr::new(203, 0, 113, 10),
            interface: "eth0".into(),
            remote: Ipv4Addr::new(198, 51, 100, 1),
            home: Ipv4Addr::new(192, 0, 2, 10),
        }
    );
    assert_eq!(
        ready_line(&a),
        "mcm tunnel: mip0 203.0.113.10 <-> 198.51.100.1 ready"
    );
    let mut more = TESTBED.to_vec();
    more.extend(["--dev", "tun7", "--mtu", "1400"]);
    let a = parse(&more).unwrap();
    assert_eq!((a.dev.as_str(), a.mtu), ("tun7", 1400));
}

#[test]
fn every_address_is_required() {
    for missing in ["--local", "--interface", "--remote", "--home"] {
        let i = TESTBED.iter().position(|w| *w == missing).unwrap();
        let mut args = TESTBED.to_vec();
        args.drain(i..i + 2);
        let e = parse(&args).unwrap_err();
        assert_eq!(
            e.kind(),
            clap::error::ErrorKind::MissingRequiredArgument,
            "{missing}"
        );
    }
}

#[test]
fn bad_values_are_refused() {
    let with = |flag: &str, value: &str| {
        let mut args = TESTBED.to_vec();
        match args.iter().position(|w| *w == flag) {
            Some(i) => args[i + 1] = value,
            None => args.extend([flag, value]),
        }
        parse(&args)
    };
    assert!(with("--local", "203.0.113").is_err(), "not an address");
    assert!(with("--remote", "msm").is_err(), "not an address");
    assert!(with("--home", "::1").is_err(), "IPv6");
    assert!(with("--mtu", "575").is_err(), "MTU under 576");
    assert!(with("--mtu", "65516").is_err(), "MTU over 65515");
    assert!(with("--mtu", "65515").is_ok());
    assert!(with("--dev", "a-name-too-long-for-linux").is_err());
    assert!(with("--dev", "").is_err());
    assert!(with("--interface", "eth/0").is_err());
    assert!(with("--interface", "eth 0").is_err());
}
