#!/usr/bin/python3
"""Userspace IP-in-IP (RFC 2003) tunnel endpoint for the testbed.

This machine's kernel is built without CONFIG_NET_IPIP (no `ip tunnel ... mode ipip`), so
the mobile's side of the tunnel is this relay: packets the kernel routes into the TUN
device (the mobile's traffic from its home address) are sent on a raw IPPROTO_IPIP
socket to the MSM (the kernel writes the outer header: care-of address -> IPmsm-wlan,
protocol 4); protocol-4 packets from the MSM are stripped and written back into the TUN
device, where the kernel's own IP/TCP/ICMP stack receives them. Only the outer header is
handled here; everything else is the kernel.

usage: ipip_endpoint.py TUN_DEV LOCAL_COA REMOTE_MSM
Counts on SIGTERM/exit: prints 'ipip_endpoint: encap=N decap=N rejected=N'.
"""
import fcntl
import os
import select
import signal
import socket
import struct
import sys

TUNSETIFF = 0x400454CA
IFF_TUN = 0x0001
IFF_NO_PI = 0x1000


def main():
    dev, local, remote = sys.argv[1], sys.argv[2], sys.argv[3]
    tun = os.open("/dev/net/tun", os.O_RDWR)
    fcntl.ioctl(tun, TUNSETIFF, struct.pack("16sH", dev.encode(), IFF_TUN | IFF_NO_PI))
    raw = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_IPIP)
    raw.bind((local, 0))
    remote_b = socket.inet_aton(remote)
    counts = {"encap": 0, "decap": 0, "rejected": 0}

    def done(*_):
        print("ipip_endpoint: " + " ".join(f"{k}={v}" for k, v in counts.items()), flush=True)
        sys.exit(0)

    signal.signal(signal.SIGTERM, done)
    signal.signal(signal.SIGINT, done)
    print(f"ipip_endpoint: {dev} {local} <-> {remote} ready", flush=True)
    while True:
        r, _, _ = select.select([tun, raw], [], [])
        if tun in r:
            pkt = os.read(tun, 65535)
            if len(pkt) >= 20 and pkt[0] >> 4 == 4:
                try:
                    raw.sendto(pkt, (remote, 0))
                    counts["encap"] += 1
                except OSError as e:  # e.g. EMSGSIZE: the kernel answers the sender itself
                    print(f"ipip_endpoint: send: {e}", file=sys.stderr, flush=True)
        if raw in r:
            pkt = raw.recv(65535)
            ihl = (pkt[0] & 0x0F) * 4
            if len(pkt) < ihl + 20 or pkt[12:16] != remote_b or pkt[9] != 4:
                counts["rejected"] += 1
                continue
            os.write(tun, pkt[ihl:])
            counts["decap"] += 1


if __name__ == "__main__":
    main()
