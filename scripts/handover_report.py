#!/usr/bin/python3
"""Summary of a handover run (scripts/demo.sh, tests/e2e/handover_e2e.sh).

    handover_report.py WORKDIR [--json OUT]

Reads from WORKDIR: phases.jsonl (one JSON object per phase: name, the move's
time (start) and when the phase's measurements begin (measure_start), expected path, start/end times, the MSM's
counters at both ends), wwan.pcap and wlan.pcap (the terminal's two interfaces,
captured by tcpdump), progress (receiver: "<time> <bytes>"), recv.json and
send.json (tcpstream.py), mcm.json (`mcm ctl status` at the end).
Prints per phase throughput and path, each handover's interruption (last data
packet on the old path to the first on the new; "overlap" when the new path
delivered before the old one went quiet: make-before-break), retransmitted
registrations and whether the connection survived with every byte intact.
Exit status 0 only if it did.
"""
import json
import struct
import sys

SERVER = bytes([203, 0, 113, 130])


def data_packets(path):
    """(time, path key) of every downlink TCP data segment from the server:
    plain on the WWAN ("wwan"), IP-in-IP or RFC 3519 MIP Tunnel Data (UDP from
    port 434, type 4) on the WLAN (key = care-of address)."""
    out = []
    try:
        f = open(path, "rb")
    except OSError:
        return out
    with f:
        gh = f.read(24)
        if len(gh) < 24:
            return out
        magic = struct.unpack("<I", gh[:4])[0]
        endian = "<" if magic in (0xA1B2C3D4, 0xA1B23C4D) else ">"
        nano = magic in (0xA1B23C4D, 0x4D3CB2A1)
        while True:
            rh = f.read(16)
            if len(rh) < 16:
                break
            sec, frac, incl, _ = struct.unpack(endian + "IIII", rh)
            fr = f.read(incl)
            if len(fr) < incl:
                break
            t = sec + frac / (1e9 if nano else 1e6)
            if len(fr) < 34 or fr[12:14] != b"\x08\x00":
                continue
            ip = fr[14:]
            key = "wwan"
            if ip[9] == 4:  # IP-in-IP: look inside
                key = ".".join(str(b) for b in ip[16:20])
                ip = ip[(ip[0] & 15) * 4:]
                if len(ip) < 20:
                    continue
            elif ip[9] == 17:  # UDP: MIP Tunnel Data from 434 (RFC 3519)?
                u = ip[(ip[0] & 15) * 4:]
                if len(u) < 8 + 4 + 20 or u[0:2] != b"\x01\xb2" or u[8] != 4:
                    continue
                key = ".".join(str(b) for b in ip[16:20])
                ip = u[12:]
            if ip[9] != 6 or ip[12:16] != SERVER:
                continue
            ihl = (ip[0] & 15) * 4
            total = struct.unpack(">H", ip[2:4])[0]
            if len(ip) < ihl + 13:
                continue
            doff = (ip[ihl + 12] >> 4) * 4
            if total - ihl - doff > 0:
                out.append((t, key))
    return out


def load(path, default=None):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return default


def bytes_at(progress, t):
    """Bytes received by time t (last progress line at or before t)."""
    b = 0
    for (pt, pb) in progress:
        if pt <= t:
            b = pb
        else:
            break
    return b


def main():
    w = sys.argv[1]
    out_json = sys.argv[sys.argv.index("--json") + 1] if "--json" in sys.argv else None
    phases = []
    try:
        phases = [json.loads(line) for line in open(f"{w}/phases.jsonl") if line.strip()]
    except (OSError, ValueError):
        pass
    recv = load(f"{w}/recv.json", {})
    send = load(f"{w}/send.json", {})
    mcm = load(f"{w}/mcm.json", {})
    progress = []
    try:
        for line in open(f"{w}/progress"):
            t, b = line.split()
            progress.append((float(t), int(b)))
    except OSError:
        pass
    pkts = sorted(data_packets(f"{w}/wwan.pcap") + data_packets(f"{w}/wlan.pcap"))

    rows = []
    for ph in phases:
        # Throughput and paths from when the phase's path was in place (a
        # make-before-break move keeps the old path until the MSM accepts).
        s, e = ph.get("measure_start", ph["start"]), ph["end"]
        seen = {}
        for (t, k) in pkts:
            if s <= t < e:
                seen[k] = seen.get(k, 0) + 1
        got = bytes_at(progress, e) - bytes_at(progress, s)
        m0, m1 = ph.get("msm_start", {}), ph.get("msm_end", {})
        d = {k: m1.get(k, 0) - m0.get(k, 0) for k in ("downlink_tunnel", "downlink_wwan", "uplink_tunnel", "uplink_wwan",
                                                       "downlink_nat", "uplink_nat")}
        rows.append({
            "phase": ph["name"], "expected_path": ph["path"], "seconds": round(e - s, 1),
            "bytes": got, "kbit_per_s": round(got * 8 / max(e - s, 1e-3) / 1000, 1),
            "data_segments_by_path": seen, "msm": d,
        })

    handovers = []
    for i in range(1, len(phases)):
        old, new, t0 = phases[i - 1]["key"], phases[i]["key"], phases[i]["start"]
        first_new = next((t for (t, k) in pkts if k == new and t >= t0), None)
        last_old = None
        if first_new is not None:
            olds = [t for (t, k) in pkts if k == old and t0 - 30 <= t <= phases[i]["end"]]
            last_old = max(olds) if olds else None
        # Longest gap in delivery (any path) from the handover command on.
        win = [t for (t, _) in pkts if t0 <= t <= t0 + 15]
        times = [t0] + win
        stall = max((b - a for a, b in zip(times, times[1:])), default=None)
        h = {"from": phases[i - 1]["name"], "to": phases[i]["name"],
             "first_on_new_after_s": None if first_new is None else round(first_new - t0, 3)}
        if first_new is None:
            h["interruption_ms"] = None
            h["note"] = "no data on the new path"
        elif last_old is None or last_old <= first_new:
            h["interruption_ms"] = None if last_old is None else round((first_new - last_old) * 1000, 1)
            h["note"] = "break-before-make" if last_old is not None else "old path silent"
        else:
            h["interruption_ms"] = 0.0
            h["note"] = f"overlap: old path still delivered {round((last_old - first_new) * 1000)} ms after the new one started"
        h["longest_delivery_gap_ms"] = None if stall is None else round(stall * 1000, 1)
        handovers.append(h)

    st = (mcm.get("machine") or {}).get("stats", {})
    intact = (bool(recv) and bool(send) and "error" not in recv and "error" not in send
              and recv.get("bytes") == send.get("bytes") and recv.get("sha256") == send.get("sha256")
              and recv.get("bytes", 0) > 0)
    path_ok = all(
        (r["expected_path"] == "wwan" and r["msm"]["downlink_tunnel"] + r["msm"]["downlink_nat"] == 0
         and r["msm"]["downlink_wwan"] > 0)
        or (r["expected_path"] != "wwan" and r["msm"]["downlink_tunnel"] + r["msm"]["downlink_nat"] > 0)
        for r in rows)
    summary = {
        "phases": rows, "handovers": handovers,
        "registrations": {k: st.get(k) for k in ("requests_sent", "retransmissions", "registrations_accepted",
                                                 "cancels_accepted", "resyncs", "replies", "udp_tunnel_accepted",
                                                 "quality_handovers", "nat_reregistrations")},
        "transfer": {"sent": send, "received": recv},
        "survived_intact": intact, "paths_as_expected": path_ok,
    }

    print()
    print("=" * 78)
    print("HANDOVER SUMMARY")
    print("=" * 78)
    print(f"{'phase':<10} {'s':>5} {'received':>12} {'kbit/s':>9}  path (MSM downlink tunnel/wwan packets)")
    for r in rows:
        m = r["msm"]
        tun = f"{m['downlink_tunnel']}" if not m["downlink_nat"] else f"UDP {m['downlink_nat']}"
        print(f"{r['phase']:<10} {r['seconds']:>5} {r['bytes']:>12,} {r['kbit_per_s']:>9}  "
              f"{r['expected_path']:<22} ({tun}/{m['downlink_wwan']})")
    print()
    print(f"{'handover':<20} {'first data on new path':>22} {'interruption':>13} {'longest gap':>12}  note")
    for h in handovers:
        i = "n/a" if h["interruption_ms"] is None else f"{h['interruption_ms']:.0f} ms"
        g = "n/a" if h["longest_delivery_gap_ms"] is None else f"{h['longest_delivery_gap_ms']:.0f} ms"
        f = "never" if h["first_on_new_after_s"] is None else f"+{h['first_on_new_after_s']:.2f} s"
        print(f"{h['from'] + ' -> ' + h['to']:<20} {f:>22} {i:>13} {g:>12}  {h['note']}")
    print("  (interruption: last data segment on the old path to the first on the new one, at the terminal;")
    print("   longest gap: longest pause in data segments on any path in the 15 s after the move began)")
    r = summary["registrations"]
    print()
    print(f"registrations: {r['requests_sent']} requests sent, {r['retransmissions']} retransmitted, "
          f"{r['registrations_accepted']} accepted, {r['cancels_accepted']} cancels accepted, "
          f"{r['resyncs']} clock resyncs; replies by code {r['replies']}")
    print(f"NAT traversal: {r['udp_tunnel_accepted']} registrations with the UDP tunnel, "
          f"{r['nat_reregistrations']} re-registrations after a mapping change; "
          f"WLANs left by measured quality: {r['quality_handovers']}")
    print(f"transfer: sent {send.get('bytes')} bytes sha256 {str(send.get('sha256'))[:16]}..., "
          f"received {recv.get('bytes')} bytes sha256 {str(recv.get('sha256'))[:16]}...")
    for who, j in (("sender", send), ("receiver", recv)):
        if "error" in j:
            print(f"  {who} error: {j['error']}")
    print(f"downlink paths as expected (tunnel in WLAN phases, WWAN in GPRS phases): {'yes' if path_ok else 'NO'}")
    print(f"THE CONNECTION SURVIVED WITH EVERY BYTE INTACT: {'YES' if intact else 'NO'}")
    print("=" * 78)
    if out_json:
        with open(out_json, "w") as f:
            json.dump(summary, f, indent=1)
    return 0 if intact else 1


if __name__ == "__main__":
    sys.exit(main())
