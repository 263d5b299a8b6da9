#!/usr/bin/python3
"""GPRS-like radio link emulator for the handover testbed (userspace, L2).

Bridges Ethernet frames between two interfaces of its namespace (the GGSN's
side and the mobile's side) with a per-direction rate limit, a one-way delay
and a drop-tail queue, i.e. what `tc netem delay ... rate ...` would do on a
kernel that has netem. This kernel has neither sch_netem nor sch_fq/etf
(nothing that can delay packets; tbf alone only limits the rate), hence this.

    gprs_link.py IF_NET IF_MOBILE --down-kbit 384 --up-kbit 96 --delay-ms 150
        [--queue-ms 800] [--stats FILE]

Down = IF_NET -> IF_MOBILE. Frames are serialised at the direction's rate
(a frame leaves the queue when the previous one finished), then delayed.
A frame is dropped when the queue already holds more than --queue-ms of
serialisation time. SIGUSR1 writes the counters to --stats (JSON); so does
exit.
"""
import argparse
import collections
import json
import select
import signal
import socket
import sys
import time

ETH_P_ALL = 0x0003
PACKET_OUTGOING = 4


class Direction:
    def __init__(self, name, rx, tx, kbit, delay_s, queue_s):
        self.name, self.rx, self.tx = name, rx, tx
        self.bps = kbit * 1000.0
        self.delay_s, self.queue_s = delay_s, queue_s
        self.free_at = 0.0  # when the link finishes serialising the last frame
        self.q = collections.deque()  # (departure time, frame)
        self.frames = self.bytes = self.dropped = 0

    def offer(self, frame, now):
        start = max(now, self.free_at)
        if start - now > self.queue_s:
            self.dropped += 1
            return
        self.free_at = start + len(frame) * 8.0 / self.bps
        self.q.append((self.free_at + self.delay_s, frame))

    def flush(self, now):
        while self.q and self.q[0][0] <= now:
            _, f = self.q.popleft()
            try:
                self.tx.send(f)
                self.frames += 1
                self.bytes += len(f)
            except OSError:
                self.dropped += 1

    def next_due(self):
        return self.q[0][0] if self.q else None

    def stats(self):
        return {"frames": self.frames, "bytes": self.bytes, "dropped": self.dropped,
                "kbit": self.bps / 1000, "delay_ms": self.delay_s * 1000}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("if_net")
    ap.add_argument("if_mobile")
    ap.add_argument("--down-kbit", type=float, default=384)
    ap.add_argument("--up-kbit", type=float, default=96)
    ap.add_argument("--delay-ms", type=float, default=150)
    ap.add_argument("--queue-ms", type=float, default=800)
    ap.add_argument("--stats")
    a = ap.parse_args()

    socks = {}
    for name in (a.if_net, a.if_mobile):
        s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
        s.bind((name, 0))
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 21)
        s.setblocking(False)
        socks[name] = s
    d = a.delay_ms / 1000.0
    q = a.queue_ms / 1000.0
    down = Direction("down", socks[a.if_net], socks[a.if_mobile], a.down_kbit, d, q)
    up = Direction("up", socks[a.if_mobile], socks[a.if_net], a.up_kbit, d, q)
    by_sock = {down.rx: down, up.rx: up}

    def dump(*_):
        if a.stats:
            with open(a.stats, "w") as f:
                json.dump({"down": down.stats(), "up": up.stats()}, f)

    stop = []
    signal.signal(signal.SIGUSR1, dump)
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    signal.signal(signal.SIGINT, lambda *_: stop.append(1))
    print(f"gprs link {a.if_net} <-> {a.if_mobile}: down {a.down_kbit} kbit/s, up {a.up_kbit} kbit/s, "
          f"delay {a.delay_ms} ms one way, queue {a.queue_ms} ms; ready", flush=True)
    while not stop:
        now = time.monotonic()
        dues = [t for t in (down.next_due(), up.next_due()) if t is not None]
        timeout = max(0.0, min(dues) - now) if dues else 0.5
        try:
            r, _, _ = select.select(list(by_sock), [], [], min(timeout, 0.5))
        except InterruptedError:
            continue
        now = time.monotonic()
        for s in r:
            dirn = by_sock[s]
            while True:
                try:
                    frame, addr = s.recvfrom(65536)
                except BlockingIOError:
                    break
                except OSError:  # ENETDOWN while a side is down (coverage lost): carry on
                    break
                if addr[2] == PACKET_OUTGOING:  # our own transmissions
                    continue
                dirn.offer(frame, now)
        now = time.monotonic()
        down.flush(now)
        up.flush(now)
    dump()


if __name__ == "__main__":
    sys.exit(main())
