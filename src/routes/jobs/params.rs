//! What `POST /jobs/{task}` asks for: the date (default: yesterday, UTC, the day a nightly run
//! processes) and `force` (default false), each in the query (`?date=`, `?force=`), in the JSON
//! body (`{"date": …, "force": …}`), or in both. Each value given must be valid; when a value is
//! given in both places, the body's is the one used. Every rule here is one the OpenAPI spec can
//! state (a value in two places that "must agree", or one "required in one place or the other",
//! are not), so a request the spec allows is never refused. Anything else is a 400 that says
//! which.
use chrono::NaiveDate;
use serde::Deserialize;
use serde_json::Value;

use crate::domain::parse_date;
use crate::routes::error::AppError;

#[derive(Deserialize)]
pub struct TriggerQuery {
    pub date: Option<String>,
    pub wait: Option<String>,
    pub force: Option<String>,
}

/// A trigger's date and whether it is forced.
#[derive(Debug, PartialEq)]
pub struct Trigger {
    pub date: NaiveDate,
    pub force: bool,
}

/// `today` is the UTC date (a request without a date is for the day before).
pub fn parse(q: &TriggerQuery, body: &[u8], today: NaiveDate) -> Result<Trigger, AppError> {
    let (body_date, body_force) = parse_body(body)?;
    Ok(Trigger {
        date: trigger_date(q.date.as_deref(), body_date.as_deref(), today)?,
        force: trigger_force(q.force.as_deref(), body_force)?,
    })
}

/// The optional JSON body: an object with `date` (a string) and/or `force` (a boolean), and
/// nothing else.
fn parse_body(body: &[u8]) -> Result<(Option<String>, Option<bool>), AppError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok((None, None));
    }
    let invalid = |why: String| {
        AppError::bad_request(
            "invalid_body",
            format!(
                "invalid JSON body: {why} (expected {{\"date\": \"YYYY-MM-DD\", \"force\": true|false}}, either may be left out)"
            ),
        )
    };
    let map = match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(map)) => map,
        Ok(_) => return Err(invalid("the body is not a JSON object".into())),
        Err(e) => return Err(invalid(e.to_string())),
    };
    if map.is_empty() {
        return Err(invalid("the object is empty".into()));
    }
    let (mut date, mut force) = (None, None);
    for (key, value) in map {
        match (key.as_str(), value) {
            ("date", Value::String(d)) => date = Some(d),
            ("date", other) => return Err(invalid(format!("date is {other}, not a string"))),
            ("force", Value::Bool(f)) => force = Some(f),
            ("force", other) => {
                return Err(AppError::bad_request(
                    "invalid_force",
                    format!("invalid body force {other}: expected true or false"),
                ));
            }
            (other, _) => return Err(invalid(format!("unknown field {other:?}"))),
        }
    }
    Ok((date, force))
}

/// The date: in the query, the body or both (then the body's); none: the day before `today`.
fn trigger_date(
    query: Option<&str>,
    body: Option<&str>,
    today: NaiveDate,
) -> Result<NaiveDate, AppError> {
    let in_query = query.map(|d| parse_date("?date", d)).transpose()?;
    let in_body = body.map(|d| parse_date("body date", d)).transpose()?;
    Ok(in_body
        .or(in_query)
        .unwrap_or_else(|| today - chrono::Days::new(1)))
}

/// `force`: `?force=true|false` and/or a JSON boolean in the body (then the body's).
fn trigger_force(query: Option<&str>, body: Option<bool>) -> Result<bool, AppError> {
    let in_query = query
        .map(|raw| match raw {
            "true" => Ok(true),
            "false" => Ok(false),
            _ => Err(AppError::bad_request(
                "invalid_force",
                format!("invalid ?force={raw:?}: expected true or false"),
            )),
        })
        .transpose()?;
    Ok(body.or(in_query).unwrap_or(false))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    const TODAY: &str = "2024-06-20";

    fn query(q: (Option<&str>, Option<&str>)) -> TriggerQuery {
        TriggerQuery {
            date: q.0.map(str::to_owned),
            wait: None,
            force: q.1.map(str::to_owned),
        }
    }

    fn code(q: (Option<&str>, Option<&str>), body: &str) -> &'static str {
        match parse(&query(q), body.as_bytes(), d(TODAY)) {
            Err(AppError::BadRequest { code, .. }) => code,
            other => panic!("{other:?}"),
        }
    }

    fn ok(q: (Option<&str>, Option<&str>), body: &str) -> (String, bool) {
        let t = parse(&query(q), body.as_bytes(), d(TODAY)).unwrap();
        (t.date.to_string(), t.force)
    }

    #[test]
    fn the_date_is_given_once_or_twice_and_then_the_body_wins() {
        let date = |q, b| trigger_date(q, b, d(TODAY));
        assert_eq!(date(Some("2024-05-01"), None).unwrap(), d("2024-05-01"));
        assert_eq!(date(None, Some("2024-05-01")).unwrap(), d("2024-05-01"));
        assert_eq!(
            date(Some("2024-05-01"), Some("2024-05-02")).unwrap(),
            d("2024-05-02")
        );
        assert_eq!(date(None, None).unwrap(), d("2024-06-19"), "yesterday");
        let code = |q, b| match date(q, b) {
            Err(AppError::BadRequest { code, .. }) => code,
            other => panic!("{other:?}"),
        };
        assert_eq!(code(Some("2024-05-01"), Some("nope")), "invalid_date");
        assert_eq!(code(Some("nope"), Some("2024-05-01")), "invalid_date");
    }

    #[test]
    fn force_follows_the_same_rule() {
        let day = Some("2024-05-01");
        assert_eq!(ok((day, None), ""), ("2024-05-01".into(), false));
        assert_eq!(ok((day, Some("true")), ""), ("2024-05-01".into(), true));
        assert_eq!(ok((day, Some("false")), ""), ("2024-05-01".into(), false));
        assert!(ok((day, None), r#"{"force": true}"#).1);
        assert!(ok((day, Some("true")), r#"{"force": true}"#).1);
        assert_eq!(
            ok((None, None), r#"{"date": "2024-05-01", "force": true}"#),
            ("2024-05-01".into(), true)
        );
        assert!(
            !ok((day, Some("true")), r#"{"force": false}"#).1,
            "the body wins"
        );
        assert_eq!(ok((None, Some("true")), ""), ("2024-06-19".into(), true));
        for bad in ["1", "yes", "True", ""] {
            assert_eq!(code((day, Some(bad)), ""), "invalid_force", "{bad:?}");
        }
        for bad in [r#""true""#, "1", "null"] {
            let body = format!(r#"{{"force": {bad}}}"#);
            assert_eq!(code((day, None), &body), "invalid_force", "{body}");
        }
        assert_eq!(code((day, None), "{}"), "invalid_body");
        assert_eq!(code((day, None), r#"{"date": null}"#), "invalid_body");
        assert_eq!(
            code((day, None), r#"{"force": true, "x": 1}"#),
            "invalid_body"
        );
    }
}
