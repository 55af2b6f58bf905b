#!/usr/bin/env python3
"""Where a forwarder's CPU goes: perf_breakdown.py PERF.DATA...

Reads `perf report --no-children --sort dso,sym` (self time per function; the userspace binaries
have no frame pointers, so call chains are not used) of profiles taken by
`PERF=1 benches/scripts/webrtc_fanout.sh` and sums the self time into buckets by symbol name:

  srtp        cipher and auth: OpenSSL libcrypto, str0m's SRTP contexts, RustCrypto aes/polyval/
              ghash/sha1/hmac, webrtc-rs's srtp crate
  copy+alloc  memmove/memcpy, malloc/free, bytes::BytesMut copies (webrtc-rs's RTP marshal)
  rtp-logic   the forwarder's own RTP/RTCP work: str0m's streams/session/pacer/TWCC/ICE/DTLS
              state, webrtc-rs's interceptors, track writers and RTP/RTCP marshal, our forward()
  sync+tasks  tokio (scheduler, mpsc, semaphores), parking_lot, futex, epoll
  kernel-net  the kernel's UDP/IP send path and, on loopback, the receivers' delivery that runs
              in the sender's context (skb, sock, udp, ip, netif, slab, copy_from_user)
  kernel-sys  syscall entry/exit, scheduler and context switches, timers, other kernel
Then, from the kernel's call chains (inclusive time): the send syscalls and, within them, the
loopback delivery to the viewers' sockets; receive syscalls; epoll_wait; futex.
  clock       clock_gettime (vdso)
  other       the rest (listed: its top symbols)

Caveat: this VM has no PMU, so perf samples on the cpu-clock timer, which cannot fire while
interrupts are off; samples taken then land on the next irq-enable point
(`finish_task_switch`, `_raw_spin_unlock_irqrestore`), inflating kernel-sys/kernel-net a little.
"""
import re
import subprocess
import sys

BUCKETS = [
    ("srtp", r"libcrypto|libssl|srtp|Srtp|aes|Aes|polyval|Polyval|ghash|gcm|Gcm|sha1|Sha1|hmac|Hmac"
             r"|EVP_|cipher|Cipher|ctr32|aesni"),
    ("copy+alloc", r"memmove|memcpy|memset|malloc|calloc|realloc|_int_free|cfree|free@|^free$"
                   r"|_int_malloc|__libc_free|bytes_mut|BytesMut|alloc::raw_vec|RawVec"),
    ("sync+tasks", r"tokio::|batch_semaphore|mpsc|parking_lot|futex|epoll|pthread_|__lll_|"
                   r"std::sys::.*(mutex|condvar)|tokio_"),
    ("clock", r"clock_gettime|vdso"),
]
KERNEL_NET = (r"udp|(^|_)ip_|__ip|skb|(^|_)sock|(^|_)sk_|netif|napi|loopback|process_backlog"
              r"|inet|(^|_)dev_|slab|kmem|kmalloc|copy_from|copy_to|_copy_|iov_|sendmsg|sendmmsg"
              r"|sendto|recvmsg|recvfrom|csum|dst_|fib_|nf_|ipv4|raw_spin_unlock_irqrestore")
RTP_LOGIC = (r"str0m|webrtc|interceptor|rtp|rtcp|Rtp|Rtcp|showroom|sdp::|dtls|Dtls|^is::"
             r"|IceAgent|stun")
# Inclusive (children) time of kernel paths, from the kernel's own call chains.
CHAINS = [
    ("send syscalls (sendto + sendmmsg, all below)", ["__x64_sys_sendto", "__x64_sys_sendmmsg"]),
    ("  of which loopback delivery to the viewers' sockets (softirq)", ["net_rx_action"]),
    ("  of which return-to-user rescheduling", ["exit_to_user_mode_loop"]),
    ("recv syscalls (recvfrom + recvmsg)", ["__x64_sys_recvfrom", "__x64_sys_recvmsg",
                                            "__x64_sys_recvmmsg"]),
    ("epoll_wait (idle wake-ups)", ["__x64_sys_epoll_wait"]),
    ("futex (task wake-ups, locks)", ["__x64_sys_futex"]),
]


def bucket(dso, sym):
    if dso.startswith("[kernel"):
        return "kernel-net" if re.search(KERNEL_NET, sym) else "kernel-sys"
    for name, pat in BUCKETS:
        if re.search(pat, sym) or re.search(pat, dso):
            return name
    if re.search(RTP_LOGIC, sym):
        return "rtp-logic"
    return "other"


def rows(path):
    out = subprocess.run(
        ["perf", "report", "-i", path, "--no-children", "--sort", "dso,sym", "--stdio",
         "-g", "none", "--percent-limit", "0"],
        capture_output=True, text=True, check=True).stdout
    for line in out.splitlines():
        m = re.match(r"\s*([\d.]+)%\s+(\S+)\s+\[[.k]\]\s+(.*)$", line)
        if m:
            yield float(m.group(1)), m.group(2), m.group(3).strip()


def children(path):
    """Inclusive time per kernel symbol (the kernel has call chains, user space has not)."""
    out = subprocess.run(
        ["perf", "report", "-i", path, "--children", "--sort", "sym", "--stdio", "-g", "none",
         "--percent-limit", "0"],
        capture_output=True, text=True, check=True).stdout
    inc = {}
    for line in out.splitlines():
        m = re.match(r"\s*([\d.]+)%\s+[\d.]+%\s+\[k\]\s+(\S+)", line)
        if m:
            inc[m.group(2)] = inc.get(m.group(2), 0.0) + float(m.group(1))
    return inc


def main(paths):
    for path in paths:
        sums, top_other = {}, []
        for pct, dso, sym in rows(path):
            b = bucket(dso, sym)
            sums[b] = sums.get(b, 0.0) + pct
            if b == "other":
                top_other.append((pct, sym))
        print(path)
        for name in ["srtp", "copy+alloc", "rtp-logic", "sync+tasks", "kernel-net", "kernel-sys",
                     "clock", "other"]:
            print(f"  {name:11s} {sums.get(name, 0.0):5.1f} %")
        print("  other, top: " + "; ".join(f"{s[:50]} {p:.1f}%" for p, s in top_other[:4]))
        inc = children(path)
        print("  kernel paths, inclusive:")
        for label, syms in CHAINS:
            print(f"    {sum(inc.get(x, 0.0) for x in syms):5.1f} %  {label}")


if __name__ == "__main__":
    main(sys.argv[1:])
