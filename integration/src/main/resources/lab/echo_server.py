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
        body = f"{name} {self.client_address[0]}\n".encode()
        head = f"HTTP/1.0 200 OK\r\nContent-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode()
        self.request.sendall(head + body)


class Server(socketserver.ThreadingTCPServer):
    allow_reuse_address = True
    daemon_threads = True
    request_queue_size = 512


def serve_udp(s):
    while True:
        _, addr = s.recvfrom(2048)
        s.sendto(f"{name} {addr[0]}\n".encode(), addr)


tcp = Server(("0.0.0.0", tcp_port), Http)
# bound before "ready": a datagram that arrived before the bind would be lost silently
udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
udp.bind(("0.0.0.0", udp_port))
threading.Thread(target=serve_udp, args=(udp,), daemon=True).start()
print("ready", flush=True)
tcp.serve_forever()
