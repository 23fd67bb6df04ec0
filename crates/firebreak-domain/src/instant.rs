//! The range of instants Firebreak keeps to: the years 2000 to 2200. Date arithmetic far outside
//! it can fail, so every instant a client or a sender gives is held to it, and every rule that
//! walks time (rotations, windows) stops at its ends.

use jiff::Timestamp;

/// The earliest instant Firebreak accepts: 2000-01-01T00:00:00Z.
pub const ACCEPTED_EARLIEST: Timestamp = Timestamp::constant(946_684_800, 0);

/// The latest instant Firebreak accepts: 2200-12-31T23:59:59.999999999Z.
pub const ACCEPTED_LATEST: Timestamp = Timestamp::constant(7_289_654_399, 999_999_999);

/// Whether `ts` lies in the years 2000 to 2200 (both included).
pub fn in_accepted_range(ts: Timestamp) -> bool {
    (ACCEPTED_EARLIEST..=ACCEPTED_LATEST).contains(&ts)
}
