# TRex STL profile: replay an msm-pcapgen pcap against the MSM, every frame once per loop,
# in file order (STLProfile.load_pcap: one single-packet stream per frame, chained).
#
#   trex-console> start -f /path/perf/trex/msm_pcap.py --port 0 \
#                   -t "--pcap /path/registrations.pcap --ipg_usec 100"
#
# In order and exactly once is what a registration storm needs (each request is answered
# once; a repeated request gets 133). It is also fine for small data pcaps; TRex's local
# pcap push is limited to about 1 MB of pcap and is slow to load (one stream per frame):
# for big data pcaps use msm_streams.py (load at line rate) or msm_push.py (server-side
# push of the whole file).
#
# MACs: the frames carry the MSM port's MAC as destination and the tester's (--peer-mac) as
# source; this profile keeps both (src_mac_pcap / dst_mac_pcap), so generate the pcap with
# --msm-mac <MSM port MAC> --peer-mac <this TRex port's MAC>. The leading ARP request makes
# the MSM use that MAC for its gateway, so its answers come back to this port.
#
# Timing: without --ipg_usec the gaps come from the pcap timestamps (msm-pcapgen --rate);
# registrations.pcap's Identification timestamps advance at that same rate, so replaying
# at the pcap's pace keeps every request inside the MSM's replay window -- if the replay
# starts within replay_window_s (7 s) of the generation time (+ --time-offset).
import argparse
import os

from trex_stl_lib.api import STLProfile


class MsmPcap(object):
    def get_streams(self, tunables, **kwargs):
        parser = argparse.ArgumentParser(
            description="Argparser for {}".format(os.path.basename(__file__)),
            formatter_class=argparse.ArgumentDefaultsHelpFormatter,
        )
        parser.add_argument("--pcap", required=True, help="msm-pcapgen output (downlink/uplink/registrations.pcap)")
        parser.add_argument("--ipg_usec", type=float, default=None,
                            help="inter-packet gap in microseconds (default: the pcap's timestamps)")
        parser.add_argument("--speedup", type=float, default=1.0, help="divide the pcap's gaps by this")
        parser.add_argument("--loop_count", type=int, default=1,
                            help="times to send the file (keep 1 for registrations: repeats get 133)")
        parser.add_argument("--tester_macs", action="store_true",
                            help="use the TRex port's MACs (trex_cfg.yaml) instead of the pcap's")
        args = parser.parse_args(tunables)
        keep = not args.tester_macs
        profile = STLProfile.load_pcap(
            os.path.abspath(args.pcap),
            ipg_usec=args.ipg_usec,
            speedup=args.speedup,
            loop_count=args.loop_count,
            src_mac_pcap=keep,
            dst_mac_pcap=keep,
        )
        return profile.get_streams()


def register():
    return MsmPcap()
