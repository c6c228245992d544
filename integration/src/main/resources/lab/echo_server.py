#!/usr/bin/env python3
"""Lab backend: answers HTTP on a TCP port and datagrams on a UDP port with its name and the
client address it sees, so tests can tell which backend served and who it thought called."""
import socket
import socketserver
import sys
import threading

name, tcp_port, udp_port = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])


class Http(socketserver.BaseRequestHandler):
    def handle(self):
        self.request.settimeout(5)
        try:
            first = self.request.recv(4096)
        except OSError:
            return
        if first.startswith(b"STREAM"):
            # a long-lived connection: answer every line with our name until the client leaves
            self.request.settimeout(None)
            f = self.request.makefile("rwb")
            f.write(f"{name}\n".encode())
            f.flush()
            for _ in f:
                f.write(f"{name}\n".encode())
                f.flush()
            return
        body = f"{name} {peer(self.client_address)}\n".encode()
        head = f"HTTP/1.0 200 OK\r\nContent-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode()
        self.request.sendall(head + body)


def peer(addr):
    """The client's address as it sent it: IPv4 clients of the dual-stack sockets show as ::ffff:a.b.c.d."""
    return addr[0][7:] if addr[0].startswith("::ffff:") else addr[0]


class Server(socketserver.ThreadingTCPServer):
    # one socket for both families (IPV6_V6ONLY off): IPv4, IPv6 and dual-stack pods run the same server
    address_family = socket.AF_INET6
    allow_reuse_address = True
    daemon_threads = True
    request_queue_size = 512

    def server_bind(self):
        self.socket.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        super().server_bind()


def serve_udp(s):
    while True:
        _, addr = s.recvfrom(2048)
        s.sendto(f"{name} {peer(addr)}\n".encode(), addr)


tcp = Server(("::", tcp_port), Http)
# bound before "ready": a datagram that arrived before the bind would be lost silently
udp = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
udp.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
udp.bind(("::", udp_port))
threading.Thread(target=serve_udp, args=(udp,), daemon=True).start()
print("ready", flush=True)
tcp.serve_forever()
