"""Ports for the servers of local systems and tests."""

import os
import random
import socket
from pathlib import Path

_handed: set[int] = set()  # ports this process gave out: a server may not have bound one yet


def listen_ports() -> range:
    """Where local servers take their ports: below the kernel's ephemeral range, which outgoing
    connections draw from. A port the kernel hands out (bind to port 0) can be taken by one of
    them before the server binds it again: CI saw a worker and a broker fail to start so.
    ORDERSTREAM_LOCAL_PORTS=<first>-<last> narrows it: the test suite gives each pytest-xdist
    worker a share of its own, so two of them never pick the same port at once."""
    if (narrowed := os.environ.get("ORDERSTREAM_LOCAL_PORTS")):
        first, last = (int(part) for part in narrowed.split("-"))
        return range(first, last + 1)
    try:
        low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        low = 32768
    return range(20000, low) if low > 21000 else range(max(low - 12000, 1024), low)


def free_port() -> int:
    """A loopback port nothing listens on, outside the ephemeral range (see listen_ports), and
    not given out by this process before."""
    pick = random.SystemRandom()  # not `random`: a test may have seeded it
    ports = listen_ports()
    for _ in range(1000):
        port = pick.choice(ports)
        if port in _handed:
            continue
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
        _handed.add(port)
        return port
    raise OSError(f"no free port in {ports.start}-{ports.stop - 1}")
