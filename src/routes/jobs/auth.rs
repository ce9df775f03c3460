//! Bearer auth on every `/jobs` route: `Authorization: Bearer <token>`, one of `JOBS_TOKENS`,
//! compared in constant time and never logged; and only over HTTPS when a proxy says how the
//! request arrived (`X-Forwarded-Proto`), unless `JOBS_ALLOW_PLAIN_HTTP` says plain HTTP is meant.
use secrecy::{ExposeSecret, SecretString};
use subtle::ConstantTimeEq;
use warp::http::header;
use warp::{Filter, Rejection};

use crate::config::AuthConfig;
use crate::routes::error::AppError;
use crate::routes::{AppState, with_state};

/// The accepted tokens. Compared in constant time; never logged.
pub struct Auth {
    tokens: Vec<SecretString>,
    allow_plain_http: bool,
}

impl Auth {
    pub fn new(cfg: &AuthConfig) -> Self {
        Self {
            tokens: cfg.tokens.clone(),
            allow_plain_http: cfg.allow_plain_http,
        }
    }

    /// A request a proxy received over plain HTTP, which carried its token in clear: refused
    /// unless that is the deployment's stated choice. No header: a direct connection.
    fn refuses_transport(&self, forwarded_proto: Option<&[u8]>) -> bool {
        let Some(proto) = forwarded_proto else {
            return false;
        };
        // The first hop's value (a chain of proxies appends theirs).
        let first = proto.split(|&b| b == b',').next().unwrap_or_default();
        !self.allow_plain_http && first.trim_ascii().eq_ignore_ascii_case(b"http")
    }

    /// `Authorization: Bearer <token>`, the scheme in any case and followed by one or more
    /// spaces (RFC 9110 §11.1, §11.4). Raw bytes: a header that is not UTF-8 is simply wrong.
    fn accepts(&self, header: Option<&[u8]>) -> bool {
        let Some(given) = header.and_then(bearer_token) else {
            return false;
        };
        // Check every token (no early exit), so timing does not tell which one matched.
        self.tokens.iter().fold(false, |ok, t| {
            ok | bool::from(t.expose_secret().as_bytes().ct_eq(given))
        })
    }
}

fn bearer_token(header: &[u8]) -> Option<&[u8]> {
    const SCHEME: &[u8] = b"bearer";
    let (scheme, rest) = header.split_at_checked(SCHEME.len())?;
    if !scheme.eq_ignore_ascii_case(SCHEME) || !rest.starts_with(b" ") {
        return None;
    }
    let token = rest.trim_ascii();
    (!token.is_empty()).then_some(token)
}

/// Placed after the path filters, so an unknown path is a 404 and not a 401.
pub fn authorized(state: AppState) -> impl Filter<Extract = (), Error = Rejection> + Clone {
    warp::header::headers_cloned()
        .and(with_state(state))
        .and_then(|h: warp::http::HeaderMap, state: AppState| async move {
            let proto = h.get("x-forwarded-proto").map(|v| v.as_bytes());
            if state.auth.refuses_transport(proto) {
                return Err(warp::reject::custom(AppError::HttpsRequired));
            }
            if state
                .auth
                .accepts(h.get(header::AUTHORIZATION).map(|v| v.as_bytes()))
            {
                Ok(())
            } else {
                Err(warp::reject::custom(AppError::Unauthorized))
            }
        })
        .untuple_one()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_checked_exactly() {
        let auth = Auth::new(&AuthConfig {
            tokens: vec![SecretString::from("old"), SecretString::from("new-token")],
            allow_plain_http: false,
        });
        for good in [
            "Bearer new-token",
            "Bearer old",
            "bearer new-token",
            "BEARER new-token",
            "Bearer   new-token ",
        ] {
            assert!(auth.accepts(Some(good.as_bytes())), "{good}");
        }
        for bad in [
            "Bearer ",
            "Bearer new",
            "new-token",
            "Basic new-token",
            "Bearernew-token",
            "Bearer new-token\u{1}",
        ] {
            assert!(!auth.accepts(Some(bad.as_bytes())), "{bad:?}");
        }
        assert!(!auth.accepts(None));
        assert!(!auth.accepts(Some(b"Bearer \xffnew-token")));
    }

    #[test]
    fn a_plain_http_hop_is_refused_unless_allowed() {
        let mut cfg = AuthConfig {
            tokens: vec![SecretString::from("t")],
            allow_plain_http: false,
        };
        let auth = Auth::new(&cfg);
        assert!(!auth.refuses_transport(None), "a direct connection");
        assert!(!auth.refuses_transport(Some(b"https")));
        assert!(!auth.refuses_transport(Some(b"HTTPS, http")));
        assert!(auth.refuses_transport(Some(b"http")));
        assert!(auth.refuses_transport(Some(b" HTTP , https")));
        cfg.allow_plain_http = true;
        assert!(!Auth::new(&cfg).refuses_transport(Some(b"http")));
    }
}
