#!/usr/bin/python3
"""TCP integrity check: `serve ADDR PORT` accepts one connection, reads until EOF and
answers with the sha256 of what it got; `send ADDR PORT NBYTES` sends NBYTES of
pseudo-random data and exits 0 only if the server's digest matches. Bounded by timeouts."""
import hashlib, os, socket, sys

def serve(addr, port):
    s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((addr, int(port))); s.listen(1); s.settimeout(60)
    print("listening", flush=True)
    c, _ = s.accept(); c.settimeout(60)
    h = hashlib.sha256(); n = 0
    while True:
        b = c.recv(65536)
        if not b: break
        h.update(b); n += len(b)
    c.sendall(h.hexdigest().encode()); c.close()
    print(f"received {n} bytes", flush=True)

def send(addr, port, nbytes):
    data = os.urandom(int(nbytes))
    c = socket.create_connection((addr, int(port)), timeout=60)
    c.sendall(data); c.shutdown(socket.SHUT_WR)
    got = b""
    while True:
        b = c.recv(100)
        if not b: break
        got += b
    ok = got.decode() == hashlib.sha256(data).hexdigest()
    print(f"sent {len(data)} bytes, digest {'match' if ok else 'MISMATCH'}", flush=True)
    sys.exit(0 if ok else 1)

if __name__ == "__main__":
    {"serve": serve, "send": send}[sys.argv[1]](*sys.argv[2:])
