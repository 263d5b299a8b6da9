# TRex STL profile: line-rate downlink or uplink load built from an msm-pcapgen pcap.
#
#   trex-console> start -f /path/perf/trex/msm_streams.py --port 0 -m 10mpps \
#                   -t "--pcap /path/downlink.pcap --streams 1024"
#
# Takes the first --streams data frames of the pcap (the leading ARP request is sent once,
# first, by a single-burst stream) and makes each a continuous stream of equal share;
# scale the total with TRex's multiplier (-m 10mpps, -m 100%). Each frame keeps its
# addresses, so the MSM sees --streams distinct (home, care-of) pairs, drawn uniformly
# from the population; use --streams up to the subscriber count for more table spread
# (TRex caches a limited number of packets in total, roughly 10-40K across all streams
# and ports), or msm_push.py to push every frame of a large pcap from the server.
#
# MACs: kept from the pcap (see msm_pcap.py); --tester_macs uses TRex's configured ones.
import argparse
import os

from trex_stl_lib.api import (
    STLPktBuilder,
    STLStream,
    STLStreamDstMAC_CFG_FILE,
    STLStreamDstMAC_PKT,
    STLTXCont,
    STLTXSingleBurst,
)

try:
    from scapy.utils import RawPcapReader
except ImportError:  # TRex bundles scapy under its own tree
    from trex.external_libs.scapy.utils import RawPcapReader  # noqa


ETHERTYPE_ARP = b"\x08\x06"


class MsmStreams(object):
    def get_streams(self, tunables, **kwargs):
        parser = argparse.ArgumentParser(
            description="Argparser for {}".format(os.path.basename(__file__)),
            formatter_class=argparse.ArgumentDefaultsHelpFormatter,
        )
        parser.add_argument("--pcap", required=True, help="msm-pcapgen downlink.pcap or uplink.pcap")
        parser.add_argument("--streams", type=int, default=1024, help="data frames taken from the pcap")
        parser.add_argument("--pps", type=float, default=1000.0,
                            help="total base rate in packets/s (scaled by -m)")
        parser.add_argument("--tester_macs", action="store_true",
                            help="use the TRex port's MACs (trex_cfg.yaml) instead of the pcap's")
        args = parser.parse_args(tunables)
        if args.streams < 1:
            raise ValueError("--streams must be at least 1")

        arp, data = [], []
        for frame, _meta in RawPcapReader(os.path.abspath(args.pcap)):
            if frame[12:14] == ETHERTYPE_ARP:
                arp.append(frame)
            elif len(data) < args.streams:
                data.append(frame)
            if len(data) >= args.streams:
                break
        if not data:
            raise ValueError("{}: no data frames".format(args.pcap))

        keep = not args.tester_macs
        mac = dict(
            mac_src_override_by_pkt=keep,
            mac_dst_override_mode=STLStreamDstMAC_PKT if keep else STLStreamDstMAC_CFG_FILE,
        )
        streams = []
        # The ARP request first (the MSM learns its gateway's MAC from it), then the load
        # 100 ms later.
        for i, frame in enumerate(arp[:1]):
            streams.append(STLStream(name="arp", packet=STLPktBuilder(pkt_buffer=frame),
                                     mode=STLTXSingleBurst(total_pkts=1, pps=10), **mac))
        share = args.pps / len(data)
        for i, frame in enumerate(data):
            streams.append(STLStream(name="d{}".format(i), packet=STLPktBuilder(pkt_buffer=frame),
                                     mode=STLTXCont(pps=share), isg=100000.0 if arp else 0.0, **mac))
        return streams


def register():
    return MsmStreams()
