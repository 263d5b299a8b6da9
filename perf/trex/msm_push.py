#!/usr/bin/env python3
# Push a whole msm-pcapgen pcap from the TRex server (server-based push: any size, in file
# order, no Field Engine), then print the port counters. Needs a running TRex server
# (./t-rex-64 -i) and its Python client on PYTHONPATH, e.g.
#   export PYTHONPATH=$TREX/automation/trex_control_plane/interactive
#   perf/trex/msm_push.py --server 127.0.0.1 --port 0 --pcap /abs/path/registrations.pcap \
#       --ipg-usec 100 --rx-port 0
# The path is read by the server: give an absolute path that exists on the TRex host.
# For registrations keep --count 1 (a repeated request is answered 133) and start within
# the replay window (see perf/README.md); for data use --count N or --duration S.
import argparse
import sys

try:
    from trex.stl.api import STLClient, STLError
except ImportError:
    from trex_stl_lib.api import STLClient, STLError  # older TRex layouts


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--server", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=0, help="TRex port cabled to the MSM")
    ap.add_argument("--rx-port", type=int, default=None,
                    help="port the MSM answers on (default --port)")
    ap.add_argument("--pcap", required=True, help="absolute path on the TRex server")
    ap.add_argument("--ipg-usec", type=float, default=None,
                    help="inter-packet gap (default: the pcap's timestamps)")
    ap.add_argument("--speedup", type=float, default=1.0)
    ap.add_argument("--count", type=int, default=1, help="times to send the file")
    ap.add_argument("--duration", type=float, default=-1, help="stop after S seconds (-1: no limit)")
    ap.add_argument("--tester-macs", action="store_true",
                    help="use the TRex port's MACs instead of the pcap's")
    a = ap.parse_args()
    rx = a.port if a.rx_port is None else a.rx_port
    ports = sorted({a.port, rx})
    keep = not a.tester_macs

    c = STLClient(server=a.server)
    try:
        c.connect()
        c.reset(ports=ports)
        c.clear_stats()
        c.push_remote(a.pcap, ports=[a.port], ipg_usec=a.ipg_usec, speedup=a.speedup,
                      count=a.count, duration=a.duration, force=True,
                      src_mac_pcap=keep, dst_mac_pcap=keep)
        c.wait_on_traffic(ports=[a.port], rx_delay_ms=1000)
        st = c.get_stats(ports=ports)
        sent = st[a.port]["opackets"]
        got = st[rx]["ipackets"]
        print("msm_push: sent {} frames on port {}, received {} on port {} ({:.4f})".format(
            sent, a.port, got, rx, got / sent if sent else 0.0))
        return 0
    except STLError as e:
        print("msm_push: {}".format(e), file=sys.stderr)
        return 1
    finally:
        c.disconnect()


if __name__ == "__main__":
    sys.exit(main())
