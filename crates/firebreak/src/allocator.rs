//! Settings for mimalloc, the allocator the `firebreak` binary uses (`docs/adr/0009`).
//!
//! mimalloc's defaults on Linux commit its arenas eagerly and hand freed memory back to the
//! system only after a delay, which left an idle server at about 40 MiB resident instead of
//! about 24 MiB. Firebreak runs beside other services and is often the smallest thing on the
//! box, so it asks for memory as it needs it and returns it at once; measured with the ingest
//! benchmark, this costs no throughput. Transparent huge pages are off for the same reason.

use std::ffi::c_long;

// Links mimalloc, whose function is declared below, into every build of this crate: its
// tests, and binaries that keep the system allocator, too.
extern crate mimalloc as _;

// Indices into mimalloc's `mi_option_e` (v3, `include/mimalloc.h`).
const ARENA_EAGER_COMMIT: i32 = 4;
const PURGE_DELAY: i32 = 15;
const ALLOW_THP: i32 = 43;

unsafe extern "C" {
    fn mi_option_set(option: i32, value: c_long);
}

/// Call first thing in `main`, before threads start. Does nothing harmful if mimalloc is not
/// the global allocator: the options are simply unused.
pub fn tune() {
    // An option set in the environment (`MIMALLOC_PURGE_DELAY=10`, say) is left as given.
    let unset = |name: &str| std::env::var_os(name).is_none();
    // SAFETY: `mi_option_set` only stores a value in mimalloc's option table; the indices
    // are within `_mi_option_last` for the bundled mimalloc v3.
    unsafe {
        if unset("MIMALLOC_ARENA_EAGER_COMMIT") {
            mi_option_set(ARENA_EAGER_COMMIT, 0);
        }
        if unset("MIMALLOC_PURGE_DELAY") {
            mi_option_set(PURGE_DELAY, 0);
        }
        mi_option_set(ALLOW_THP, 0);
    }
    no_huge_pages();
}

/// Transparent huge pages off for this process. mimalloc asks for them on its arenas, and
/// where the system grants them every small heap in use rounds up to 2 MiB: an idle server
/// held 16 MiB more, and 100,000 open alerts about 25 MiB more, with no gain in ingest speed
/// (docs/benchmarks.md). mimalloc turns them off itself only when `MIMALLOC_ALLOW_THP=0` is
/// set before the process starts, too early for `tune`.
#[cfg(target_os = "linux")]
fn no_huge_pages() {
    // SAFETY: PR_SET_THP_DISABLE takes no pointers; it sets a flag on this process.
    let _ = unsafe { libc::prctl(libc::PR_SET_THP_DISABLE, 1, 0, 0, 0) };
}

#[cfg(not(target_os = "linux"))]
fn no_huge_pages() {}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    #[test]
    fn tune_turns_transparent_huge_pages_off_for_the_process() {
        super::tune();
        // SAFETY: PR_GET_THP_DISABLE takes no pointers; it reads this process's flag.
        let disabled = unsafe { libc::prctl(libc::PR_GET_THP_DISABLE, 0, 0, 0, 0) };
        assert_eq!(disabled, 1, "PR_GET_THP_DISABLE after tune()");
    }
}
