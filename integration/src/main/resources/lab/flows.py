#!/usr/bin/env python3
"""Lab flow holder, run inside a pod namespace: keeps flows open between commands so tests can
check that they survive what happens in between. One command per line on stdin, one JSON line
per command on stdout.

tcp IP PORT N             opens long-lived connections until N distinct backends answer (one
                          kept per backend); -> ["be1", ...]
udp IP PORT               one UDP socket (one source port, kept); -> "be1" (or "error: ...")
sendto IP PORT            one datagram by sendto() from this pod's one unconnected UDP socket of
                          IP's family (made at first use, kept: one socket cookie, one source
                          port); -> the name of the backend that answered (or "error: ...")
bind SRC [PORT]           later tcp/udp/open sockets bind to SRC (and PORT), an address this pod
                          does not own (IP_TRANSPARENT): a spoofing test
open IP PORT N            N more long-lived connections, as many as the network allows (2 s
                          connect timeout, stops after min(20, N) failures); -> {"ok": n, "fail": k,
                          "errors": [distinct messages]}
ping                      one line on every held tcp flow, one datagram on every udp flow;
                          -> [{"kind": "tcp", "backend": "be1", "answer": "be1"}, ...]
                          (the 'open' connections are pinged too, summed as {"open_ok", "open_fail"})
drop                      closes the 'open' connections; -> {"closed": n}
exit                      closes everything
"""
import json
import resource
import socket
import sys

soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))

source = None
source_port = 0


def family(ip):
    return socket.AF_INET6 if ":" in ip else socket.AF_INET


def transparent(s, ip):
    """IP_TRANSPARENT / IPV6_TRANSPARENT: bind to and route from an address that is not ours (a spoofer)."""
    if ":" in ip:
        s.setsockopt(socket.IPPROTO_IPV6, 75, 1)
    else:
        s.setsockopt(socket.SOL_IP, 19, 1)


def connect(ip, port, timeout=3):
    s = socket.socket(family(ip), socket.SOCK_STREAM)
    s.settimeout(timeout)
    if source:
        transparent(s, source)
        s.bind((source, source_port))
    s.connect((ip, port))
    return s


def stream(ip, port, timeout=3):
    s = connect(ip, port, timeout)
    s.settimeout(3)
    f = s.makefile("rwb")
    f.write(b"STREAM\n")
    f.flush()
    return {"sock": s, "file": f, "backend": f.readline().decode().strip()}


def ask_tcp(c):
    try:
        c["file"].write(b"ping\n")
        c["file"].flush()
        answer = c["file"].readline().decode().strip()
        return answer if answer else "error: closed"
    except OSError as e:
        return "error: " + str(e)


def ask_udp(c):
    try:
        c["sock"].send(b"q")
        return c["sock"].recv(200).decode().split()[0]
    except OSError as e:
        return "error: " + str(e)


def serve():
    global source, source_port
    tcp, udp, held = [], [], []
    unconnected = {}
    print("ready", flush=True)
    for line in sys.stdin:
        cmd = line.split()
        if not cmd:
            continue
        if cmd[0] == "tcp":
            ip, port, n = cmd[1], int(cmd[2]), int(cmd[3])
            seen = {c["backend"] for c in tcp if c["ip"] == ip and c["port"] == port}
            added = []
            for _ in range(200):
                if len(seen) >= n:
                    break
                c = stream(ip, port)
                if c["backend"] in seen:
                    c["sock"].close()
                    continue
                c.update(ip=ip, port=port)
                seen.add(c["backend"])
                tcp.append(c)
                added.append(c["backend"])
            out = added
        elif cmd[0] == "udp":
            s = socket.socket(family(cmd[1]), socket.SOCK_DGRAM)
            s.settimeout(2)
            if source:
                transparent(s, source)
                s.bind((source, source_port))
            try:
                s.connect((cmd[1], int(cmd[2])))
                c = {"sock": s}
                udp.append(c)
                out = ask_udp(c)
            except OSError as e:
                s.close()
                out = "error: " + str(e)
        elif cmd[0] == "sendto":
            ip, port = cmd[1], int(cmd[2])
            s = unconnected.get(family(ip))
            if s is None:
                s = unconnected[family(ip)] = socket.socket(family(ip), socket.SOCK_DGRAM)
                s.settimeout(2)
            try:
                s.sendto(b"q", (ip, port))
                out = s.recvfrom(200)[0].decode().split()[0]
            except OSError as e:
                out = "error: " + str(e)
        elif cmd[0] == "bind":
            source = cmd[1]
            source_port = int(cmd[2]) if len(cmd) > 2 else 0
            out = source
        elif cmd[0] == "open":
            ip, port, n = cmd[1], int(cmd[2]), int(cmd[3])
            ok, fail, errors = 0, 0, []
            while ok < n and fail < min(20, n):
                try:
                    held.append(stream(ip, port, timeout=2))
                    ok += 1
                except OSError as e:
                    fail += 1
                    if str(e) not in errors:
                        errors.append(str(e))
            out = {"ok": ok, "fail": fail, "errors": errors}
        elif cmd[0] == "ping":
            out = [{"kind": "tcp", "backend": c["backend"], "answer": ask_tcp(c),
                    "sport": c["sock"].getsockname()[1]} for c in tcp]
            out += [{"kind": "udp", "answer": ask_udp(c)} for c in udp]
            if held:
                answers = [ask_tcp(c) == c["backend"] for c in held]
                out.append({"kind": "open", "open_ok": answers.count(True), "open_fail": answers.count(False)})
        elif cmd[0] == "drop":
            for c in held:
                c["sock"].close()
            out = {"closed": len(held)}
            held = []
        elif cmd[0] == "exit":
            break
        else:
            out = "error: unknown command " + cmd[0]
        print(json.dumps(out), flush=True)
    for c in tcp + udp + held:
        c["sock"].close()
    for s in unconnected.values():
        s.close()


serve()
