#!/usr/bin/env python3
"""Kernel floor of one WebSocket fan-out delivery on this machine, without any server or client
code: N loopback TCP connections (TCP_NODELAY, as the server's), one thread sends one
FRAME-byte message to each in turn (what a fan-out shard does for one event), then reads each
one back on the receiving sockets. Kernel (system) CPU per send and per receive is read from
getrusage around each loop, so Python's own cost (user time) is left out.

    python3 benches/scripts/loopback_floor.py [N=9900] [ROUNDS=20] [FRAME=250]

Both ends live in this one process, so N is capped by the open-file limit (2N sockets; 20,000
here, hence 9,900 rather than 10,000).

The send includes what loopback does inside the sender's syscall: the receiving socket's TCP
receive path and its wake-up. No reader is waiting here (no epoll, no io_uring), so the wake-up
costs less than in the benchmark.
"""
import resource
import socket
import sys

n = int(sys.argv[1]) if len(sys.argv) > 1 else 9900
rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 20
frame = b"x" * (int(sys.argv[3]) if len(sys.argv) > 3 else 250)

lst = socket.socket()
lst.bind(("127.0.0.1", 0))
lst.listen(4096)
senders, receivers = [], []
for _ in range(n):
    c = socket.create_connection(lst.getsockname())
    s, _ = lst.accept()
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    c.setblocking(False)
    senders.append(s)
    receivers.append(c)


def sys_s():
    return resource.getrusage(resource.RUSAGE_SELF).ru_stime


send_s = recv_s = 0.0
for _ in range(rounds):
    t = sys_s()
    for s in senders:
        s.send(frame)
    send_s += sys_s() - t
    t = sys_s()
    for c in receivers:
        if len(c.recv(65536)) != len(frame):
            sys.exit("short read")
    recv_s += sys_s() - t
d = n * rounds
print(
    f"connections={n} rounds={rounds} frame={len(frame)}B "
    f"kernel_us_per_send={send_s * 1e6 / d:.2f} kernel_us_per_recv={recv_s * 1e6 / d:.2f} "
    f"kernel_ms_per_event={(send_s + recv_s) * 1e3 / rounds:.1f}"
)
