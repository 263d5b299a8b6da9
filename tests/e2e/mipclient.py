#!/usr/bin/python3
"""Independent Mobile IPv4 registration client for the tests (scapy + Python's hmac).

Builds Registration Requests with scapy's Mobile IP layer (scapy.layers.mobileip), adds
the Mobile Node NAI extension (RFC 2794, type 131) and the MN-HA Authentication extension
(type 32, SPI, HMAC-SHA-256 over every preceding byte of the UDP payload) as
PROTOCOL.md section 1 says, sends them from a UDP socket bound to --src, and checks the
Reply: type 3, code, identification, NAI echo, authenticator (recomputed here).

  mipclient.py register --src A --dst B --home H --ha HA --coa C --lifetime L \
      --msisdn M --spi S --key HEX [--expect CODE] [--skew SECONDS] [--ident N] [--bad-auth]
      prints one JSON line; exit 0 iff the reply has code --expect (default 0) and,
      for a known subscriber, a valid authenticator
  mipclient.py storm --src A --dst B --ha HA --coa-base C --subscribers FILE --n N \
      --acked OUT [--rate R]
      registers the first N subscribers of FILE (care-of address C + i), appending
      "HOME COA" to OUT for every accepted Reply as soon as it arrives (crash test)
  mipclient.py flood --src A --dst B --n N
      sends N invalid requests (garbage, bad authenticators, unknown subscribers)
"""
import argparse
import hashlib
import hmac
import json
import os
import random
import select
import socket
import struct
import sys
import time

from scapy.layers.mobileip import MobileIP, MobileIPRRQ, MobileIPRRP

NTP_OFFSET = 2_208_988_800


def ntp_now(skew=0):
    return int(time.time()) + NTP_OFFSET + skew


def ntp_ident(skew=0):
    """A 64-bit NTP timestamp (seconds since 1900 . fraction): increases with time, as
    RFC 5944 timestamp-based Identifications should."""
    t = time.time() + NTP_OFFSET + skew
    return (int(t) << 32) | int((t % 1) * (1 << 32))


def build_request(home, ha, coa, lifetime, msisdn, spi, key, ident, bad_auth=False):
    fixed = bytes(MobileIP(type=1) / MobileIPRRQ(flags=0x22, lifetime=lifetime, homeaddr=home,
                                                  haaddr=ha, coaddr=coa, id=ident))
    nai = str(msisdn).encode()
    nai_ext = bytes([131, len(nai)]) + nai
    auth_head = bytes([32, 4 + 32]) + struct.pack("!I", spi)
    covered = fixed + nai_ext + auth_head
    mac = hmac.new(key, covered, hashlib.sha256).digest()
    if bad_auth:
        mac = bytes([mac[0] ^ 1]) + mac[1:]
    return covered + mac


def parse_reply(data, key, spi):
    """Returns a dict describing the reply; verifies the authenticator when key is given."""
    if len(data) < 20 or data[0] != 3:
        return {"error": "not a registration reply", "len": len(data)}
    rrp = MobileIP(data)
    r = rrp[MobileIPRRP]
    out = {"type": 3, "code": r.code, "lifetime": r.lifetime, "home": r.homeaddr,
           "ha": r.haaddr, "ident": r.id}
    i, nai, auth_ok = 20, None, None
    while i + 2 <= len(data):
        t, ln = data[i], data[i + 1]
        body = data[i + 2:i + 2 + ln]
        if t == 131:
            nai = body.decode(errors="replace")
        elif t == 32 and ln == 36:
            (rspi,) = struct.unpack("!I", body[:4])
            if key is not None:
                want = hmac.new(key, data[:i + 6], hashlib.sha256).digest()
                auth_ok = rspi == spi and hmac.compare_digest(want, body[4:])
        i += 2 + ln
    out["nai"] = nai
    out["auth_ok"] = auth_ok
    return out


def udp_socket(src, port=0, timeout=2.0):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((src, port))
    s.settimeout(timeout)
    return s


def cmd_register(a):
    key = bytes.fromhex(a.key)
    ident = a.ident if a.ident is not None else ntp_ident(a.skew)
    req = build_request(a.home, a.ha, a.coa, a.lifetime, a.msisdn, a.spi, key, ident, a.bad_auth)
    s = udp_socket(a.src)
    for attempt in range(a.tries):
        s.sendto(req, (a.dst, 434))
        try:
            data, peer = s.recvfrom(2048)
            break
        except socket.timeout:
            continue
    else:
        print(json.dumps({"error": "no reply", "ident": ident}))
        return 0 if a.no_reply else 1
    r = parse_reply(data, key, a.spi)
    r["from"] = peer[0]
    r["sent_ident"] = ident
    print(json.dumps(r))
    if a.no_reply:
        return 1
    ok = r.get("code") == a.expect and (r["ident"] & 0xFFFFFFFF) == (ident & 0xFFFFFFFF)
    if a.expect in (0, 131, 133, 134, 136, 137, 139, 130):
        ok = ok and r["auth_ok"] is True and r["nai"] == str(a.msisdn)
    return 0 if ok else 1


def read_subscribers(path, n):
    subs = []
    with open(path) as f:
        for line in f:
            line = line.split("#")[0].split()
            if len(line) == 4:
                subs.append((line[0], line[1], int(line[2]), bytes.fromhex(line[3])))
                if len(subs) == n:
                    break
    return subs


def cmd_storm(a):
    subs = read_subscribers(a.subscribers, a.n + a.skip)[a.skip:]
    base = struct.unpack("!I", socket.inet_aton(a.coa_base))[0]
    s = udp_socket(a.src)
    s.setblocking(False)
    pending = {}
    acked = 0
    out = open(a.acked, "a", buffering=1)
    t0 = time.time()
    gap = 1.0 / a.rate if a.rate else 0
    low = random.getrandbits(16) << 16
    for i, (msisdn, home, spi, key) in enumerate(subs):
        coa = socket.inet_ntoa(struct.pack("!I", base + i))
        ident = (ntp_now() << 32) | (low + i)
        s.sendto(build_request(home, a.ha, coa, 600, msisdn, spi, key, ident), (a.dst, 434))
        pending[ident & 0xFFFFFFFF] = (home, coa, key, spi)
        if gap:
            time.sleep(gap)
        acked += drain(s, pending, out)
    deadline = time.time() + 3
    while pending and time.time() < deadline:
        select.select([s], [], [], 0.05)
        acked += drain(s, pending, out)
    print(json.dumps({"sent": len(subs), "acked": acked, "seconds": round(time.time() - t0, 2)}))
    return 0


def drain(s, pending, out):
    n = 0
    while True:
        try:
            data, _ = s.recvfrom(2048)
        except (socket.timeout, BlockingIOError):
            return n
        if len(data) < 20 or data[0] != 3:
            continue
        (ident,) = struct.unpack("!Q", data[12:20])
        p = pending.pop(ident & 0xFFFFFFFF, None)
        if p is None:
            continue
        home, coa, key, spi = p
        r = parse_reply(data, key, spi)
        if r["code"] == 0 and r["auth_ok"]:
            out.write(f"{home} {coa}\n")
            n += 1


def cmd_flood(a):
    s = udp_socket(a.src, timeout=0.01)
    rnd = random.Random(7)
    for i in range(a.n):
        kind = i % 3
        if kind == 0:
            pkt = bytes(rnd.getrandbits(8) for _ in range(rnd.randrange(0, 120)))
        elif kind == 1:  # well formed, wrong key
            pkt = build_request("192.0.2.10", a.dst, "203.0.113.10", 600, "491700000010", 256,
                                os.urandom(32), (ntp_now() << 32) | i)
        else:  # unknown subscriber
            pkt = build_request("192.0.2.99", a.dst, "203.0.113.10", 600, "49999", 256,
                                os.urandom(32), (ntp_now() << 32) | i)
        s.sendto(pkt, (a.dst, 434))
    print(json.dumps({"sent": a.n}))
    return 0


def main():
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("register")
    for f in ("src", "dst", "home", "ha", "coa", "msisdn", "key"):
        r.add_argument("--" + f, required=True)
    r.add_argument("--lifetime", type=int, default=600)
    r.add_argument("--spi", type=int, default=256)
    r.add_argument("--expect", type=int, default=0)
    r.add_argument("--skew", type=int, default=0)
    r.add_argument("--ident", type=int)
    r.add_argument("--tries", type=int, default=3)
    r.add_argument("--bad-auth", action="store_true")
    r.add_argument("--no-reply", action="store_true", help="succeed only if no reply comes")
    st = sub.add_parser("storm")
    for f in ("src", "dst", "ha", "coa-base", "subscribers", "acked"):
        st.add_argument("--" + f, required=True)
    st.add_argument("--n", type=int, required=True)
    st.add_argument("--rate", type=float, default=0)
    st.add_argument("--skip", type=int, default=0, help="skip the first N subscribers")
    fl = sub.add_parser("flood")
    fl.add_argument("--src", required=True)
    fl.add_argument("--dst", required=True)
    fl.add_argument("--n", type=int, default=1000)
    a = p.parse_args()
    sys.exit({"register": cmd_register, "storm": cmd_storm, "flood": cmd_flood}[a.cmd](a))


if __name__ == "__main__":
    main()
