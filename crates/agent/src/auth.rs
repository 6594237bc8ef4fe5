//! Basic authentication of `/xbackup` against the backup credentials, compared in
//! constant time so the password cannot be guessed byte by byte from timings.

use axum::http::HeaderMap;
use base64::Engine;

/// Whether the request carries `Authorization: Basic` with exactly these credentials.
pub(crate) fn is_authorized(headers: &HeaderMap, user: &str, password: &str) -> bool {
    let Some(value) = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let Some(encoded) = value.strip_prefix("Basic ") else {
        return false;
    };
    let Ok(decoded) = base64::engine::general_purpose::STANDARD.decode(encoded.trim()) else {
        return false;
    };
    let expected = format!("{user}:{password}");
    constant_time_eq(&decoded, expected.as_bytes())
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    let mut diff = (a.len() ^ b.len()) as u8 | u8::from(a.len() != b.len());
    for i in 0..a.len().max(b.len()) {
        let x = a.get(i).copied().unwrap_or(0);
        let y = b.get(i).copied().unwrap_or(0);
        diff |= x ^ y;
    }
    diff == 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(v: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(
            axum::http::header::AUTHORIZATION,
            HeaderValue::from_str(v).unwrap(),
        );
        h
    }

    #[test]
    fn checks_user_and_password() {
        // "backup:pw" and "backup:px"
        assert!(is_authorized(
            &headers("Basic YmFja3VwOnB3"),
            "backup",
            "pw"
        ));
        assert!(!is_authorized(
            &headers("Basic YmFja3VwOnB4"),
            "backup",
            "pw"
        ));
        assert!(!is_authorized(&headers("Bearer x"), "backup", "pw"));
        assert!(!is_authorized(&HeaderMap::new(), "backup", "pw"));
        assert!(!constant_time_eq(b"ab", b"abc"));
        assert!(constant_time_eq(b"abc", b"abc"));
    }
}
