#!/usr/bin/python3
"""Checks the XDP peer (msm_xdp.bpf.c) on known frames, with scapy as the independent parser.

Usage: check.py XDP_PEER MSM_XDP_OBJ   (run by perf/xdp/check.sh; needs root)
"""
import subprocess
import sys
import tempfile

from scapy.all import IP, UDP, Ether, Raw, raw

PEER, OBJ = sys.argv[1], sys.argv[2]
INET_MAC, INET_GW = "02:00:00:00:10:01", "02:00:00:00:00:02"
WWAN_MAC, WWAN_GW = "02:00:00:00:10:02", "02:00:00:00:00:01"
MSM_WLAN, SERVER = "198.51.100.1", "203.0.113.10"
HOME, COA, AT_HOME = "10.1.2.3", "198.18.0.7", "10.4.4.4"
PAYLOAD = bytes(range(18))

failures = []


def check(name, cond):
    print(("ok   " if cond else "FAIL ") + name)
    if not cond:
        failures.append(name)


def csum_valid(ip_bytes):
    s = sum(int.from_bytes(ip_bytes[i:i + 2], "big") for i in range(0, 20, 2))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return s == 0xFFFF


def down(dst, ttl=64, tos=0, flags="DF", mac=INET_MAC, chksum=None):
    ip = IP(src=SERVER, dst=dst, ttl=ttl, tos=tos, flags=flags, id=77)
    if chksum is not None:
        ip.chksum = chksum
    return Ether(dst=mac, src=INET_GW) / ip / UDP(sport=40000, dport=5001) / Raw(PAYLOAD)


def up(outer_src, inner_src=HOME, inner_dst=SERVER, outer_tos=0, inner_tos=0, dport=5001):
    inner = IP(src=inner_src, dst=inner_dst, ttl=64, tos=inner_tos) / UDP(sport=40000, dport=dport) / Raw(PAYLOAD)
    return Ether(dst=INET_MAC, src=INET_GW) / IP(src=outer_src, dst=MSM_WLAN, proto=4, ttl=64, tos=outer_tos) / inner


cases = {
    "downlink bound": down(HOME, tos=0xB8),
    "downlink bound, no DF": down(HOME, flags=0),
    "downlink unbound": down("10.9.9.9"),
    "downlink at home": down(AT_HOME),
    "uplink": up(COA),
    "uplink spoofed": up("198.18.0.99"),
    "uplink unbound home": up(COA, inner_src="10.9.9.9"),
    "uplink CE over ECT(0)": up(COA, outer_tos=3, inner_tos=2),
    "uplink CE over Not-ECT": up(COA, outer_tos=3, inner_tos=0),
    "reverse-tunnelled registration": up(COA, inner_dst=MSM_WLAN, dport=434),
    "bad IP checksum": down(HOME, chksum=0x1234),
    "TTL 1": down(HOME, ttl=1),
    "not our MAC": down(HOME, mac="02:00:00:00:99:99"),
    "unknown destination": down("192.0.2.77"),
}
cases = {n: Ether(raw(p)) for n, p in cases.items()}  # built: lengths and checksums filled
with tempfile.NamedTemporaryFile("w", suffix=".txt") as b:
    b.write(f"{HOME} {COA}\n{AT_HOME} 0.0.0.0\n")
    b.flush()
    names = list(cases)
    inp = "".join(raw(cases[n]).hex() + "\n" for n in names)
    out = subprocess.run([PEER, "run", OBJ, b.name], input=inp, capture_output=True, text=True, check=True).stdout
lines = out.splitlines()
check("one answer per frame", len(lines) == len(names))
res = {}
for n, line in zip(names, lines):
    f = line.split()
    action, data = f[0], bytes.fromhex(f[1]) if len(f) > 1 and "=" not in f[1] else b""
    counters = dict(x.split("=") for x in f[1:] if "=" in x)
    res[n] = (action, data, counters)

# Downlink to a bound home: IP-in-IP toward the care-of address (PROTOCOL.md "Tunnel").
a, d, c = res["downlink bound"]
check("downlink bound: XDP_TX", a == "TX")
e = Ether(d)
o, i = e[IP], e[IP].payload
sent = cases["downlink bound"][IP]
check("downlink bound: Ethernet to the Internet next hop", e.dst == INET_GW and e.src == INET_MAC and e.type == 0x0800)
check("downlink bound: outer version/IHL/proto", o.version == 4 and o.ihl == 5 and o.proto == 4)
check("downlink bound: outer addresses", o.src == MSM_WLAN and o.dst == COA)
check("downlink bound: outer TTL 64, TOS copied, DF copied", o.ttl == 64 and o.tos == 0xB8 and o.flags == "DF" and o.frag == 0)
check("downlink bound: outer total length", o.len == sent.len + 20 and len(d) == 14 + sent.len + 20)
check("downlink bound: outer checksum", csum_valid(d[14:34]))
check("downlink bound: inner TTL decremented, checksum valid", i.ttl == 63 and csum_valid(d[34:54]))
check("downlink bound: inner addresses and payload unchanged", i.src == SERVER and i.dst == HOME and raw(i[UDP]) == raw(sent[UDP]))
check("downlink bound: counted", c.get("downlink_tunnel") == "1")
a, d, c = res["downlink bound, no DF"]
check("downlink without DF: outer without DF", a == "TX" and Ether(d)[IP].flags == 0)

a, d, c = res["downlink unbound"]
e = Ether(d) if d else None
check("downlink unbound: redirected to the WWAN port", a == "REDIRECT" and c.get("downlink_wwan") == "1")
check("downlink unbound: plain, to the GGSN's MAC, TTL 63, checksum", e is not None and e.dst == WWAN_GW and e.src == WWAN_MAC and e[IP].proto == 17 and e[IP].ttl == 63 and csum_valid(d[14:34]) and len(d) == len(raw(cases["downlink unbound"])))
a, d, c = res["downlink at home"]
check("downlink to a home at home: WWAN", a == "REDIRECT" and c.get("downlink_wwan") == "1")

# Uplink through the reverse tunnel: checked, stripped, forwarded.
a, d, c = res["uplink"]
check("uplink: XDP_TX", a == "TX" and c.get("uplink_tunnel") == "1")
e = Ether(d)
sent = cases["uplink"][IP].payload
check("uplink: 20 bytes shorter", len(d) == len(raw(cases["uplink"])) - 20)
check("uplink: Ethernet to the Internet next hop", e.dst == INET_GW and e.src == INET_MAC and e.type == 0x0800)
check("uplink: the inner packet, TTL 63, checksum", e[IP].src == HOME and e[IP].dst == SERVER and e[IP].ttl == 63 and e[IP].proto == 17 and csum_valid(d[14:34]))
check("uplink: payload unchanged", raw(e[UDP]) == raw(sent[UDP]))

a, d, c = res["uplink spoofed"]
check("uplink spoofed care-of: dropped and counted", a == "DROP" and c.get("drop_spoofed_tunnel") == "1")
a, d, c = res["uplink unbound home"]
check("uplink from an unbound home: dropped as spoofed", a == "DROP" and c.get("drop_spoofed_tunnel") == "1")
a, d, c = res["uplink CE over ECT(0)"]
e = Ether(d) if a == "TX" else None
check("uplink CE over ECT(0): inner marked CE, checksum valid", e is not None and e[IP].tos & 3 == 3 and csum_valid(d[14:34]))
a, d, c = res["uplink CE over Not-ECT"]
check("uplink CE over Not-ECT: dropped (RFC 6040)", a == "DROP" and c.get("drop_ecn_ce_not_ect") == "1")
a, d, c = res["reverse-tunnelled registration"]
check("reverse-tunnelled registration: to the control plane (XDP_PASS)", a == "PASS" and c.get("control_handed") == "1")
a, d, c = res["bad IP checksum"]
check("bad IP checksum: dropped", a == "DROP" and c.get("drop_bad_ip_checksum") == "1")
a, d, c = res["TTL 1"]
check("TTL 1: to the slow path (ICMP)", a == "PASS" and c.get("slow_ttl") == "1")
a, d, c = res["not our MAC"]
check("not our MAC: dropped", a == "DROP" and c.get("drop_not_our_mac") == "1")
a, d, c = res["unknown destination"]
check("unknown destination: dropped", a == "DROP" and c.get("drop_unknown_destination") == "1")

if failures:
    print(f"{len(failures)} check(s) FAILED")
    sys.exit(1)
print("all checks passed")
