#!/usr/bin/env python3
"""Lab load generator, run inside a pod namespace.

count IP PORT N         N new HTTP connections; prints {"<backend>": hits, ..., "fail": k}
loop IP PORT SECONDS    new connections back to back for SECONDS; prints {"ok": n, "fail": k, "errors": [...]}
storm IP PORT N fin|rst RATE
                        N new connections, at most RATE a second, each closed by FIN or by RST
                        (SO_LINGER 0); prints {"ok": n, "fail": k, "errors": [...]}
stream IP PORT N SECS   N long-lived connections, one line every 50 ms each for SECS;
                        prints [{"backend": name, "ok": lines, "fail": 0|1}, ...]
udpstorm IPS PORT FIRST N  one datagram from each source port FIRST..FIRST+N-1 to each of the
                        comma-separated IPS (N x len(IPS) new UDP flows, no answer awaited);
                        prints {"sent": datagrams, "fail": k, "seconds": t}
"""
import json
import socket
import struct
import sys
import time


def get(ip, port, rst=False):
    s = socket.create_connection((ip, port), timeout=3)
    try:
        s.sendall(b"GET / HTTP/1.0\r\n\r\n")
        data = b""
        while True:
            chunk = s.recv(4096)
            if not chunk:
                break
            data += chunk
        if rst:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    finally:
        s.close()
    return data.split(b"\r\n\r\n", 1)[1].decode().split()[0]


class Tally:
    """Requests that went through and those that failed, with the first few errors."""

    def __init__(self):
        self.ok, self.fail, self.errors = 0, 0, []

    def attempt(self, request):
        try:
            request()
            self.ok += 1
        except OSError as e:
            self.fail += 1
            if len(self.errors) < 5:
                self.errors.append(str(e))

    def result(self):
        return {"ok": self.ok, "fail": self.fail, "errors": self.errors}


def count(ip, port, n):
    hits = {"fail": 0}
    for _ in range(n):
        try:
            b = get(ip, port)
            hits[b] = hits.get(b, 0) + 1
        except OSError:
            hits["fail"] += 1
    return hits


def loop(ip, port, seconds):
    tally = Tally()
    end = time.time() + seconds
    while time.time() < end:
        tally.attempt(lambda: get(ip, port))
    return tally.result()


def storm(ip, port, n, close, rate):
    tally = Tally()
    start = time.time()
    for i in range(n):
        wait = start + i / rate - time.time()
        if wait > 0:
            time.sleep(wait)
        tally.attempt(lambda: get(ip, port, rst=close == "rst"))
    return tally.result()


def stream(ip, port, n, seconds):
    conns = []
    for _ in range(n):
        s = socket.create_connection((ip, port), timeout=3)
        f = s.makefile("rwb")
        f.write(b"STREAM\n")
        f.flush()
        conns.append({"sock": s, "file": f, "backend": f.readline().decode().strip(), "ok": 0, "fail": 0})
    print("streaming", flush=True)
    end = time.time() + seconds
    while time.time() < end:
        for c in conns:
            if c["fail"]:
                continue
            try:
                c["file"].write(b"ping\n")
                c["file"].flush()
                if c["file"].readline().decode().strip() == c["backend"]:
                    c["ok"] += 1
                else:
                    c["fail"] = 1
            except OSError:
                c["fail"] = 1
        time.sleep(0.05)
    for c in conns:
        c["sock"].close()
    return [{"backend": c["backend"], "ok": c["ok"], "fail": c["fail"]} for c in conns]


def udpstorm(ips, port, first, n):
    sent, fail, start = 0, 0, time.time()
    for sport in range(first, first + n):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind(("", sport))
            for ip in ips:
                s.sendto(b"x", (ip, port))
                sent += 1
        except OSError:
            fail += 1
        finally:
            s.close()
    return {"sent": sent, "fail": fail, "seconds": round(time.time() - start, 3)}


mode = sys.argv[1]
if mode == "count":
    print(json.dumps(count(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))))
elif mode == "loop":
    print(json.dumps(loop(sys.argv[2], int(sys.argv[3]), float(sys.argv[4]))))
elif mode == "storm":
    print(json.dumps(storm(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5], float(sys.argv[6]))))
elif mode == "stream":
    print(json.dumps(stream(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), float(sys.argv[5]))))
elif mode == "udpstorm":
    print(json.dumps(udpstorm(sys.argv[2].split(","), int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]))))
else:
    sys.exit("unknown mode " + mode)
