//! Tests of the provisioning file: parsing, errors naming the line, parallel loads, reload.

use super::builder::split_lines;
use super::*;
use std::path::PathBuf;

fn pools() -> Vec<Prefix> {
    vec![
        Prefix::parse("10.20.0.0/16").unwrap(),
        Prefix::parse("192.0.2.0/25").unwrap(),
    ]
}

const K16: &str = "00112233445566778899aabbccddeeff";
const K32: &str = "00112233445566778899AABBCCDDEEFF00112233445566778899aabbccddeeff";

struct TempDir(PathBuf);
impl TempDir {
    fn new(name: &str) -> Self {
        use std::sync::atomic::{AtomicU32, Ordering};
        static N: AtomicU32 = AtomicU32::new(0);
        let p = std::env::temp_dir().join(format!(
            "msm-subscribers-{}-{name}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }
}
impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn err(text: &str) -> String {
    Subscribers::parse(text, &pools()).unwrap_err().to_string()
}

#[test]
fn subscribers_parse_and_lookup() {
    let text = format!(
        "# provisioning\n\n491701234567 10.20.0.7 256 {K32}   # alice\n\
         \t15551234567\t192.0.2.9\t4294967295\t{K16}\r\n1 10.20.255.254 300 {K16}"
    );
    let s = Subscribers::parse(&text, &pools()).unwrap();
    assert_eq!(s.len(), 3);
    let a = s.by_msisdn(491701234567).unwrap();
    assert_eq!(a.home, u32::from(Ipv4Addr::new(10, 20, 0, 7)));
    assert_eq!(a.spi, 256);
    assert_eq!(a.key().len(), 32);
    assert_eq!(a.key()[10], 0xaa);
    assert_eq!(a.key()[31], 0xff);
    let b = s.by_home(u32::from(Ipv4Addr::new(192, 0, 2, 9))).unwrap();
    assert_eq!(b.msisdn, 15551234567);
    assert_eq!(b.spi, u32::MAX);
    assert_eq!(b.key().len(), 16);
    assert_eq!(s.by_msisdn(1).unwrap().spi, 300);
    assert!(s.by_msisdn(491701234568).is_none());
    assert!(s.by_home(u32::from(Ipv4Addr::new(10, 20, 0, 8))).is_none());
    // The key never shows in Debug output.
    assert!(!format!("{a:?}").contains("aa"), "{a:?}");
    assert!(Subscribers::parse("# nothing\n\n", &pools())
        .unwrap()
        .is_empty());
    assert!(Subscribers::parse("", &pools()).unwrap().is_empty());
}

#[test]
fn subscribers_errors_name_line_and_reason() {
    let ok = format!("491701234567 10.20.0.7 256 {K16}\n");
    let cases: Vec<(String, &str)> = vec![
        (format!("{ok}491701234567 10.20.0.8 256 {K16}\n"), "line 2: duplicate MSISDN 491701234567 (first on line 1)"),
        (format!("{ok}\n# x\n491701234568 10.20.0.7 256 {K16}\n"), "line 4: duplicate home address 10.20.0.7 (first on line 1)"),
        (format!("{ok}491701234568 10.21.0.7 256 {K16}\n"), "line 2: home address 10.21.0.7 is outside every home pool (10.20.0.0/16, 192.0.2.0/25)"),
        (format!("{ok}491701234568 192.0.2.128 256 {K16}\n"), "outside every home pool"),
        (format!("{ok}491701234568 10.20.0.07 256 {K16}\n"), "line 2: home address '10.20.0.07' is not an IPv4 address"),
        (format!("{ok}491701234568 10.20.0 256 {K16}\n"), "not an IPv4"),
        (format!("{ok}491701234568 10.20.0.1.1 256 {K16}\n"), "not an IPv4"),
        (format!("{ok}491701234568 10.20.0.256 256 {K16}\n"), "not an IPv4"),
        (format!("{ok}491701234568 10.20.0.8 255 {K16}\n"), "line 2: bad SPI 255"),
        (format!("{ok}491701234568 10.20.0.8 4294967296 {K16}\n"), "line 2: bad SPI '4294967296'"),
        (format!("{ok}491701234568 10.20.0.8 0x100 {K16}\n"), "bad SPI '0x100'"),
        (format!("{ok}491701234568 10.20.0.8 256 {K16}0\n"), "line 2: bad key: odd number"),
        (format!("{ok}491701234568 10.20.0.8 256 {}\n", &K16[..30]), "line 2: bad key: 15 bytes, want 16..=32"),
        (format!("{ok}491701234568 10.20.0.8 256 {K32}00\n"), "bad key: 33 bytes"),
        (format!("{ok}491701234568 10.20.0.8 256 {}g\n", &K16[..31]), "line 2: bad key: not hex (character 32 is 'g')"),
        (format!("{ok}491701234568 10.20.0.8 256\n"), "line 2: want 'MSISDN HOME_ADDRESS SPI KEY_HEX', got 3 fields"),
        (format!("{ok}491701234568 10.20.0.8 256 {K16} extra\n"), "got 5 fields"),
        (format!("{ok}491701234568\n"), "got 1 field"),
        (format!("{ok}4917012345678901 10.20.0.8 256 {K16}\n"), "line 2: MSISDN '4917012345678901' is not 1..15 E.164 digits"),
        (format!("{ok}+4917 10.20.0.8 256 {K16}\n"), "is not 1..15 E.164 digits"),
        (format!("{ok}04917 10.20.0.8 256 {K16}\n"), "starts with 0"),
        (format!("{ok}4917\u{e9} 10.20.0.8 256 {K16}\n"), "MSISDN '4917\u{e9}'"),
    ];
    for (text, want) in cases {
        let e = err(&text);
        assert!(e.contains(want), "text {text:?}\n got  {e}\n want {want}");
    }
    let zero = [Prefix::parse("0.0.0.0/0").unwrap()];
    let e = Subscribers::parse(&format!("1 0.0.0.0 256 {K16}"), &zero).unwrap_err();
    assert!(e.to_string().contains("reserved"), "{e}");
    assert_eq!(
        e,
        ParseError::Line {
            line: 1,
            reason: LineError::HomeReserved(Ipv4Addr::UNSPECIFIED)
        }
    );
}

#[test]
fn subscribers_never_panic_on_garbage() {
    let mut rng = 0x1234_5678_9abc_def0u64;
    let alphabet = b"0123456789abcdef. \t\n#\r\xff\x00g";
    for _ in 0..2000 {
        let mut t = Vec::new();
        for _ in 0..(rng % 200) {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            t.push(alphabet[(rng % alphabet.len() as u64) as usize]);
        }
        let text = String::from_utf8_lossy(&t);
        let _ = Subscribers::parse(&text, &pools());
    }
}

#[test]
fn subscribers_split_lines_covers_block() {
    let block = b"a\nbb\nccc\ndddd\n\neeeee";
    for n in 1..8 {
        let parts = split_lines(block, n);
        assert_eq!(parts.concat(), block.to_vec());
        for p in &parts[..parts.len() - 1] {
            assert_eq!(p.last(), Some(&b'\n'));
        }
    }
    assert_eq!(split_lines(b"", 4), vec![&b""[..]]);
}

/// A file big enough to be parsed in parallel parts and in several blocks keeps
/// line numbers exact.
#[test]
fn subscribers_load_parallel_line_numbers() {
    let dir = TempDir::new("par");
    let pools = [Prefix::parse("10.0.0.0/8").unwrap()];
    let path = dir.0.join("subs.txt");
    let n = 100_000u64;
    write_test_file(&path, n, &pools).unwrap();
    let s = Subscribers::load(&path, &pools).unwrap();
    assert_eq!(s.len(), n as usize);
    for i in [0, 1, n / 2, n - 1] {
        let sub = s.by_msisdn(test_msisdn(i)).unwrap();
        assert_eq!(Some(sub.home), test_home(i, &pools));
        assert_eq!(sub.key(), &test_key(i)[..]);
        assert_eq!(s.by_home(sub.home).unwrap().msisdn, test_msisdn(i));
    }
    // A duplicate near the end: line numbers count the header comment.
    let mut text = std::fs::read_to_string(&path).unwrap();
    let line_of_i = |i: u64| i + 2;
    let dup = format!(
        "{} {} 256 {K16}\n",
        test_msisdn(n + 5),
        Ipv4Addr::from(test_home(7, &pools).unwrap())
    );
    text.push_str(&dup);
    std::fs::write(&path, &text).unwrap();
    let e = Subscribers::load(&path, &pools).unwrap_err();
    assert_eq!(
        e.to_string(),
        format!(
            "{}: line {}: duplicate home address 10.0.0.7 (first on line {})",
            path.display(),
            n + 2,
            line_of_i(7)
        )
    );
    // A bad line deep in the second half of a parallel block.
    let mut lines: Vec<&str> = text.lines().collect();
    lines[90_001] = "bad line";
    std::fs::write(&path, lines.join("\n")).unwrap();
    let e = Subscribers::load(&path, &pools).unwrap_err().to_string();
    assert!(
        e.ends_with("line 90002: want 'MSISDN HOME_ADDRESS SPI KEY_HEX', got 2 fields"),
        "{e}"
    );
    let e = Subscribers::load(dir.0.join("missing"), &pools).unwrap_err();
    assert!(
        matches!(&e, LoadError::Io { source, .. } if source.kind() == std::io::ErrorKind::NotFound)
    );
    let e = e.to_string();
    assert!(e.contains("missing") && e.contains("No such file"), "{e}");
}

/// The operator edits the file and asks for a reload: a bad file leaves the error
/// (the caller keeps its old store); a good one changes the lookups.
#[test]
fn subscribers_reload() {
    let dir = TempDir::new("reload");
    let path = dir.0.join("subs.txt");
    std::fs::write(&path, format!("491701234567 10.20.0.7 256 {K16}\n")).unwrap();
    let mut store = Subscribers::load(&path, &pools()).unwrap();
    let home7 = u32::from(Ipv4Addr::new(10, 20, 0, 7));
    assert_eq!(store.by_home(home7).unwrap().msisdn, 491701234567);

    std::fs::write(
        &path,
        format!("491701234567 10.20.0.8 256 {K16}\n491701234567 10.20.0.9 256 {K16}\n"),
    )
    .unwrap();
    match Subscribers::load(&path, &pools()) {
        Ok(_) => panic!("bad reload accepted"),
        Err(e) => assert!(e.to_string().contains("line 2: duplicate MSISDN"), "{e}"),
    }
    assert_eq!(store.by_home(home7).unwrap().msisdn, 491701234567);

    std::fs::write(
        &path,
        format!("491701234567 10.20.0.8 257 {K32}\n491709999999 10.20.0.7 256 {K16}\n"),
    )
    .unwrap();
    store = Subscribers::load(&path, &pools()).unwrap();
    assert_eq!(store.len(), 2);
    assert_eq!(store.by_home(home7).unwrap().msisdn, 491709999999);
    let a = store.by_msisdn(491701234567).unwrap();
    assert_eq!((a.home, a.spi, a.key().len()), (home7 + 1, 257, 32));
}

#[test]
fn subscribers_test_homes_skip_reserved() {
    let all = [Prefix::parse("0.0.0.0/0").unwrap()];
    assert_eq!(test_home(0, &all), Some(1));
    assert_eq!(test_home(u64::from(u32::MAX) - 2, &all), Some(u32::MAX - 1));
    assert_eq!(test_home(u64::from(u32::MAX) - 1, &all), None);
    let p = pools();
    assert_eq!(
        test_home(65535, &p),
        Some(u32::from(Ipv4Addr::new(10, 20, 255, 255)))
    );
    assert_eq!(
        test_home(65536, &p),
        Some(u32::from(Ipv4Addr::new(192, 0, 2, 0)))
    );
    assert_eq!(test_home(65536 + 128, &p), None);
}

/// `cargo test --release -p msm --lib -- --ignored subscribers_load_10m --nocapture`
/// (`MSM_SUBSCRIBERS_N` overrides the count).
#[test]
#[ignore]
fn subscribers_load_10m() {
    let n: u64 = std::env::var("MSM_SUBSCRIBERS_N")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000_000);
    let dir = TempDir::new("10m");
    let pools = [Prefix::parse("10.0.0.0/8").unwrap()];
    let path = dir.0.join("subs.txt");
    let t = std::time::Instant::now();
    write_test_file(&path, n, &pools).unwrap();
    let size = std::fs::metadata(&path).unwrap().len();
    println!(
        "generated {n} subscribers, {} MB, in {:.2?}",
        size >> 20,
        t.elapsed()
    );
    // Warm the page cache as a reload would find it, then time the load.
    let _ = std::fs::read(&path).map(|v| v.len());
    let t = std::time::Instant::now();
    let s = Subscribers::load(&path, &pools).unwrap();
    let dt = t.elapsed();
    let mem = s.memory_bytes();
    println!(
        "loaded {} subscribers in {:.2?} ({:.1} M lines/s); {} MB, {:.1} bytes/subscriber",
        s.len(),
        dt,
        n as f64 / dt.as_secs_f64() / 1e6,
        mem >> 20,
        mem as f64 / n as f64
    );
    assert_eq!(s.len() as u64, n);
    let t = std::time::Instant::now();
    let mut hits = 0u64;
    for i in (0..n).step_by(7) {
        let sub = s.by_msisdn(test_msisdn(i)).unwrap();
        hits += u64::from(s.by_home(sub.home).is_some());
    }
    println!(
        "{hits} msisdn+home lookups in {:.2?} ({:.0} ns each pair)",
        t.elapsed(),
        t.elapsed().as_nanos() as f64 / hits as f64
    );
}
