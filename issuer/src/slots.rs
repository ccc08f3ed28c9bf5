//! How much of the machine the routes anonymous callers can reach may take
//! at once: a few slots each, and how long a request waits for one.

use std::time::Duration;

/// How many upstream announcements (logout tokens, security events) have
/// their signature checked at once; more wait their turn (at most
/// [`SLOT_WAIT`]), so a flood of forged ones takes at most one core from
/// tollgate's own logouts. One check takes tens of microseconds: one slot
/// still judges thousands a second, a provider's burst included.
pub const UPSTREAM_SLOTS: usize = 1;

/// How many refresh and RFC 7009 requests do their database work at once;
/// more wait their turn (at most [`SLOT_WAIT`]), parked, so a flood of them
/// does not crowd out logouts and every other request for the CPU. A slot is
/// taken only once the body is read and the per-address limit has passed, so
/// slow or limited clients cannot hold one.
pub const UNAUTHENTICATED_SLOTS: usize = 4;

/// The longest a request waits for a slot (refresh, RFC 7009, an upstream
/// announcement, a deep feed read); then it is answered 429.
pub const SLOT_WAIT: Duration = Duration::from_secs(2);
