//! Times as the store keeps them (RFC 3339 text).

use std::time::SystemTime;

/// An RFC 3339 time, with or without fractional seconds and offset.
pub fn parse(s: &str) -> Option<SystemTime> {
    humantime::parse_rfc3339_weak(s.trim_end_matches('Z').split('+').next()?)
        .ok()
        .or_else(|| humantime::parse_rfc3339(s).ok())
}
