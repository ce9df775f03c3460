//! Strict decoding of what a request carries in its URL: query strings (each name once, valid
//! UTF-8 without NUL bytes) and path segments. warp's own query filter decodes bad UTF-8
//! lossily, and Postgres text cannot hold NUL, so both are refused here as 400s.
use percent_encoding::percent_decode_str;
use serde::de::DeserializeOwned;
use warp::{Filter, Rejection};

use super::error::AppError;

/// The query string as `T`, strictly: every name and value valid UTF-8 without NUL bytes, each
/// name at most once; anything else is a 400. (warp's own query filter decodes bad UTF-8 lossily.)
pub fn query<T: DeserializeOwned + Send + 'static>()
-> impl Filter<Extract = (T,), Error = Rejection> + Clone {
    warp::query::raw()
        .or(warp::any().map(String::new))
        .unify()
        .and_then(|raw: String| async move { parse_query(&raw).map_err(warp::reject::custom) })
}

pub fn parse_query<T: DeserializeOwned>(raw: &str) -> Result<T, AppError> {
    let mut map = serde_json::Map::new();
    for pair in raw.split('&').filter(|p| !p.is_empty()) {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        let name = decode_component("a query parameter name", name)?;
        let value = decode_component(&format!("query parameter {name:?}"), value)?;
        if map.insert(name.clone(), value.into()).is_some() {
            return Err(AppError::bad_request(
                "invalid_query",
                format!("query parameter {name:?} is given more than once"),
            ));
        }
    }
    serde_json::from_value(serde_json::Value::Object(map))
        .map_err(|e| AppError::bad_request("invalid_query", format!("invalid query string: {e}")))
}

/// One `application/x-www-form-urlencoded` component: `+` is a space, then percent-decoding.
fn decode_component(what: &str, raw: &str) -> Result<String, AppError> {
    let spaced = raw.replace('+', " ");
    let decoded = percent_decode_str(&spaced).decode_utf8().map_err(|_| {
        AppError::bad_request("invalid_query", format!("{what} is not valid UTF-8"))
    })?;
    if decoded.contains('\0') {
        return Err(AppError::bad_request(
            "invalid_query",
            format!("{what} contains a NUL byte"),
        ));
    }
    Ok(decoded.into_owned())
}

/// warp hands path segments over still percent-encoded. Postgres text cannot hold NUL, so an id
/// with one is refused here rather than failing the query.
pub fn decode_segment(name: &str, raw: &str) -> Result<String, AppError> {
    let decoded = percent_decode_str(raw)
        .decode_utf8()
        .map_err(|_| AppError::bad_request("invalid_path", format!("{name} is not valid UTF-8")))?;
    if decoded.contains('\0') {
        return Err(AppError::bad_request(
            "invalid_path",
            format!("{name} contains a NUL byte"),
        ));
    }
    Ok(decoded.into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Deserialize, Debug)]
    struct Q {
        date: Option<String>,
    }

    #[test]
    fn query_strings_are_decoded_strictly() {
        assert_eq!(
            parse_query::<Q>("date=2024-05-01&x=1")
                .unwrap()
                .date
                .as_deref(),
            Some("2024-05-01")
        );
        assert_eq!(parse_query::<Q>("").unwrap().date, None);
        assert_eq!(
            parse_query::<Q>("date=a+b%20c").unwrap().date.as_deref(),
            Some("a b c")
        );
        for bad in ["date=%00", "date=%FF", "%FF=1", "date=1&date=2", "d%00=1"] {
            assert!(parse_query::<Q>(bad).is_err(), "{bad}");
        }
    }
}
