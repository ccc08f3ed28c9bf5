//! The refresh decision, written once and without a database: given what
//! the store read about a presented refresh token and what the refresh asks
//! for, what happens. The store only reads, performs the decision, and
//! reads again if a concurrent refresh claimed the token first.
//!
//! The rules (docs/issuer.md, "Accounts and sessions"; the OAuth 2.0
//! Security BCP):
//! - an unknown token, a revoked or expired session, a deactivated user:
//!   invalid;
//! - a session bound to a DPoP key refreshes only with a proof of that key
//!   (and, with `--require-dpop`, an unbound one not at all): nothing
//!   changes, so a stolen token neither works nor rotates;
//! - the current token rotates to its successor;
//! - a token rotated within the grace window, whose successor is still the
//!   session's live token, is the same refresh again (two tabs, a retry):
//!   the same successor, nothing new stored;
//! - any other rotated token is reuse: the session is revoked, whatever key
//!   comes with it.

use super::types::RefreshRequest;

/// What the store knows about a presented refresh token and its session,
/// read inside the refresh's transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenState {
    /// When the token was rotated, if it was.
    pub rotated_at: Option<i64>,
    /// Whether its session was revoked.
    pub session_revoked: bool,
    /// When its session stops refreshing.
    pub expires_at: i64,
    /// Whether the session's user is active.
    pub user_active: bool,
    /// The DPoP key the session is bound to.
    pub dpop_jkt: Option<String>,
    /// The SHA-256 of the session's live (unrotated) refresh token, if any.
    pub live_hash: Option<Vec<u8>>,
}

/// What to do with a refresh.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Unknown token, a session that is over, a deactivated user.
    Invalid,
    /// A bound session without its key's proof: change nothing.
    WrongKey,
    /// Rotate the current token to the successor (if nobody claims it
    /// first; then read again and decide again).
    Rotate,
    /// The same refresh again: answer with the same successor.
    Repeat,
    /// A rotated token came back: revoke the session.
    Reuse,
}

/// Decides a refresh of a token in `state` (`None`: no such token).
pub fn decide(state: Option<&TokenState>, request: &RefreshRequest) -> Decision {
    let Some(state) = state else {
        return Decision::Invalid;
    };
    if state.session_revoked {
        return Decision::Invalid;
    }
    let wrong_key = match &state.dpop_jkt {
        Some(bound) => request.proof_jkt.as_ref() != Some(bound),
        None => request.require_bound,
    };
    let Some(rotated_at) = state.rotated_at else {
        if wrong_key {
            return Decision::WrongKey;
        }
        return if state.expires_at > request.now && state.user_active {
            Decision::Rotate
        } else {
            Decision::Invalid
        };
    };
    // Replicas' clocks (whole seconds) may disagree by a little; a rotation
    // "in the future" beyond that is not a concurrent refresh.
    let in_grace = (-1..=request.reuse_grace_secs).contains(&(request.now - rotated_at));
    let successor_live = state.live_hash.as_deref() == Some(&request.successor[..]);
    if in_grace && successor_live && state.user_active {
        // The same refresh again, but only with the key the first one had.
        return if wrong_key {
            Decision::WrongKey
        } else {
            Decision::Repeat
        };
    }
    // Reuse, key or not: the session dies.
    Decision::Reuse
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::panic)]

    use super::*;
    use crate::store::RevokeUntil;

    const NOW: i64 = 1_000_000;

    fn request() -> RefreshRequest {
        RefreshRequest {
            presented: [1; 32],
            successor: [2; 32],
            now: NOW,
            expires_at: NOW + 3600,
            access_exp: NOW + 300,
            reuse_grace_secs: 10,
            revoke: RevokeUntil {
                floor: NOW + 330,
                leeway: 30,
            },
            proof_jkt: None,
            require_bound: false,
        }
    }

    fn current() -> TokenState {
        TokenState {
            rotated_at: None,
            session_revoked: false,
            expires_at: NOW + 100,
            user_active: true,
            dpop_jkt: None,
            live_hash: Some(vec![1; 32]),
        }
    }

    /// Rotated a moment ago, to the request's successor, which is live.
    fn just_rotated(secs_ago: i64) -> TokenState {
        TokenState {
            rotated_at: Some(NOW - secs_ago),
            live_hash: Some(vec![2; 32]),
            ..current()
        }
    }

    /// The current token of a live session rotates; an unknown one, or one
    /// of a revoked, expired or deactivated session, is invalid.
    #[test]
    fn a_current_token_rotates_and_a_dead_one_is_invalid() {
        assert_eq!(decide(Some(&current()), &request()), Decision::Rotate);
        assert_eq!(decide(None, &request()), Decision::Invalid);
        for dead in [
            TokenState {
                session_revoked: true,
                ..current()
            },
            TokenState {
                expires_at: NOW,
                ..current()
            },
            TokenState {
                user_active: false,
                ..current()
            },
        ] {
            assert_eq!(
                decide(Some(&dead), &request()),
                Decision::Invalid,
                "{dead:?}"
            );
        }
    }

    /// A second presentation within the grace, while its successor is live,
    /// gets the same successor; outside the grace, after a later rotation,
    /// or "from the future" beyond a second of skew, it is reuse.
    #[test]
    fn a_concurrent_refresh_repeats_and_anything_else_rotated_is_reuse() {
        assert_eq!(decide(Some(&just_rotated(0)), &request()), Decision::Repeat);
        assert_eq!(
            decide(Some(&just_rotated(10)), &request()),
            Decision::Repeat
        );
        assert_eq!(
            decide(Some(&just_rotated(-1)), &request()),
            Decision::Repeat
        );
        assert_eq!(decide(Some(&just_rotated(11)), &request()), Decision::Reuse);
        assert_eq!(decide(Some(&just_rotated(-2)), &request()), Decision::Reuse);
        let later_rotation = TokenState {
            live_hash: Some(vec![3; 32]),
            ..just_rotated(1)
        };
        assert_eq!(decide(Some(&later_rotation), &request()), Decision::Reuse);
        let no_live = TokenState {
            live_hash: None,
            ..just_rotated(1)
        };
        assert_eq!(decide(Some(&no_live), &request()), Decision::Reuse);
        let deactivated = TokenState {
            user_active: false,
            ..just_rotated(1)
        };
        assert_eq!(decide(Some(&deactivated), &request()), Decision::Reuse);
    }

    /// A bound session refreshes only with its key's proof; without it,
    /// nothing changes. A rotated token is reuse whatever key comes with it,
    /// except a repeat, which needs the key too.
    #[test]
    fn a_bound_session_needs_its_key_but_reuse_is_reuse_with_any_key() {
        let bound = TokenState {
            dpop_jkt: Some("jkt".into()),
            ..current()
        };
        let with_key = RefreshRequest {
            proof_jkt: Some("jkt".into()),
            ..request()
        };
        let other_key = RefreshRequest {
            proof_jkt: Some("other".into()),
            ..request()
        };
        assert_eq!(decide(Some(&bound), &with_key), Decision::Rotate);
        assert_eq!(decide(Some(&bound), &other_key), Decision::WrongKey);
        assert_eq!(decide(Some(&bound), &request()), Decision::WrongKey);
        let bound_rotated = TokenState {
            dpop_jkt: Some("jkt".into()),
            ..just_rotated(1)
        };
        assert_eq!(decide(Some(&bound_rotated), &with_key), Decision::Repeat);
        assert_eq!(decide(Some(&bound_rotated), &other_key), Decision::WrongKey);
        let bound_reused = TokenState {
            dpop_jkt: Some("jkt".into()),
            ..just_rotated(60)
        };
        assert_eq!(decide(Some(&bound_reused), &other_key), Decision::Reuse);
    }

    /// With `--require-dpop`, an unbound session does not refresh, and its
    /// rotated token is still reuse.
    #[test]
    fn require_dpop_refuses_an_unbound_session_without_hiding_reuse() {
        let required = RefreshRequest {
            require_bound: true,
            ..request()
        };
        assert_eq!(decide(Some(&current()), &required), Decision::WrongKey);
        assert_eq!(decide(Some(&just_rotated(60)), &required), Decision::Reuse);
    }
}
