#!/usr/bin/python3
"""Independent Mobile IPv4 registration client for the tests (scapy + Python's hmac).

Builds Registration Requests with scapy's Mobile IP layer (scapy.layers.mobileip), adds
the Mobile Node NAI extension (RFC 2794, type 131) and the MN-HA Authentication extension
(type 32, SPI, HMAC-SHA-256 over every preceding byte of the UDP payload) as
PROTOCOL.md section 1 says, sends them from a UDP socket bound to --src, and checks the
Reply: type 3, code, identification, NAI echo, authenticator (recomputed here).

  mipclient.py register --src A --dst B --home H --ha HA --coa C --lifetime L \
      --msisdn M --spi S --key HEX [--expect CODE] [--skew SECONDS] [--ident N] [--bad-auth]
      [--sport P] [--udp-tunnel [--force]] [--expect-udp-tunnel CODE|-1]
      (--udp-tunnel: the RFC 3519 UDP Tunnel Request extension before the MN-HA one;
      the Reply's UDP Tunnel Reply extension is printed as "udp_tunnel")
      prints one JSON line; exit 0 iff the reply has code --expect (default 0) and,
      for a known subscriber, a valid authenticator
  mipclient.py storm --src A --dst B --ha HA --coa-base C --subscribers FILE --n N \
      --acked OUT [--rate R]
      registers the first N subscribers of FILE (care-of address C + i), appending
      "HOME COA" to OUT for every accepted Reply as soon as it arrives (crash test)
  mipclient.py tunnel-send --src A --sport P --dst MSM --inner-src H --inner-dst C \
      --dport D --payload TEXT [--next-header N]
      one MIP Tunnel Data message (type 4) carrying UDP H -> C:D
  mipclient.py tunnel-recv --src A --sport P --peer MSM --inner-dst H [--icmp-echo]
      waits for a MIP Tunnel Data message from MSM:434 carrying a packet to H
  mipclient.py udp-recv --bind A --port P --expect-from H --expect-payload TEXT
      the correspondent: waits for that datagram
  mipclient.py flood --src A --dst B --n N
      sends N invalid requests (garbage, bad authenticators, unknown subscribers)
  mipclient.py blast --iface IF --dst-mac MAC --path P:SRC[,SRC...] ... --duration S \
      --victim-msisdn M --victim-home H
      the flood test's attacker: pre-built Ethernet frames (Registration Requests naming
      the victim with a wrong authenticator, unknown subscribers, unparsable junk) from
      spoofed sources on paths 1/2/3, sent as fast as one raw socket goes (--rate R:
      paced at R frames/s) for S seconds or until SIGTERM; prints {"started": T} when
      it starts, then {"sent", "start", "end", "pps", ...}
  mipclient.py victim --leg NS:PATH:SRC:DST ... --duration S --interval MS ...
      the flood test's victim: registers and renews every MS milliseconds, cycling over
      the legs (one socket per leg, opened in namespace NS), waiting for each Reply and
      retransmitting as a mobile does (fresh Identification, after 1 s, doubling);
      prints per-request latency p50/p99, retransmissions; exit 0 iff every request got
      an authenticated code 0
"""
import argparse
import hashlib
import hmac
import json
import os
import random
import select
import signal
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


def udp_tunnel_request(force=False, encap=4):
    """The UDP Tunnel Request extension (RFC 3519 section 3.1): type 144, length 6,
    sub-type 0, reserved, flags (F 0x80), encapsulation, reserved (2)."""
    return bytes([144, 6, 0, 0, 0x80 if force else 0, encap, 0, 0])


def build_request(home, ha, coa, lifetime, msisdn, spi, key, ident, bad_auth=False,
                  udp_tunnel=None):
    fixed = bytes(MobileIP(type=1) / MobileIPRRQ(flags=0x22, lifetime=lifetime, homeaddr=home,
                                                  haaddr=ha, coaddr=coa, id=ident))
    nai = str(msisdn).encode()
    nai_ext = bytes([131, len(nai)]) + nai
    if udp_tunnel is not None:  # before the MN-HA extension: the authenticator covers it
        nai_ext += udp_tunnel
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
        elif t == 44 and ln == 6:  # UDP Tunnel Reply (RFC 3519 section 3.2)
            (fl, ka) = struct.unpack("!HH", body[2:6])
            out["udp_tunnel"] = {"sub_type": body[0], "code": body[1],
                                 "force": bool(fl & 0x8000), "keepalive": ka}
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
    udp = udp_tunnel_request(a.force) if a.udp_tunnel else None
    req = build_request(a.home, a.ha, a.coa, a.lifetime, a.msisdn, a.spi, key, ident, a.bad_auth,
                        udp)
    s = udp_socket(a.src, a.sport)
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
    if a.expect_udp_tunnel is not None:  # the Reply extension with this code, or none (-1)
        got = r.get("udp_tunnel")
        ok = ok and (got is None if a.expect_udp_tunnel < 0 else
                     got is not None and got["code"] == a.expect_udp_tunnel)
    return 0 if ok else 1


# --- NAT traversal (tests/e2e/nat_e2e.sh): MIP Tunnel Data from behind a NAT ---

def cmd_tunnel_send(a):
    """Sends one MIP Tunnel Data message (RFC 3519 section 3.3: type 4, next header,
    reserved 2 bytes, then the inner IPv4 packet) from --src:--sport to --dst:434; the
    inner packet is UDP --inner-src -> --inner-dst:--dport carrying --payload."""
    inner = ipv4(a.inner_src, a.inner_dst, 17,
                 udp(a.inner_sport, a.dport, a.payload.encode()), a.ident)
    s = udp_socket(a.src, a.sport)
    s.sendto(bytes([4, a.next_header, 0, 0]) + inner, (a.dst, 434))
    print(json.dumps({"sent": len(inner) + 4, "from": s.getsockname()}))
    return 0


def cmd_tunnel_recv(a):
    """Receives MIP Tunnel Data messages on --src:--sport for up to --timeout s; prints
    what each carries; exit 0 iff one from --peer:434 is type 4, next header 4, with an
    inner IPv4 packet to --inner-dst (ICMP echo request if --icmp-echo)."""
    s = udp_socket(a.src, a.sport, timeout=0.2)
    print(json.dumps({"listening": s.getsockname()}), flush=True)
    end, ok, seen = time.time() + a.timeout, False, []
    while time.time() < end and not ok:
        try:
            data, peer = s.recvfrom(4096)
        except socket.timeout:
            continue
        d = {"from": peer, "len": len(data)}
        if len(data) >= 24:
            inner = data[4:]
            d.update(type=data[0], next_header=data[1], inner_src=socket.inet_ntoa(inner[12:16]),
                     inner_dst=socket.inet_ntoa(inner[16:20]), inner_proto=inner[9])
            ihl = (inner[0] & 15) * 4
            if inner[9] == 1 and len(inner) > ihl:
                d["icmp_type"] = inner[ihl]
            ok = (peer == (a.peer, 434) and data[0] == 4 and data[1] == 4
                  and d["inner_dst"] == a.inner_dst
                  and (not a.icmp_echo or d.get("icmp_type") == 8))
        seen.append(d)
    print(json.dumps({"received": seen, "ok": ok}))
    return 0 if ok else 1


def cmd_udp_recv(a):
    """The correspondent: receives UDP on --bind:--port for up to --timeout s; exit 0
    iff a datagram from --expect-from carries --expect-payload."""
    s = udp_socket(a.bind, a.port, timeout=0.2)
    print(json.dumps({"listening": s.getsockname()}), flush=True)
    end, seen = time.time() + a.timeout, []
    while time.time() < end:
        try:
            data, peer = s.recvfrom(4096)
        except socket.timeout:
            continue
        seen.append({"from": peer, "payload": data.decode(errors="replace")})
        if peer[0] == a.expect_from and data == a.expect_payload.encode():
            print(json.dumps({"received": seen, "ok": True}))
            return 0
    print(json.dumps({"received": seen, "ok": False}))
    return 1


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


# --- the flood test (tests/e2e/flood_e2e.sh): raw-socket attacker and timed victim ---

ETH_P_IP = 0x0800
SOL_PACKET = 263
PACKET_QDISC_BYPASS = 20


def csum(b):
    if len(b) % 2:
        b += b"\0"
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def ipv4(src, dst, proto, payload, ident=0):
    h = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(payload), ident, 0, 64, proto, 0,
                    socket.inet_aton(src), socket.inet_aton(dst))
    return h[:10] + struct.pack("!H", csum(h)) + h[12:] + payload


def udp(sport, dport, payload):
    return struct.pack("!HHHH", sport, dport, 8 + len(payload), 0) + payload  # no checksum


def attack_payloads(a, rnd, src, n, junk_only=False):
    """n request payloads of the attack mix from one spoofed source: the victim's
    MSISDN with a wrong authenticator (half), an unknown subscriber, unparsable junk
    (shorter than the fixed part, or another type), random bytes; `junk_only`: only the
    structurally unparsable kinds (which must never be answered)."""
    out = []
    for i in range(n):
        kind = i % 8 if not junk_only else 5 + i % 2
        ident = (ntp_now() << 32) | rnd.getrandbits(32)
        if kind < 4:  # forged: the victim's MSISDN and home, wrong key
            out.append(build_request(a.victim_home, a.ha, src, 600, a.victim_msisdn, 256,
                                     rnd.randbytes(32), ident))
        elif kind == 4:  # unknown subscriber
            out.append(build_request("192.0.2.99", a.ha, src, 600, "49999", 256,
                                     rnd.randbytes(32), ident))
        elif kind == 5:  # unparsable: shorter than the fixed part
            out.append(bytes([1]) + rnd.randbytes(rnd.randrange(0, 23)))
        elif kind == 6:  # unparsable: not a Registration Request
            out.append(bytes([rnd.choice([0, 2, 3, 7, 255])]) + rnd.randbytes(40))
        else:  # random bytes of random length
            out.append(rnd.randbytes(rnd.randrange(0, 120)))
    return out


def cmd_blast(a):
    rnd = random.Random(a.seed)
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_IP))
    s.bind((a.iface, 0))
    # Bypass the qdisc (as the MSM's af_packet does): faster, and invisible to captures
    # on this interface, which then see only what comes back.
    s.setsockopt(SOL_PACKET, PACKET_QDISC_BYPASS, 1)
    src_mac = s.getsockname()[4]
    eth = bytes.fromhex(a.dst_mac.replace(":", "")) + src_mac + struct.pack("!H", ETH_P_IP)
    frames = []
    for spec in a.path:
        path, srcs, *mix = spec.split(":")
        for src in srcs.split(","):
            junk = mix == ["junk"]
            for i, p in enumerate(attack_payloads(a, rnd, src, a.per_source, junk)):
                if path == "1":  # IPgprs -> IPmsm-gprs:434
                    pkt = ipv4(src, a.ha, 17, udp(rnd.randrange(1024, 65536), 434, p), i)
                elif path == "2":  # outer IPwlan -> IPmsm-wlan, inner home -> IPmsm-gprs
                    inner = ipv4(a.victim_home, a.ha, 17, udp(434, 434, p), i)
                    pkt = ipv4(src, a.msm_wlan, 4, inner, i)
                else:  # path 3: IPwlan -> IPmsm-wlan:434
                    pkt = ipv4(src, a.msm_wlan, 17, udp(rnd.randrange(1024, 65536), 434, p), i)
                frames.append(eth + pkt)
    rnd.shuffle(frames)
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    sent = errors = 0
    chunk = 32  # frames sent back to back; with --rate, paced per chunk
    t0 = time.time()
    print(json.dumps({"started": t0}), flush=True)
    end = t0 + a.duration
    while time.time() < end and not stop:
        for i in range(0, len(frames), chunk):
            for f in frames[i:i + chunk]:
                try:
                    s.send(f)
                except OSError:
                    errors += 1
            sent += len(frames[i:i + chunk])
            if a.rate:
                time.sleep(max(0.0, t0 + sent / a.rate - time.time()))
            if stop:
                break
    t1 = time.time()
    print(json.dumps({"iface": a.iface, "paths": a.path, "frames": len(frames), "sent": sent,
                      "send_errors": errors, "start": t0, "end": t1,
                      "seconds": round(t1 - t0, 3), "pps": round(sent / (t1 - t0))}))
    return 0


def in_netns(name, fn):
    """Calls fn() with this thread in network namespace `name` (setns(2): the sockets fn
    opens stay in it), then returns to the original namespace."""
    import ctypes
    libc = ctypes.CDLL(None, use_errno=True)
    clone_newnet = 0x40000000
    own = os.open("/proc/self/ns/net", os.O_RDONLY)
    target = os.open(f"/var/run/netns/{name}", os.O_RDONLY)
    try:
        if libc.setns(target, clone_newnet) != 0:
            raise OSError(ctypes.get_errno(), f"setns {name}")
        return fn()
    finally:
        libc.setns(own, clone_newnet)
        os.close(own)
        os.close(target)


def percentile(v, q):
    v = sorted(v)
    return v[min(len(v) - 1, int(q * len(v)))] if v else None


def cmd_victim(a):
    key = bytes.fromhex(a.key)
    legs = []
    for spec in a.leg:
        ns, path, src, dst = spec.split(":")
        legs.append((path, dst, in_netns(ns, lambda: udp_socket(src, timeout=0.05))))
    results = {}  # path -> list of (latency_s, tries)
    failures = []
    t_end = time.time() + a.duration
    k = 0
    while time.time() < t_end:
        path, dst, s = legs[k % len(legs)]
        k += 1
        t_next = time.time() + a.interval / 1000
        sent = {}  # low 32 bits of Identification -> send time
        t0 = time.time()
        timeout, deadline, reply = 1.0, t0 + a.give_up, None
        while reply is None and time.time() < deadline:
            ident = ntp_ident()
            s.sendto(build_request(a.home, a.ha, a.coa, a.lifetime, a.msisdn, a.spi, key,
                                   ident), (dst, 434))
            sent[ident & 0xFFFFFFFF] = ident
            t_retx = time.time() + timeout
            timeout *= 2
            while reply is None and time.time() < min(t_retx, deadline):
                try:
                    data, _ = s.recvfrom(2048)
                except socket.timeout:
                    continue
                r = parse_reply(data, key, a.spi)
                if r.get("ident") is not None and (r["ident"] & 0xFFFFFFFF) in sent:
                    reply = r
                # else: a late Reply to an earlier request (already answered): ignore
        if reply is None:
            failures.append({"path": path, "error": "no reply", "tries": len(sent)})
            continue
        lat = time.time() - t0
        if reply["code"] != 0 or reply["auth_ok"] is not True or reply["nai"] != str(a.msisdn):
            failures.append({"path": path, "reply": reply, "tries": len(sent)})
        results.setdefault(path, []).append((lat, len(sent)))
        time.sleep(max(0.0, t_next - time.time()))
    lats = [x for v in results.values() for x, _ in v]
    ms = lambda x: None if x is None else round(x * 1000, 2)
    out = {
        "requests": sum(len(v) for v in results.values()) + sum(
            1 for f in failures if "reply" not in f),
        "answered_code0": sum(len(v) for v in results.values()) - sum(
            1 for f in failures if "reply" in f),
        "retransmitted": sum(1 for v in results.values() for _, t in v if t > 1),
        "transmissions": sum(t for v in results.values() for _, t in v) + sum(
            f["tries"] for f in failures if "reply" not in f),
        "p50_ms": ms(percentile(lats, 0.5)), "p99_ms": ms(percentile(lats, 0.99)),
        "max_ms": ms(max(lats) if lats else None),
        "by_path": {p: {"n": len(v), "p50_ms": ms(percentile([x for x, _ in v], 0.5)),
                        "p99_ms": ms(percentile([x for x, _ in v], 0.99))}
                    for p, v in sorted(results.items())},
        "failures": failures[:10],
    }
    print(json.dumps(out))
    return 0 if not failures and out["requests"] > 0 else 1


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
    r.add_argument("--sport", type=int, default=0, help="UDP source port (0: any)")
    r.add_argument("--udp-tunnel", action="store_true",
                   help="add the UDP Tunnel Request extension (RFC 3519, type 144)")
    r.add_argument("--force", action="store_true", help="with --udp-tunnel: set the F flag")
    r.add_argument("--expect-udp-tunnel", type=int,
                   help="require the UDP Tunnel Reply extension with this code (-1: absent)")
    ts = sub.add_parser("tunnel-send")
    for f in ("src", "dst", "inner-src", "inner-dst", "payload"):
        ts.add_argument("--" + f, required=True)
    ts.add_argument("--sport", type=int, required=True)
    ts.add_argument("--dport", type=int, required=True)
    ts.add_argument("--inner-sport", type=int, default=40000)
    ts.add_argument("--next-header", type=int, default=4)
    ts.add_argument("--ident", type=int, default=1)
    tr = sub.add_parser("tunnel-recv")
    for f in ("src", "peer", "inner-dst"):
        tr.add_argument("--" + f, required=True)
    tr.add_argument("--sport", type=int, required=True)
    tr.add_argument("--timeout", type=float, default=5)
    tr.add_argument("--icmp-echo", action="store_true")
    ur = sub.add_parser("udp-recv")
    for f in ("bind", "expect-from", "expect-payload"):
        ur.add_argument("--" + f, required=True)
    ur.add_argument("--port", type=int, required=True)
    ur.add_argument("--timeout", type=float, default=5)
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
    bl = sub.add_parser("blast")
    bl.add_argument("--iface", required=True)
    bl.add_argument("--dst-mac", required=True, help="the MSM port's MAC")
    bl.add_argument("--path", action="append", required=True,
                    help="PATH:SRC[,SRC...][:junk]: spoofed sources of path 1, 2 or 3 "
                    "(the path's frame format, whatever side it is sent from); junk: only "
                    "unparsable requests from them")
    bl.add_argument("--ha", default="192.0.2.129", help="IPmsm-gprs")
    bl.add_argument("--msm-wlan", default="198.51.100.1", help="IPmsm-wlan")
    bl.add_argument("--victim-msisdn", required=True)
    bl.add_argument("--victim-home", required=True)
    bl.add_argument("--duration", type=float, required=True)
    bl.add_argument("--rate", type=float, default=0, help="frames/s (0: as fast as possible)")
    bl.add_argument("--per-source", type=int, default=256, help="distinct frames per source")
    bl.add_argument("--seed", type=int, default=1)
    vi = sub.add_parser("victim")
    vi.add_argument("--leg", action="append", required=True,
                    help="NETNS:PATH:SRC:DST (PATH only labels the results)")
    for f in ("home", "ha", "coa", "msisdn", "key"):
        vi.add_argument("--" + f, required=True)
    vi.add_argument("--spi", type=int, default=256)
    vi.add_argument("--lifetime", type=int, default=600)
    vi.add_argument("--duration", type=float, default=10)
    vi.add_argument("--interval", type=float, default=150, help="ms between requests")
    vi.add_argument("--give-up", type=float, default=8, help="s without a Reply: failure")
    a = p.parse_args()
    sys.exit({"register": cmd_register, "storm": cmd_storm, "flood": cmd_flood,
              "blast": cmd_blast, "victim": cmd_victim, "tunnel-send": cmd_tunnel_send,
              "tunnel-recv": cmd_tunnel_recv, "udp-recv": cmd_udp_recv}[a.cmd](a))


if __name__ == "__main__":
    main()
