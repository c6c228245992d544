#!/usr/bin/python3
"""Builds the packet tables' frames with scapy (Debian's python3-scapy), an implementation of
IPv4, ICMP, TCP and UDP independent of enilb: every checksum in a frame it builds is its own.
Reads one scapy expression per line on stdin, prints each frame as hex on a line of its own.
Names: the addresses given as arguments (POD BE1 VIP ROUTER), and the helpers below."""
import sys

from scapy.all import ICMP, IP, TCP, UDP, Ether, IPOption_Router_Alert, Raw, fragment  # noqa: F401

POD, BE1, VIP, ROUTER = sys.argv[1:5]
POD_MAC, GW_MAC, ZERO_MAC = "02:00:00:00:00:0a", "02:00:00:00:00:01", "00:00:00:00:00:00"


def eth(p, dst=GW_MAC, src=POD_MAC):
    """An Ethernet frame as the tables use them (Packets.frame: gateway <- pod)."""
    return Ether(dst=dst, src=src) / p


def frag(p, i, size=32):
    """Fragment i of datagram p cut into fragments of size payload bytes."""
    return fragment(p, fragsize=size)[i]


def quote(p, n):
    """The first n bytes of packet p, as an ICMP error quotes them (checksums as p has them)."""
    return Raw(bytes(p)[:n])


for line in sys.stdin:
    line = line.strip()
    if line:
        print(bytes(eval(line)).hex(), flush=True)
