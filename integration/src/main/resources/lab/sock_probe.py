#!/usr/bin/env python3
"""Lab client that shows what a program sees of a Service connection, as one JSON line:
  tcp IP PORT          connect, getpeername, the kernel's own peer for the socket (ss), the answer
  udp IP PORT          unconnected: sendto, recvfrom (who the answer seems to come from)
  udp-connected IP PORT  connect, send, recv, getpeername
  connect IP PORT PROTO  only connect() (tcp or udp) and how long it took, with its errno
IP may be IPv4 or IPv6; addresses are reported as ip:port, IPv6 as [ip]:port (as ss shows them).
"""
import json
import socket
import subprocess
import sys
import time


def family(ip):
    return socket.AF_INET6 if ":" in ip else socket.AF_INET


def show(addr):
    """A socket address as ip:port, [ip]:port for IPv6 (a 4-tuple in Python)."""
    return ("[%s]:%d" if len(addr) == 4 else "%s:%d") % addr[:2]


def kernel_peer(s):
    """The socket's peer as the kernel holds it (inet_diag, not getpeername)."""
    local_port = s.getsockname()[1]
    out = subprocess.check_output(["ss", "-Htn", "state", "established", "sport", "= :%d" % local_port]).decode().split()
    return out[3] if len(out) >= 4 else ""


def tcp(ip, port):
    s = socket.socket(family(ip), socket.SOCK_STREAM)
    s.settimeout(5)
    s.connect((ip, port))
    peer = show(s.getpeername())
    kpeer = kernel_peer(s)
    s.sendall(b"GET / HTTP/1.0\r\n\r\n")
    data = b""
    while True:
        d = s.recv(4096)
        if not d:
            break
        data += d
    body = data.split(b"\r\n\r\n", 1)[1].decode().strip()
    return {"peer": peer, "kernelPeer": kpeer, "body": body}


def udp(ip, port):
    s = socket.socket(family(ip), socket.SOCK_DGRAM)
    s.settimeout(2)
    s.sendto(b"q", (ip, port))
    data, addr = s.recvfrom(200)
    return {"from": show(addr), "body": data.decode().strip()}


def udp_connected(ip, port):
    s = socket.socket(family(ip), socket.SOCK_DGRAM)
    s.settimeout(2)
    s.connect((ip, port))
    s.send(b"q")
    data, addr = s.recvfrom(200)
    return {"from": show(addr), "peer": show(s.getpeername()), "body": data.decode().strip()}


def connect(ip, port, proto):
    s = socket.socket(family(ip), socket.SOCK_STREAM if proto == "tcp" else socket.SOCK_DGRAM)
    s.settimeout(5)
    start = time.monotonic()
    try:
        s.connect((ip, port))
        if proto == "udp":
            s.send(b"q")
        err = ""
    except OSError as e:
        err = e.errno is not None and __import__("errno").errorcode.get(e.errno, str(e.errno)) or type(e).__name__
    return {"error": err, "ms": round((time.monotonic() - start) * 1000)}


mode, ip, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
if mode == "tcp":
    print(json.dumps(tcp(ip, port)))
elif mode == "udp":
    print(json.dumps(udp(ip, port)))
elif mode == "udp-connected":
    print(json.dumps(udp_connected(ip, port)))
elif mode == "connect":
    print(json.dumps(connect(ip, port, sys.argv[4])))
else:
    sys.exit("unknown mode " + mode)
