//! Settings for mimalloc, the allocator the `firebreak` binary uses (`docs/adr/0009`).
//!
//! mimalloc's defaults on Linux commit its arenas eagerly and hand freed memory back to the
//! system only after a delay, which left an idle server at about 40 MiB resident instead of
//! about 24 MiB. Firebreak runs beside other services and is often the smallest thing on the
//! box, so it asks for memory as it needs it and returns it at once; measured with the ingest
//! benchmark, this costs no throughput.

use std::ffi::c_long;

// Indices into mimalloc's `mi_option_e` (v3, `include/mimalloc.h`).
const ARENA_EAGER_COMMIT: i32 = 4;
const PURGE_DELAY: i32 = 15;

unsafe extern "C" {
    fn mi_option_set(option: i32, value: c_long);
}

/// Call first thing in `main`, before threads start. Does nothing harmful if mimalloc is not
/// the global allocator: the options are simply unused.
pub fn tune() {
    // SAFETY: `mi_option_set` only stores a value in mimalloc's option table; both indices
    // are within `_mi_option_last` for the bundled mimalloc v3.
    unsafe {
        mi_option_set(ARENA_EAGER_COMMIT, 0);
        mi_option_set(PURGE_DELAY, 0);
    }
}
