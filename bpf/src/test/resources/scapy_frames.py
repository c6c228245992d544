#!/usr/bin/python3
"""Builds the packet tables' frames with scapy (Debian's python3-scapy), an implementation of
IPv4, IPv6, ICMP, ICMPv6, TCP and UDP independent of enilb: every checksum in a frame it builds is
its own. Reads one scapy expression per line on stdin, prints each frame as hex on a line of its
own. Names: the addresses given as NAME=address arguments (POD, BE1, VIP, ROUTER, ...), and the
helpers below."""
import sys

from scapy.all import ICMP, IP, TCP, UDP, Ether, IPOption_Router_Alert, Raw, fragment  # noqa: F401
from scapy.all import (IPv6, ICMPv6DestUnreach, ICMPv6PacketTooBig, ICMPv6TimeExceeded,  # noqa: F401
                       ICMPv6ParamProblem, ICMPv6EchoRequest, ICMPv6ND_NS, IPv6ExtHdrHopByHop, IPv6ExtHdrDestOpt,
                       IPv6ExtHdrRouting, IPv6ExtHdrFragment, fragment6)

for arg in sys.argv[1:]:
    name, _, address = arg.partition("=")
    globals()[name] = address
POD_MAC, GW_MAC, ZERO_MAC = "02:00:00:00:00:0a", "02:00:00:00:00:01", "00:00:00:00:00:00"


def eth(p, dst=GW_MAC, src=POD_MAC):
    """An Ethernet frame as the tables use them (Packets.frame: gateway <- pod)."""
    return Ether(dst=dst, src=src) / p


def frag(p, i, size=32):
    """Fragment i of datagram p cut into fragments of size payload bytes."""
    return fragment(p, fragsize=size)[i]


def frag6(p, i, size=56):
    """Fragment i of IPv6 datagram p (which carries an IPv6ExtHdrFragment) in fragments of at most
    size bytes of IPv6 payload each."""
    return fragment6(p, size + 40)[i]


def quote(p, n):
    """The first n bytes of packet p, as an ICMP error quotes them (checksums as p has them)."""
    return Raw(bytes(p)[:n])


for line in sys.stdin:
    line = line.strip()
    if line:
        print(bytes(eval(line)).hex(), flush=True)
