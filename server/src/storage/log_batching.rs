//! A SQLite file layer (a VFS over the system's own) that hands each commit's write-ahead log
//! frames to the operating system in one write instead of two per page. SQLite writes every
//! frame as its 24-byte header, then its page: a sign-in changes about fifteen pages, thirty
//! system calls that cost more than the rest of its database work. Here appended frames wait in
//! memory and go out together when the commit frame's header arrives, which is flushed at once;
//! everything after it (its page) is written straight through. So when the commit's last write
//! returns, every byte of it is in the log exactly as without this layer, before SQLite
//! publishes the commit to other connections (which read the log through their own files).
//! The commit's header goes out as it comes rather than with its page: when SQLite rewrites the
//! checksums of frames a transaction overwrote, that header is the last thing it writes.
//!
//! Anything else on the log file (a read, a sync, its size, a truncation, a lock, closing it)
//! first writes what waits, so SQLite never sees the file differ from what it wrote; and a
//! write anywhere but the end of what waits (an earlier frame rewritten) writes what waits
//! first. Frames of a transaction not yet committed may wait longer: no one reads them, and a
//! crash loses nothing committed. Only the log file is handled so; the database file, the
//! shared-memory index and the rest go to the system's layer untouched.
//!
//! Only SQLite's in-place connection (`inline`) opens its files through this layer.

use rusqlite::ffi;
use std::ffi::{c_int, c_void, CStr};
use std::sync::OnceLock;

/// The name connections give to use this layer.
pub(super) const NAME: &CStr = c"gatehouse-log-batching";

/// Size of a frame header in SQLite's log format; bytes 4..8 hold the database size after a
/// commit, zero in any other frame.
const FRAME_HEADER: usize = 24;
/// More than this waiting (a large transaction) is written at once.
const MAX_WAITING: usize = 1 << 20;
/// The most the system layer writes in one call (it takes at most 128 KiB less one byte).
const MAX_WRITE: usize = 1 << 16;

/// Registers the layer once per process; answers whether it is available.
pub(super) fn register() -> bool {
    static REGISTERED: OnceLock<bool> = OnceLock::new();
    *REGISTERED.get_or_init(|| {
        // SAFETY: `sqlite3_vfs_find(NULL)` answers the default VFS, which lives as long as the
        // process; the VFS registered here is leaked, so it does too.
        unsafe {
            let system = ffi::sqlite3_vfs_find(std::ptr::null());
            if system.is_null() {
                return false;
            }
            let mut vfs = *system;
            vfs.zName = NAME.as_ptr();
            vfs.szOsFile = (REAL_AT + (*system).szOsFile as usize) as c_int;
            vfs.xOpen = Some(open);
            vfs.pNext = std::ptr::null_mut();
            // Every other entry is the system layer's own, with its `pAppData`, and is called
            // with this VFS, which matches it in everything those entries read.
            let vfs = Box::leak(Box::new(LayerVfs { vfs, system }));
            ffi::sqlite3_vfs_register(&mut vfs.vfs, 0) == ffi::SQLITE_OK
        }
    })
}

#[repr(C)]
struct LayerVfs {
    vfs: ffi::sqlite3_vfs,
    system: *mut ffi::sqlite3_vfs,
}

/// A log file: SQLite's file header (the methods below), the frames waiting, then the system
/// layer's file at `REAL_AT`.
#[repr(C)]
struct LogFile {
    base: ffi::sqlite3_file,
    waiting: *mut Waiting,
}

const REAL_AT: usize = std::mem::size_of::<LogFile>().next_multiple_of(16);

/// Appended bytes not yet written, from `start`.
#[derive(Debug, Default)]
struct Waiting {
    start: i64,
    bytes: Vec<u8>,
    /// Since the last commit frame's header: written straight through until the next frame
    /// header that is not a commit's.
    through: bool,
}

/// What to do with one write to the log.
#[derive(Debug, PartialEq, Eq)]
enum Step {
    /// Keep it with what waits.
    Keep,
    /// Keep it, then write everything now.
    KeepAndWrite,
    /// Write what waits, then this write on its own.
    WriteThrough,
}

impl Waiting {
    fn end(&self) -> i64 {
        self.start + self.bytes.len() as i64
    }

    /// Decides what to do with `data` written at `offset`. Before `KeepAndWrite`, the caller
    /// writes what waits when `offset` does not continue it.
    fn step(&mut self, data: &[u8], offset: i64) -> Step {
        let header = data.len() == FRAME_HEADER;
        let commit = header && data[4..8] != [0, 0, 0, 0];
        if header && !commit {
            self.through = false;
        }
        if self.through {
            return Step::WriteThrough;
        }
        if commit {
            self.through = true;
            return Step::KeepAndWrite;
        }
        if !self.bytes.is_empty() && offset != self.end() {
            return Step::WriteThrough;
        }
        if self.bytes.len() + data.len() > MAX_WAITING {
            return Step::KeepAndWrite;
        }
        Step::Keep
    }

    fn keep(&mut self, data: &[u8], offset: i64) {
        if self.bytes.is_empty() {
            self.start = offset;
        }
        self.bytes.extend_from_slice(data);
    }
}

/// # Safety
/// `file` is a `LogFile` this layer opened.
unsafe fn real(file: *mut ffi::sqlite3_file) -> *mut ffi::sqlite3_file {
    file.cast::<u8>().add(REAL_AT).cast()
}

/// # Safety
/// `file` is a `LogFile` this layer opened and not yet closed.
unsafe fn methods(file: *mut ffi::sqlite3_file) -> &'static ffi::sqlite3_io_methods {
    &*(*real(file)).pMethods
}

#[cfg(test)]
thread_local! {
    /// Writes this layer made to log files on this thread.
    pub(super) static SYSTEM_WRITES: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
}

/// The system layer's write.
///
/// # Safety
/// `file` is a `LogFile` this layer opened and not yet closed; `data` holds `amount` bytes.
unsafe fn system_write(
    file: *mut ffi::sqlite3_file,
    data: *const c_void,
    amount: c_int,
    offset: ffi::sqlite3_int64,
) -> c_int {
    #[cfg(test)]
    SYSTEM_WRITES.with(|n| n.set(n.get() + 1));
    match methods(file).xWrite {
        Some(write) => write(real(file), data, amount, offset),
        None => ffi::SQLITE_IOERR_WRITE,
    }
}

/// Writes what waits, if anything. On failure nothing waits any more: SQLite answers the
/// error and will write those frames again.
///
/// # Safety
/// `file` is a `LogFile` this layer opened and not yet closed.
unsafe fn write_waiting(file: *mut ffi::sqlite3_file) -> c_int {
    let waiting = &mut *(*file.cast::<LogFile>()).waiting;
    if waiting.bytes.is_empty() {
        return ffi::SQLITE_OK;
    }
    let mut rc = ffi::SQLITE_OK;
    let mut offset = waiting.start;
    for chunk in waiting.bytes.chunks(MAX_WRITE) {
        // A chunk is at most `MAX_WRITE` bytes, which an `int` holds.
        rc = system_write(file, chunk.as_ptr().cast(), chunk.len() as c_int, offset);
        if rc != ffi::SQLITE_OK {
            break;
        }
        offset += chunk.len() as i64;
    }
    waiting.bytes.clear();
    rc
}

unsafe extern "C" fn open(
    vfs: *mut ffi::sqlite3_vfs,
    name: ffi::sqlite3_filename,
    file: *mut ffi::sqlite3_file,
    flags: c_int,
    out_flags: *mut c_int,
) -> c_int {
    let system = (*vfs.cast::<LayerVfs>()).system;
    let Some(system_open) = (*system).xOpen else {
        return ffi::SQLITE_CANTOPEN;
    };
    if flags & ffi::SQLITE_OPEN_WAL == 0 {
        // Not the log: the system's file in place, with its own methods.
        return system_open(system, name, file, flags, out_flags);
    }
    (*file).pMethods = std::ptr::null();
    let rc = system_open(system, name, real(file), flags, out_flags);
    if rc != ffi::SQLITE_OK {
        return rc;
    }
    let log = file.cast::<LogFile>();
    (*log).waiting = Box::into_raw(Box::default());
    (*log).base.pMethods = &LOG_METHODS;
    ffi::SQLITE_OK
}

/// The log file's methods: writes as described above; everything else writes what waits, then
/// is the system's.
static LOG_METHODS: ffi::sqlite3_io_methods = ffi::sqlite3_io_methods {
    iVersion: 3,
    xClose: Some(close),
    xRead: Some(read),
    xWrite: Some(write),
    xTruncate: Some(truncate),
    xSync: Some(sync),
    xFileSize: Some(file_size),
    xLock: Some(lock),
    xUnlock: Some(unlock),
    xCheckReservedLock: Some(check_reserved_lock),
    xFileControl: Some(file_control),
    xSectorSize: Some(sector_size),
    xDeviceCharacteristics: Some(device_characteristics),
    xShmMap: Some(shm_map),
    xShmLock: Some(shm_lock),
    xShmBarrier: Some(shm_barrier),
    xShmUnmap: Some(shm_unmap),
    xFetch: Some(fetch),
    xUnfetch: Some(unfetch),
};

unsafe extern "C" fn write(
    file: *mut ffi::sqlite3_file,
    data: *const c_void,
    amount: c_int,
    offset: ffi::sqlite3_int64,
) -> c_int {
    let Ok(len) = usize::try_from(amount) else {
        return ffi::SQLITE_IOERR_WRITE;
    };
    let bytes = std::slice::from_raw_parts(data.cast::<u8>(), len);
    let waiting = &mut *(*file.cast::<LogFile>()).waiting;
    match waiting.step(bytes, offset) {
        Step::WriteThrough => {
            let rc = write_waiting(file);
            if rc != ffi::SQLITE_OK {
                return rc;
            }
            system_write(file, data, amount, offset)
        }
        step => {
            if !waiting.bytes.is_empty() && offset != waiting.end() {
                let rc = write_waiting(file);
                if rc != ffi::SQLITE_OK {
                    return rc;
                }
            }
            let waiting = &mut *(*file.cast::<LogFile>()).waiting;
            waiting.keep(bytes, offset);
            if step == Step::KeepAndWrite {
                write_waiting(file)
            } else {
                ffi::SQLITE_OK
            }
        }
    }
}

unsafe extern "C" fn close(file: *mut ffi::sqlite3_file) -> c_int {
    let written = write_waiting(file);
    let closed = match methods(file).xClose {
        Some(system_close) => system_close(real(file)),
        None => ffi::SQLITE_OK,
    };
    let log = file.cast::<LogFile>();
    drop(Box::from_raw((*log).waiting));
    (*log).waiting = std::ptr::null_mut();
    (*log).base.pMethods = std::ptr::null();
    if written != ffi::SQLITE_OK {
        written
    } else {
        closed
    }
}

/// Defines a log method that writes what waits, then calls the system's with the same
/// arguments.
macro_rules! after_waiting {
    ($name:ident, $method:ident, ($($arg:ident: $ty:ty),*)) => {
        unsafe extern "C" fn $name(file: *mut ffi::sqlite3_file $(, $arg: $ty)*) -> c_int {
            let rc = write_waiting(file);
            if rc != ffi::SQLITE_OK {
                return rc;
            }
            match methods(file).$method {
                Some(system) => system(real(file) $(, $arg)*),
                None => ffi::SQLITE_IOERR,
            }
        }
    };
}

after_waiting!(read, xRead, (data: *mut c_void, amount: c_int, offset: ffi::sqlite3_int64));
after_waiting!(truncate, xTruncate, (size: ffi::sqlite3_int64));
after_waiting!(sync, xSync, (flags: c_int));
after_waiting!(file_size, xFileSize, (size: *mut ffi::sqlite3_int64));
after_waiting!(lock, xLock, (level: c_int));
after_waiting!(unlock, xUnlock, (level: c_int));
after_waiting!(check_reserved_lock, xCheckReservedLock, (out: *mut c_int));
after_waiting!(file_control, xFileControl, (op: c_int, arg: *mut c_void));
after_waiting!(shm_map, xShmMap, (page: c_int, size: c_int, extend: c_int, out: *mut *mut c_void));
after_waiting!(shm_lock, xShmLock, (offset: c_int, n: c_int, flags: c_int));
after_waiting!(shm_unmap, xShmUnmap, (delete: c_int));
after_waiting!(fetch, xFetch, (offset: ffi::sqlite3_int64, amount: c_int, out: *mut *mut c_void));
after_waiting!(unfetch, xUnfetch, (offset: ffi::sqlite3_int64, page: *mut c_void));

unsafe extern "C" fn sector_size(file: *mut ffi::sqlite3_file) -> c_int {
    match methods(file).xSectorSize {
        Some(system) => system(real(file)),
        None => 4096,
    }
}

unsafe extern "C" fn device_characteristics(file: *mut ffi::sqlite3_file) -> c_int {
    match methods(file).xDeviceCharacteristics {
        Some(system) => system(real(file)),
        None => 0,
    }
}

unsafe extern "C" fn shm_barrier(file: *mut ffi::sqlite3_file) {
    write_waiting(file);
    if let Some(system) = methods(file).xShmBarrier {
        system(real(file));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(commit: bool) -> Vec<u8> {
        let mut h = vec![0u8; FRAME_HEADER];
        if commit {
            h[7] = 9;
        }
        h
    }

    #[test]
    fn frames_wait_until_the_commit_header_and_its_page_goes_straight_through() {
        let mut w = Waiting::default();
        let page = vec![1u8; 4096];
        let mut at = 32;
        assert_eq!(w.step(&[0u8; 32], 0), Step::Keep);
        w.keep(&[0u8; 32], 0);
        for _ in 0..3 {
            assert_eq!(w.step(&header(false), at), Step::Keep);
            w.keep(&header(false), at);
            at += FRAME_HEADER as i64;
            assert_eq!(w.step(&page, at), Step::Keep);
            w.keep(&page, at);
            at += 4096;
        }
        assert_eq!(w.step(&header(true), at), Step::KeepAndWrite);
        w.keep(&header(true), at);
        assert_eq!(w.end(), at + FRAME_HEADER as i64);
        w.bytes.clear();
        at += FRAME_HEADER as i64;
        assert_eq!(w.step(&page, at), Step::WriteThrough);
        // The next transaction's first frame waits again.
        at += 4096;
        assert_eq!(w.step(&header(false), at), Step::Keep);
    }

    #[test]
    fn a_write_that_does_not_continue_what_waits_goes_straight_through() {
        let mut w = Waiting::default();
        w.keep(&header(false), 32);
        // An earlier frame's page rewritten in place.
        assert_eq!(w.step(&[2u8; 4096], 32 + 24), Step::Keep);
        assert_eq!(w.step(&[2u8; 4096], 100), Step::WriteThrough);
    }

    #[test]
    fn a_commit_header_rewritten_alone_is_written_at_once() {
        // Checksums rewritten after frames were overwritten: each header follows a read, which
        // wrote what waited; the last is the commit's.
        let mut w = Waiting::default();
        assert_eq!(w.step(&header(false), 32), Step::Keep);
        w.keep(&header(false), 32);
        w.bytes.clear();
        assert_eq!(w.step(&header(true), 8272), Step::KeepAndWrite);
    }
}
