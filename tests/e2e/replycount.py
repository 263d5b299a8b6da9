#!/usr/bin/python3
"""Counts the Registration Replies in a pcap by destination (the flood test's evidence).

  replycount.py FILE.pcap...
      prints one JSON object: {"DST": {"replies": N, "max_len": BYTES, "codes": {...}}}
      for every Reply (UDP from port 434, type 3) found, sent directly (paths 1 and 3) or
      inside IP-in-IP (path 2: counted under the outer destination, where it goes).

A plain pcap reader (Ethernet, IPv4): no scapy, so that captures of tens of thousands of
frames are read in a second.
"""
import json
import socket
import struct
import sys


def frames(path):
    with open(path, "rb") as f:
        head = f.read(24)
        if len(head) < 24:
            return
        magic = struct.unpack("<I", head[:4])[0]
        end = "<" if magic in (0xA1B2C3D4, 0xA1B23C4D) else ">"
        while True:
            rec = f.read(16)
            if len(rec) < 16:
                return
            _, _, incl, _ = struct.unpack(end + "IIII", rec)
            yield f.read(incl)


def ipv4(b):
    """(src, dst, proto, payload) of an IPv4 packet, or None."""
    if len(b) < 20 or b[0] >> 4 != 4:
        return None
    ihl = (b[0] & 15) * 4
    total = struct.unpack("!H", b[2:4])[0]
    return (socket.inet_ntoa(b[12:16]), socket.inet_ntoa(b[16:20]), b[9], b[ihl:total])


def reply_of(ip):
    """(code, udp payload length) if `ip` carries a Registration Reply, else None."""
    _, _, proto, p = ip
    if proto != 17 or len(p) < 8 or struct.unpack("!H", p[:2])[0] != 434:
        return None
    body = p[8:]
    if not body or body[0] != 3:
        return None
    return (body[1] if len(body) > 1 else None, len(body))


def main():
    out = {}
    for path in sys.argv[1:]:
        for fr in frames(path):
            if len(fr) < 14 or fr[12:14] != b"\x08\x00":
                continue
            ip = ipv4(fr[14:])
            if ip is None:
                continue
            r = reply_of(ip)
            if r is None and ip[2] == 4:  # path 2: the Reply tunnelled to the outer dst
                inner = ipv4(ip[3])
                r = reply_of(inner) if inner else None
            if r is None:
                continue
            d = out.setdefault(ip[1], {"replies": 0, "max_len": 0, "codes": {}})
            d["replies"] += 1
            d["max_len"] = max(d["max_len"], r[1])
            d["codes"][str(r[0])] = d["codes"].get(str(r[0]), 0) + 1
    print(json.dumps(out, sort_keys=True))


if __name__ == "__main__":
    main()
