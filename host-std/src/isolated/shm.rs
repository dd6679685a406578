//! The shared memory between a host and its isolated child: one anonymous
//! memory file (`memfd`) holding a control page and a ring of frames.
//!
//! # Protocol
//! The host is the only writer of frames; the child maps the ring
//! read-only, so nothing a crashed or hostile child does can change a frame
//! the host will redeliver. Positions are byte counts that only grow; a
//! position's place in the ring is `position % capacity`.
//!
//! ```text
//! control page (read-write on both sides)
//!   host's line   write      position after the last published frame
//!                 start      where the next child starts reading (set while no child runs)
//!                 plugin_id  the id the host's lane gave the plugin (u64::MAX: none yet)
//!                 closing    non-zero: drain what is published, then exit (1 shut
//!                            down, 2 removed)
//!   child's line  progress   the position after the last frame the child finished,
//!                            plus 1 while it runs the plugin on the frame there
//!                            (positions are multiples of 8, so the low bit is free:
//!                            one store says both, and a death leaves no doubt
//!                            which frame was being handled)
//!                 handled    frames finished, over every child: the
//!                            acknowledgement count and the hang check's progress
//!                 ready      the token of the last child that loaded the plugin
//!                 detached   1 with `status`: the plugin returned Flow::Detach
//!   bells         child_sleeping, host_waiting: the futex words of the
//!                 sleep handshakes (below); active: the token of the one
//!                 child allowed to read (a standby child waits on it)
//!   error text    why the child could not start (length, then UTF-8)
//! ring (read-write for the host, read-only for the child)
//!   frame         length (u32) and 4 bytes of padding, then the bytes, padded to 8
//!   wrap          length u32::MAX: the next frame starts at the next lap
//! reply ring (64 KiB, read-write on both sides; the child writes, the host reads)
//!   reply         length (u32), kind (u32), number (u64), then the bytes, padded to 8:
//!                 an outbox's reply, an answer, or a refused question
//!   wrap          as in the ring
//! ```
//!
//! Replies are the other way: the child (one writer, under a lock, as a
//! plugin may reply from several threads) writes a reply past
//! `reply_write`, publishes the new `reply_write` and rings `reply_bell`;
//! the host's reply thread reads up to it, publishes `reply_read` and
//! rings `reply_room` for a child waiting for room. The host copies each
//! reply out before it decodes it and checks every length and position,
//! as a child may write anything there.
//!
//! A frame is free once the child's `done` has passed it: the ring itself
//! keeps every unacknowledged message, so redelivering after a crash copies
//! nothing (the next child starts at `start`, the frame after the fatal one).
//!
//! Sleep handshakes (the core ring's, across processes): the sleeper stores
//! 1 into its bell, re-checks the position it waits for, and only then
//! waits on the futex while the bell is still 1; the waker publishes its
//! position, then swaps the bell to 0 and wakes only if it was 1. Both
//! sides use sequentially consistent operations, so one of them always
//! sees the other's store: no wake-up is lost. Every wait also has a
//! timeout, so a lost wake-up could only cost time, never a hang.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::ptr::{self, NonNull};
use std::sync::atomic::{AtomicI32, AtomicU32, AtomicU64, Ordering};
use std::time::Duration;

/// Bytes of the control page (one page on every Linux this runs on).
const CONTROL_LEN: usize = 4096;
/// Where the child's error text starts in the control page.
const ERROR_AT: usize = 1024;
/// The longest error text the child can leave.
pub(super) const ERROR_MAX: usize = CONTROL_LEN - ERROR_AT - 4;
/// The low bit of `progress`: the child is handling the frame there.
pub(super) const BUSY: u64 = 1;
/// Bytes before each frame: its length, padded to 8.
const FRAME_HEADER: u64 = 8;
const WRAP: u32 = u32::MAX;
/// Bytes of the reply ring, after the message ring.
const REPLY_LEN: usize = 64 * 1024;
/// Bytes before each reply: its length, its kind and its number.
const REPLY_HEADER: u64 = 16;
/// The kinds of replies: to an outbox (number: the outbox's), an answer
/// and a refused question (number: the question's).
pub(super) const REPLY: u32 = 1;
pub(super) const ANSWER: u32 = 2;
pub(super) const DECLINE: u32 = 3;

/// The control page's fields. `repr(C)` with explicit padding so each
/// writer has a cache line of its own.
#[repr(C)]
pub(super) struct Control {
    // Written by the host.
    pub(super) write: AtomicU64,
    pub(super) start: AtomicU64,
    pub(super) plugin_id: AtomicU64,
    pub(super) reply_read: AtomicU64,
    pub(super) closing: AtomicU32,
    _host_pad: [u8; 128 - 36],
    // Written by the child (and by the host while no child runs).
    pub(super) progress: AtomicU64,
    pub(super) handled: AtomicU64,
    pub(super) reply_write: AtomicU64,
    pub(super) replies_refused: AtomicU64,
    pub(super) ready: AtomicU32,
    pub(super) detached: AtomicU32,
    pub(super) status: AtomicI32,
    _child_pad: [u8; 128 - 44],
    // The futex words.
    pub(super) child_sleeping: AtomicU32,
    _bell_pad: [u8; 128 - 4],
    pub(super) host_waiting: AtomicU32,
    _waiting_pad: [u8; 128 - 4],
    pub(super) active: AtomicU32,
    _active_pad: [u8; 128 - 4],
    pub(super) reply_bell: AtomicU32,
    _reply_bell_pad: [u8; 128 - 4],
    pub(super) reply_room: AtomicU32,
}

const _: () = assert!(size_of::<Control>() <= ERROR_AT);

/// One shared segment, mapped into this process.
pub(super) struct Segment {
    fd: OwnedFd,
    base: NonNull<u8>,
    capacity: u64,
}

// SAFETY: the mapping is plain memory owned by the segment; every access
// to the control page goes through atomics, and the ring is written by the
// host's single writer (`&mut self` in `write_frame`) and read at positions
// the protocol (module docs) keeps away from the writer.
unsafe impl Send for Segment {}
// SAFETY: as for Send: shared access is atomics (control) or reads of
// frames that are not being written.
unsafe impl Sync for Segment {}

impl Segment {
    /// Creates a segment whose ring holds `capacity` bytes (rounded up to
    /// whole pages), mapped read-write. Its descriptor is close-on-exec:
    /// the host clears that flag in the one child that should inherit it.
    pub(super) fn create(capacity: usize) -> io::Result<Segment> {
        let capacity = capacity
            .max(4096)
            .next_multiple_of(4096)
            .next_power_of_two();
        // SAFETY: a NUL-terminated name and valid flags; the result is checked.
        let fd = unsafe { libc::memfd_create(c"plugbus-isolated".as_ptr(), libc::MFD_CLOEXEC) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `fd` was just opened and is owned by nothing else.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        let len = CONTROL_LEN + capacity + REPLY_LEN;
        let size = libc::off_t::try_from(len).map_err(|_| io::ErrorKind::InvalidInput)?;
        // SAFETY: a valid descriptor; the size is checked above.
        if unsafe { libc::ftruncate(fd.as_raw_fd(), size) } != 0 {
            return Err(io::Error::last_os_error());
        }
        let base = map(&fd, 0, len, libc::PROT_READ | libc::PROT_WRITE)?;
        Ok(Segment {
            fd,
            base,
            capacity: capacity as u64,
        })
    }

    /// Maps a segment the host created, in the child: the control page
    /// read-write, the ring read-only.
    pub(super) fn open(fd: RawFd) -> io::Result<Segment> {
        // SAFETY: the host passed this descriptor to this process for this
        // purpose; nothing else in the child owns it.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        // SAFETY: an all-zero stat is a valid value to be overwritten.
        let mut stat: libc::stat = unsafe { std::mem::zeroed() };
        // SAFETY: a valid descriptor and a valid out pointer.
        if unsafe { libc::fstat(fd.as_raw_fd(), &mut stat) } != 0 {
            return Err(io::Error::last_os_error());
        }
        let len = usize::try_from(stat.st_size).map_err(|_| io::ErrorKind::InvalidData)?;
        let capacity = len
            .checked_sub(CONTROL_LEN + REPLY_LEN)
            .filter(|c| c.is_power_of_two())
            .ok_or(io::ErrorKind::InvalidData)?;
        let base = map(&fd, 0, len, libc::PROT_READ | libc::PROT_WRITE)?;
        // SAFETY: the ring part of the mapping just made, page-aligned.
        let protected = unsafe {
            libc::mprotect(
                base.as_ptr().add(CONTROL_LEN).cast(),
                capacity,
                libc::PROT_READ,
            )
        };
        if protected != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(Segment {
            fd,
            base,
            capacity: capacity as u64,
        })
    }

    pub(super) fn fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }

    pub(super) fn capacity(&self) -> u64 {
        self.capacity
    }

    pub(super) fn control(&self) -> &Control {
        // SAFETY: the control page is mapped, page-aligned, at least
        // `size_of::<Control>()` long, and lives as long as `self`; every
        // field is an atomic, valid for any bit pattern, so the other
        // process's writes cannot make it invalid.
        unsafe { &*self.base.as_ptr().cast::<Control>() }
    }

    /// The largest frame the ring can take.
    pub(super) fn max_frame(&self) -> usize {
        (self.capacity - FRAME_HEADER) as usize
    }

    /// Where a frame of `len` bytes written at `pos` starts and ends: past
    /// the end of the lap, it starts at the next one (after a wrap marker).
    pub(super) fn place(&self, pos: u64, len: usize) -> (u64, u64) {
        let size = FRAME_HEADER + (len as u64).next_multiple_of(8);
        let offset = pos % self.capacity;
        let start = if offset + size > self.capacity {
            pos + (self.capacity - offset)
        } else {
            pos
        };
        (start, start + size)
    }

    /// Writes a frame at `pos` (the host's `write`, not yet published);
    /// returns the position after it. The caller has checked that
    /// `end - done <= capacity`, so no byte of an unfinished frame is
    /// overwritten.
    ///
    /// # Safety
    /// Only one thread writes frames into a segment (the host's lane:
    /// the child's mapping of the ring is read-only, the watcher never
    /// writes), and the bytes up to the frame's end are free.
    pub(super) unsafe fn write_frame(&self, pos: u64, bytes: &[u8]) -> u64 {
        let (start, end) = self.place(pos, bytes.len());
        if start != pos {
            // SAFETY: the caller's promise, passed on.
            unsafe { self.put_len(pos, WRAP) };
        }
        // The length fits: the caller refuses frames over `max_frame`.
        // SAFETY: as above.
        unsafe { self.put_len(start, bytes.len() as u32) };
        let at = ((start % self.capacity) + FRAME_HEADER) as usize;
        // SAFETY: `at + len <= capacity` (`place` moved the frame to the
        // next lap otherwise); the bytes are free and only this writer
        // writes the ring (the caller's promise).
        unsafe {
            ptr::copy_nonoverlapping(
                bytes.as_ptr(),
                self.base.as_ptr().add(CONTROL_LEN + at),
                bytes.len(),
            );
        }
        end
    }

    /// # Safety
    /// As [`write_frame`](Self::write_frame).
    unsafe fn put_len(&self, pos: u64, len: u32) {
        let at = (pos % self.capacity) as usize;
        let word = (u64::from(len)).to_le_bytes();
        // SAFETY: `pos` is 8-aligned, so 8 bytes fit before the lap's end;
        // one writer, bytes free (the caller's promise).
        unsafe {
            ptr::copy_nonoverlapping(
                word.as_ptr(),
                self.base.as_ptr().add(CONTROL_LEN + at),
                word.len(),
            );
        }
    }

    /// Reads the frame at `pos`, which must be below the host's published
    /// `write`; returns its bytes and the position after it, or `None` if
    /// the ring does not hold a frame there (a child given a bad `start`).
    pub(super) fn read_frame(&self, pos: u64) -> Option<(&[u8], u64)> {
        if pos % 8 != 0 {
            return None;
        }
        let mut start = pos;
        let mut len = self.get_len(start);
        if len == WRAP {
            start = pos + (self.capacity - pos % self.capacity);
            len = self.get_len(start);
        }
        if len as usize > self.max_frame() {
            return None;
        }
        let (placed, end) = self.place(start, len as usize);
        if placed != start {
            return None;
        }
        let at = (start % self.capacity + FRAME_HEADER) as usize;
        // SAFETY: `at + len <= capacity`, checked by `place` above; the
        // frame is published and not yet finished, so its writer does not
        // touch it (module docs).
        let bytes = unsafe {
            std::slice::from_raw_parts(self.base.as_ptr().add(CONTROL_LEN + at), len as usize)
        };
        Some((bytes, end))
    }

    fn get_len(&self, pos: u64) -> u32 {
        let at = (pos % self.capacity) as usize;
        let mut word = [0u8; 8];
        // SAFETY: 8 bytes within the lap (positions are 8-aligned).
        unsafe {
            ptr::copy_nonoverlapping(
                self.base.as_ptr().add(CONTROL_LEN + at),
                word.as_mut_ptr(),
                word.len(),
            );
        }
        u64::from_le_bytes(word) as u32
    }

    /// Where a reply of `len` bytes written at `pos` starts and ends.
    fn place_reply(pos: u64, len: usize) -> (u64, u64) {
        let capacity = REPLY_LEN as u64;
        let size = REPLY_HEADER + (len as u64).next_multiple_of(8);
        let offset = pos % capacity;
        let start = if offset + size > capacity {
            pos + (capacity - offset)
        } else {
            pos
        };
        (start, start + size)
    }

    /// The largest reply the reply ring takes.
    pub(super) fn max_reply() -> usize {
        REPLY_LEN - REPLY_HEADER as usize
    }

    /// The end of a reply of `len` bytes written at `pos`, and whether it
    /// fits before the host's `read` position.
    pub(super) fn reply_fits(pos: u64, len: usize, read: u64) -> (u64, bool) {
        let (_, end) = Self::place_reply(pos, len);
        (end, end.saturating_sub(read) <= REPLY_LEN as u64)
    }

    fn replies(&self) -> *mut u8 {
        // SAFETY: the reply ring follows the message ring in the mapping.
        unsafe { self.base.as_ptr().add(CONTROL_LEN + self.capacity as usize) }
    }

    /// Writes a reply at `pos` (child only); returns the position after it.
    ///
    /// # Safety
    /// One writer at a time (the child's lock); `len <= max_reply()`; the
    /// bytes up to the reply's end are free (`reply_fits` said so against
    /// the host's published `reply_read`).
    pub(super) unsafe fn write_reply(&self, pos: u64, kind: u32, number: u64, bytes: &[u8]) -> u64 {
        let (start, end) = Self::place_reply(pos, bytes.len());
        let base = self.replies();
        let capacity = REPLY_LEN as u64;
        let mut header = [0u8; REPLY_HEADER as usize];
        if start != pos {
            header[..4].copy_from_slice(&WRAP.to_le_bytes());
            // SAFETY: `pos` is 8-aligned and `REPLY_LEN` a multiple of 8,
            // so 8 bytes fit before the lap's end; free by the caller's
            // promise.
            unsafe {
                ptr::copy_nonoverlapping(header.as_ptr(), base.add((pos % capacity) as usize), 8)
            };
        }
        header[..4].copy_from_slice(&(bytes.len() as u32).to_le_bytes());
        header[4..8].copy_from_slice(&kind.to_le_bytes());
        header[8..].copy_from_slice(&number.to_le_bytes());
        let at = (start % capacity) as usize;
        // SAFETY: `place_reply` put the whole reply within one lap, at
        // `at`; the bytes are free and only this writer writes them.
        unsafe {
            ptr::copy_nonoverlapping(header.as_ptr(), base.add(at), header.len());
            ptr::copy_nonoverlapping(
                bytes.as_ptr(),
                base.add(at + REPLY_HEADER as usize),
                bytes.len(),
            );
        }
        end
    }

    /// Copies out the reply at `pos`, which must end at or before `limit`
    /// (the child's published `reply_write`), with its kind, number and the
    /// position after it; `None` if what is there is not a reply (host
    /// only: a child may write anything).
    pub(super) fn read_reply(&self, pos: u64, limit: u64) -> Option<(u32, u64, Vec<u8>, u64)> {
        let capacity = REPLY_LEN as u64;
        if pos % 8 != 0 || pos >= limit {
            return None;
        }
        let base = self.replies();
        let mut header = [0u8; REPLY_HEADER as usize];
        let mut start = pos;
        // SAFETY: 8 bytes within the lap (`pos` is 8-aligned); published by
        // the child's Release store of `reply_write`, which the caller
        // loaded with Acquire. A child breaking the protocol can only make
        // these bytes wrong, which the checks below catch.
        unsafe {
            ptr::copy_nonoverlapping(base.add((pos % capacity) as usize), header.as_mut_ptr(), 8)
        };
        if u32::from_le_bytes(header[..4].try_into().ok()?) == WRAP {
            start = pos + (capacity - pos % capacity);
        }
        if start + REPLY_HEADER > limit || start % capacity + REPLY_HEADER > capacity {
            return None;
        }
        // SAFETY: the header lies within the lap (checked just above);
        // published before `limit`, as above.
        unsafe {
            ptr::copy_nonoverlapping(
                base.add((start % capacity) as usize),
                header.as_mut_ptr(),
                header.len(),
            );
        }
        let len = u32::from_le_bytes(header[..4].try_into().ok()?) as usize;
        let kind = u32::from_le_bytes(header[4..8].try_into().ok()?);
        let number = u64::from_le_bytes(header[8..].try_into().ok()?);
        if len > Self::max_reply() {
            return None;
        }
        let (placed, end) = Self::place_reply(start, len);
        if placed != start || end > limit {
            return None;
        }
        let mut bytes = vec![0u8; len];
        // SAFETY: `placed == start` means the reply lies within one lap;
        // published before `limit` (as above).
        unsafe {
            ptr::copy_nonoverlapping(
                base.add((start % capacity) as usize + REPLY_HEADER as usize),
                bytes.as_mut_ptr(),
                len,
            );
        }
        Some((kind, number, bytes, end))
    }

    /// Leaves a short error text for the host (child only).
    pub(super) fn set_error(&self, text: &str) {
        let mut len = text.len().min(ERROR_MAX);
        while !text.is_char_boundary(len) {
            len -= 1;
        }
        let header = (len as u32).to_le_bytes();
        // SAFETY: the error area lies within the control page, which both
        // sides map read-write; the host reads it only after this child
        // has exited.
        unsafe {
            let at = self.base.as_ptr().add(ERROR_AT);
            ptr::copy_nonoverlapping(header.as_ptr(), at, 4);
            ptr::copy_nonoverlapping(text.as_ptr(), at.add(4), len);
        }
    }

    /// The error text a child left, read once it has exited (host only).
    pub(super) fn error(&self) -> String {
        let mut header = [0u8; 4];
        // SAFETY: within the control page; the child that wrote it exited.
        unsafe {
            ptr::copy_nonoverlapping(self.base.as_ptr().add(ERROR_AT), header.as_mut_ptr(), 4)
        };
        let len = (u32::from_le_bytes(header) as usize).min(ERROR_MAX);
        let mut text = vec![0u8; len];
        // SAFETY: as above, `4 + len <= CONTROL_LEN - ERROR_AT`.
        unsafe {
            ptr::copy_nonoverlapping(self.base.as_ptr().add(ERROR_AT + 4), text.as_mut_ptr(), len);
        }
        String::from_utf8_lossy(&text).into_owned()
    }

    /// Clears the error text before a child starts (host only).
    pub(super) fn clear_error(&self) {
        self.set_error("");
    }
}

impl Drop for Segment {
    fn drop(&mut self) {
        // SAFETY: the mapping made in `create`/`open`, of this length, no
        // longer referenced (borrows of it end with `self`).
        unsafe {
            libc::munmap(
                self.base.as_ptr().cast(),
                CONTROL_LEN + self.capacity as usize + REPLY_LEN,
            );
        }
    }
}

fn map(fd: &OwnedFd, offset: libc::off_t, len: usize, prot: i32) -> io::Result<NonNull<u8>> {
    // SAFETY: a fresh shared mapping of a descriptor we own; the result is
    // checked against MAP_FAILED.
    let base = unsafe {
        libc::mmap(
            ptr::null_mut(),
            len,
            prot,
            libc::MAP_SHARED,
            fd.as_raw_fd(),
            offset,
        )
    };
    if base == libc::MAP_FAILED {
        return Err(io::Error::last_os_error());
    }
    NonNull::new(base.cast()).ok_or_else(io::Error::last_os_error)
}

/// Waits while `word` holds `expected`, at most `timeout`. A shared (not
/// process-private) futex: the waker is in the other process.
pub(super) fn futex_wait(word: &AtomicU32, expected: u32, timeout: Duration) {
    let timeout = libc::timespec {
        tv_sec: timeout.as_secs().min(i64::MAX as u64) as libc::time_t,
        tv_nsec: libc::c_long::from(timeout.subsec_nanos() as i32),
    };
    // SAFETY: `word` is a live, aligned u32; the kernel only compares it
    // with `expected` and sleeps; a spurious or early return is harmless
    // (every caller re-checks its condition).
    unsafe {
        libc::syscall(
            libc::SYS_futex,
            word.as_ptr(),
            libc::FUTEX_WAIT,
            expected,
            &timeout,
            ptr::null::<u32>(),
            0u32,
        );
    }
}

/// Wakes whoever waits on `word`.
pub(super) fn futex_wake(word: &AtomicU32) {
    // SAFETY: `word` is a live, aligned u32; waking has no other effect.
    unsafe {
        libc::syscall(
            libc::SYS_futex,
            word.as_ptr(),
            libc::FUTEX_WAKE,
            i32::MAX,
            ptr::null::<libc::timespec>(),
            ptr::null::<u32>(),
            0u32,
        );
    }
}

/// Publishes `position` and wakes the sleeper on `bell` if it sleeps (the
/// waker's half of the handshake in the module docs).
pub(super) fn publish_and_ring(position: &AtomicU64, value: u64, bell: &AtomicU32) {
    // ORDERING: SeqCst store and swap, against the sleeper's SeqCst store
    // of its bell and re-load of `position`: one of the two sees the other.
    position.store(value, Ordering::SeqCst);
    if bell.load(Ordering::SeqCst) != 0 && bell.swap(0, Ordering::SeqCst) != 0 {
        futex_wake(bell);
    }
}

/// The sleeper's half: sleeps on `bell` unless `ready()` turns true after
/// the bell is set; at most `timeout`.
pub(super) fn sleep_unless(bell: &AtomicU32, timeout: Duration, ready: impl Fn() -> bool) {
    // ORDERING: SeqCst, the other half of `publish_and_ring`.
    bell.store(1, Ordering::SeqCst);
    if !ready() {
        futex_wait(bell, 1, timeout);
    }
    bell.store(0, Ordering::Relaxed);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Writes raw bytes into the reply ring, as a hostile child could.
    fn scribble(segment: &Segment, at: usize, bytes: &[u8]) {
        assert!(at + bytes.len() <= REPLY_LEN);
        // SAFETY: within the reply ring of a segment only this test uses.
        unsafe { ptr::copy_nonoverlapping(bytes.as_ptr(), segment.replies().add(at), bytes.len()) };
    }

    #[test]
    fn replies_read_back_as_written_across_the_lap() {
        let segment = Segment::create(4096).expect("segment");
        let mut pos = 0;
        // Enough replies of odd sizes to wrap the ring several times.
        for n in 0..2_000u64 {
            let bytes = vec![n as u8; (n % 300) as usize];
            let (end, fits) = Segment::reply_fits(pos, bytes.len(), pos);
            assert!(fits);
            // SAFETY: one writer; nothing unread (read == pos).
            let after = unsafe { segment.write_reply(pos, ANSWER, n, &bytes) };
            assert_eq!(after, end);
            let (kind, number, read, next) = segment.read_reply(pos, end).expect("a reply");
            assert_eq!(
                (kind, number, read.as_slice(), next),
                (ANSWER, n, &bytes[..], end)
            );
            pos = end;
        }
        assert!(pos > 4 * REPLY_LEN as u64, "wrapped: {pos}");
    }

    #[test]
    fn what_is_not_a_reply_is_refused_not_read() {
        let segment = Segment::create(4096).expect("segment");
        // SAFETY: one writer, an empty ring.
        let end = unsafe { segment.write_reply(0, REPLY, 7, b"fine") };
        // A limit before the reply's end, or at its start.
        assert_eq!(segment.read_reply(0, end - 8), None);
        assert_eq!(segment.read_reply(0, 0), None);
        // A position not aligned to 8.
        assert_eq!(segment.read_reply(4, end), None);
        // A length past what the ring can hold.
        scribble(&segment, 0, &(REPLY_LEN as u32).to_le_bytes());
        assert_eq!(segment.read_reply(0, u64::MAX), None);
        // A length that runs past the lap's end.
        let last = REPLY_LEN - 16;
        scribble(&segment, last, &64u32.to_le_bytes());
        assert_eq!(segment.read_reply(last as u64, u64::MAX), None);
        // A header that would start past the lap's end.
        scribble(&segment, REPLY_LEN - 8, &5u32.to_le_bytes());
        assert_eq!(segment.read_reply((REPLY_LEN - 8) as u64, u64::MAX), None);
        // A wrap marker whose next lap holds nonsense.
        scribble(&segment, 8, &WRAP.to_le_bytes());
        scribble(&segment, 0, &u32::MAX.to_le_bytes());
        assert_eq!(segment.read_reply(8, u64::MAX), None);
    }
}
