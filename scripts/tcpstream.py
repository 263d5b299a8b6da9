#!/usr/bin/python3
"""One long TCP transfer for the handover demo and test.

    tcpstream.py recv ADDR PORT --progress FILE   # the terminal: listen, receive, hash
    tcpstream.py send ADDR PORT --stop-file FILE  # the server: connect, send until FILE exists
        [--rate BYTES_PER_S]                      # paced (default: as fast as it goes)

The sender writes a deterministic pseudo-random stream (SHA-256 in counter
mode) until the stop file appears, then closes its side; both print one JSON
line with the byte count and the SHA-256 of every byte, so the caller can
check the connection survived with every byte intact. The receiver appends
"<unix time> <bytes so far>" to the progress file every 0.2 s. Small socket
buffers keep the data queued in the sender bounded (it must drain through
GPRS at the end).
"""
import argparse
import hashlib
import json
import os
import socket
import sys
import time

BUF = 128 * 1024


def recv(a):
    ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, BUF)
    ls.bind((a.addr, a.port))
    ls.listen(1)
    print("listening", file=sys.stderr, flush=True)
    c, peer = ls.accept()
    h = hashlib.sha256()
    n = 0
    last = 0.0
    t0 = time.time()
    with open(a.progress, "a", buffering=1) as prog:
        prog.write(f"{t0:.3f} 0\n")
        c.settimeout(a.idle_timeout)
        try:
            while True:
                d = c.recv(65536)
                if not d:
                    break
                h.update(d)
                n += len(d)
                now = time.time()
                if now - last >= 0.2:
                    prog.write(f"{now:.3f} {n}\n")
                    last = now
        except OSError as e:
            print(json.dumps({"bytes": n, "sha256": h.hexdigest(), "error": str(e)}), flush=True)
            return 1
        prog.write(f"{time.time():.3f} {n}\n")
    c.close()
    print(json.dumps({"bytes": n, "sha256": h.hexdigest(), "peer": peer[0], "seconds": round(time.time() - t0, 3)}), flush=True)
    return 0


def send(a):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, BUF)
    s.settimeout(30)
    s.connect((a.addr, a.port))
    h = hashlib.sha256()
    n = 0
    ctr = 0
    t0 = time.time()
    try:
        while not os.path.exists(a.stop_file):
            block = b"".join(hashlib.sha256(ctr.to_bytes(8, "big") + bytes([i])).digest() for i in range(256))
            ctr += 1
            s.sendall(block)
            h.update(block)
            n += len(block)
            if a.rate > 0:
                ahead = t0 + n / a.rate - time.time()
                if ahead > 0:
                    time.sleep(ahead)
        s.shutdown(socket.SHUT_WR)
        s.settimeout(a.drain_timeout)
        while s.recv(4096):
            pass
    except OSError as e:
        print(json.dumps({"bytes": n, "sha256": h.hexdigest(), "error": str(e)}), flush=True)
        return 1
    s.close()
    print(json.dumps({"bytes": n, "sha256": h.hexdigest(), "seconds": round(time.time() - t0, 3)}), flush=True)
    return 0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("mode", choices=["recv", "send"])
    ap.add_argument("addr")
    ap.add_argument("port", type=int)
    ap.add_argument("--progress", default="/dev/null")
    ap.add_argument("--stop-file")
    ap.add_argument("--idle-timeout", type=float, default=60)
    ap.add_argument("--drain-timeout", type=float, default=60)
    ap.add_argument("--rate", type=float, default=0, help="send: bytes/s (0: unpaced)")
    a = ap.parse_args()
    return recv(a) if a.mode == "recv" else send(a)


if __name__ == "__main__":
    sys.exit(main())
