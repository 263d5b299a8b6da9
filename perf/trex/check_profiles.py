#!/usr/bin/env python3
# Loads the TRex profiles with TRex's own Python client library (no TRex server: only the
# profile -> streams step) on pcaps from msm-pcapgen, and checks the streams: one per frame
# in file order for msm_pcap.py, ARP + N continuous streams for msm_streams.py, packet
# bytes equal to the pcap's frames, MACs kept from the pcap, and the JSON TRex would send
# to its server builds.
#
#   PYTHONPATH=$TREX/automation/trex_control_plane/interactive \
#     python3 perf/trex/check_profiles.py DIR_WITH_downlink.pcap_AND_registrations.pcap
import os
import sys

from trex_stl_lib.api import STLProfile, STLStreamDstMAC_PKT

from scapy.utils import RawPcapReader

HERE = os.path.dirname(os.path.abspath(__file__))


def frames(path):
    return [bytes(f) for f, _ in RawPcapReader(path)]


def stream_bytes(s):
    d = s.to_json()
    import base64

    return base64.b64decode(d["packet"]["binary"]), d


def main(d):
    reg = os.path.join(d, "registrations.pcap")
    down = os.path.join(d, "downlink.pcap")
    want = frames(reg)

    p = STLProfile.load_py(os.path.join(HERE, "msm_pcap.py"), tunables=["--pcap", reg])
    streams = p.get_streams()
    assert len(streams) == len(want), (len(streams), len(want))
    for i, (s, f) in enumerate(zip(streams, want)):
        b, j = stream_bytes(s)
        assert b == f, "stream {} is not frame {}".format(i, i)
        # flags: bit 0 = source MAC from the packet, bits 1-2 = destination MAC mode (1: packet).
        assert j["flags"] == 3, j["flags"]
        assert j["mode"]["type"] == "single_burst" and j["mode"]["total_pkts"] == 1
        assert s.get_next() == (i + 2 if i + 1 < len(want) else 1), (i, s.get_next())
        assert j["self_start"] == (i == 0)
    # Gaps follow the pcap timestamps: 10000 requests/s = 100 us (the ARP and the first
    # request share a timestamp).
    isg = [s.to_json()["isg"] for s in streams]
    assert isg[1] == 0.0 and all(abs(x - 100.0) < 0.01 for x in isg[2:]), isg[:4]
    print("PASS msm_pcap.py: {} single-packet streams, chained in file order, 100 us apart, "
          "bytes = pcap frames, MACs from the pcap".format(len(streams)))

    p = STLProfile.load_py(os.path.join(HERE, "msm_streams.py"), tunables=["--pcap", down, "--streams", "100"])
    streams = p.get_streams()
    data = [f for f in frames(down) if f[12:14] != b"\x08\x06"][:100]
    arp = [f for f in frames(down) if f[12:14] == b"\x08\x06"]
    assert len(streams) == 1 + len(data), len(streams)
    b, j = stream_bytes(streams[0])
    assert b == arp[0] and j["mode"]["type"] == "single_burst"
    total = 0.0
    for s, f in zip(streams[1:], data):
        b, j = stream_bytes(s)
        assert b == f
        assert j["mode"]["type"] == "continuous" and j["flags"] == 3
        total += j["mode"]["rate"]["value"]
    assert abs(total - 1000.0) < 1e-6, total
    print("PASS msm_streams.py: ARP burst + {} continuous streams (1000 pps total before -m), bytes = pcap frames".format(len(data)))
    assert STLStreamDstMAC_PKT == 1

    # msm_push.py needs a server; check that it imports and that the STLClient methods
    # it calls take the arguments it passes.
    import inspect

    sys.path.insert(0, HERE)
    sys.dont_write_bytecode = True
    import msm_push

    for method, args in [
        ("push_remote", ["ports", "ipg_usec", "speedup", "count", "duration", "force", "src_mac_pcap", "dst_mac_pcap"]),
        ("wait_on_traffic", ["ports", "rx_delay_ms"]),
        ("get_stats", ["ports"]),
        ("reset", ["ports"]),
    ]:
        params = inspect.signature(getattr(msm_push.STLClient, method)).parameters
        missing = [a for a in args if a not in params]
        assert not missing, (method, missing)
    print("PASS msm_push.py: imports; STLClient.push_remote/wait_on_traffic/get_stats/reset take its arguments")


if __name__ == "__main__":
    main(sys.argv[1])
