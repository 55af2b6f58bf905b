//! `--io uring`: the live subscribers read through io_uring instead of epoll + `recv`.
//!
//! Each socket gets one multishot `recv` that picks its buffer from a ring of provided buffers,
//! so a delivery costs no syscall of its own: the thread enters the kernel once per batch of
//! completions. The ring is single-issuer with deferred task work, so the receive work runs in
//! this thread's own `io_uring_enter` and the thread is only woken once `wait_batch` sockets
//! have data (or after [`WAIT`]), not once per delivery. Every byte still goes through
//! [`Loop::received`], the same checks as the epoll path.

use super::{now_us, Loop, Phase};
use io_uring::types::{BufRingEntry, SubmitArgs, Timespec};
use io_uring::{cqueue, opcode, squeue, types, IoUring};
use rustix::io::Errno;
use std::io;
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicU16, Ordering};
use std::time::Duration;

/// Provided buffers (a power of two, at most 32,768) and the size of each.
const BUFS: u16 = 8192;
const BUF_SIZE: usize = 4096;
const GROUP: u16 = 0;
/// Longest wait for a batch of completions: the latency a lone delivery may gain here.
const WAIT: Duration = Duration::from_millis(1);

/// The ring and its provided buffers.
pub(super) struct Reader {
    ring: IoUring,
    /// The buffer ring shared with the kernel (page-aligned, `BUFS` entries).
    entries: *mut BufRingEntry,
    /// `BUFS` buffers of `BUF_SIZE` bytes.
    bufs: *mut u8,
    /// Our copy of the buffer ring's tail (buffers handed to the kernel so far, wrapping).
    tail: u16,
}

impl Reader {
    /// Set up the ring and its buffers; an error where io_uring (or a provided-buffer ring,
    /// Linux ≥ 5.19) is unavailable, and the caller reads with epoll instead.
    pub(super) fn new() -> io::Result<Self> {
        let ring = IoUring::builder()
            .setup_single_issuer()
            .setup_defer_taskrun()
            .setup_cqsize(32_768)
            .build(4096)?;
        // The kernel may still complete a receive into these while the ring is torn down at
        // exit, so they are never freed (the tool runs once; 32 MiB).
        let layout = std::alloc::Layout::from_size_align(BUFS as usize * 16, 4096)
            .map_err(io::Error::other)?;
        // SAFETY: non-zero size; the zeroed entries are valid `io_uring_buf`s.
        let entries = unsafe { std::alloc::alloc_zeroed(layout) }.cast::<BufRingEntry>();
        if entries.is_null() {
            return Err(io::Error::other("buffer ring allocation failed"));
        }
        let bufs = Box::leak(vec![0u8; BUFS as usize * BUF_SIZE].into_boxed_slice()).as_mut_ptr();
        // SAFETY: `entries` holds BUFS entries and is never freed.
        unsafe {
            ring.submitter()
                .register_buf_ring_with_flags(entries as u64, BUFS, GROUP, 0)?;
        }
        let mut me = Self {
            ring,
            entries,
            bufs,
            tail: 0,
        };
        for bid in 0..BUFS {
            me.give(bid);
        }
        me.publish();
        Ok(me)
    }

    /// Put buffer `bid` at the ring's tail (seen by the kernel at the next [`Self::publish`]).
    fn give(&mut self, bid: u16) {
        let slot = (self.tail & (BUFS - 1)) as usize;
        // SAFETY: `slot` < BUFS; the kernel does not read slots past the published tail.
        unsafe {
            let e = &mut *self.entries.add(slot);
            e.set_addr(self.bufs.add(bid as usize * BUF_SIZE) as u64);
            e.set_len(BUF_SIZE as u32);
            e.set_bid(bid);
        }
        self.tail = self.tail.wrapping_add(1);
    }

    fn publish(&self) {
        // SAFETY: the tail field of the ring's first entry, aligned, shared with the kernel
        // only through atomic access.
        let tail = unsafe { AtomicU16::from_ptr(BufRingEntry::tail(self.entries).cast_mut()) };
        tail.store(self.tail, Ordering::Release);
    }

    /// Queue a multishot receive for subscriber `i` (submitted at the next enter).
    fn arm(&mut self, lp: &Loop, i: usize) -> io::Result<()> {
        let fd = types::Fd(lp.subs[i].sock.as_raw_fd());
        let sqe: squeue::Entry = opcode::RecvMulti::new(fd, GROUP)
            .build()
            .user_data(i as u64);
        // SAFETY: the socket outlives the ring (the subscribers are dropped after `run`), and
        // the buffers come from the registered group.
        while unsafe { self.ring.submission().push(&sqe) }.is_err() {
            self.ring.submit()?;
        }
        Ok(())
    }

    /// Read every live subscriber until `lp.progress.stop` is set.
    pub(super) fn run(mut self, lp: &mut Loop, wait_batch: usize) -> io::Result<()> {
        for i in 0..lp.subs.len() {
            if lp.subs[i].phase == Phase::Live {
                // Out of epoll: its wake-up callback would still run on every delivery.
                lp.poll.registry().deregister(&mut lp.subs[i].sock)?;
                self.arm(lp, i)?;
            }
        }
        let ts = Timespec::from(WAIT);
        let args = SubmitArgs::new().timespec(&ts);
        let mut done: Vec<(u64, i32, u32)> = Vec::with_capacity(32_768);
        while !lp.progress.stop.load(Ordering::Relaxed) {
            match self.ring.submitter().submit_with_args(wait_batch, &args) {
                Ok(_) => {}
                Err(e)
                    if matches!(
                        Errno::from_io_error(&e),
                        Some(Errno::TIME | Errno::INTR | Errno::BUSY)
                    ) => {}
                Err(e) => return Err(e),
            }
            done.extend(
                self.ring
                    .completion()
                    .map(|c| (c.user_data(), c.result(), c.flags())),
            );
            for &(i, res, flags) in &done {
                let i = i as usize;
                let bid = cqueue::buffer_select(flags);
                if let (Some(bid), true) = (bid, res > 0) {
                    // SAFETY: the kernel filled `res` ≤ BUF_SIZE bytes of buffer `bid`, which
                    // is ours again until `give` hands it back.
                    let data = unsafe {
                        std::slice::from_raw_parts(
                            self.bufs.add(bid as usize * BUF_SIZE),
                            res as usize,
                        )
                    };
                    if lp.subs[i].phase == Phase::Live {
                        lp.received(i, data, now_us());
                    }
                } else if res == 0 {
                    lp.fail(i, "closed by the server");
                } else if res < 0
                    && !matches!(Errno::from_raw_os_error(-res), Errno::NOBUFS | Errno::AGAIN)
                {
                    lp.fail(i, &format!("recv: {}", io::Error::from_raw_os_error(-res)));
                }
                if let Some(bid) = bid {
                    self.give(bid);
                }
                // A multishot receive ends when it ran out of buffers (re-armed, the data is
                // still in the socket) or on EOF/error (the subscriber is dead then).
                if !cqueue::more(flags) && lp.subs[i].phase == Phase::Live {
                    self.arm(lp, i)?;
                }
            }
            done.clear();
            self.publish();
        }
        Ok(())
    }
}
