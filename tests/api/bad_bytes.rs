//! Invalid UTF-8 and NUL bytes are bad rows (`bad_encoding`): skipped and counted, in every log
//! and every layout, never failing the run and never reaching Postgres. Over HTTP, through the
//! real pipeline.
use std::path::Path;

use serde_json::json;

use crate::helpers::spawn_app;
use adrec::gen_data::Layout;

const DAY: &str = "2024-05-01";
const NEXT: &str = "2024-05-02";

/// A log's rows of a day: (good, bad).
type Rows = fn(&str) -> (Vec<Vec<u8>>, Vec<Vec<u8>>);

/// The active list: A and B, then two bad lines (invalid UTF-8, a NUL).
const ACTIVE: &[u8] = b"advertiser_id\nA\nB\nC\xff\nD\x00\n";

/// product_views of a day: its good rows and its bad ones (a NUL in product_id, invalid UTF-8
/// as product_id, a NUL after the date, a truncated sequence as advertiser_id). `café` is valid
/// UTF-8 and kept.
fn product_views(day: &str) -> (Vec<Vec<u8>>, Vec<Vec<u8>>) {
    let d = day.as_bytes();
    let row = |parts: &[&[u8]]| parts.concat();
    if day == DAY {
        (
            vec![
                row(&[b"A,p1,", d]),
                row(&[b"A,p1,", d]),
                row(&[b"A,p1,", d]),
                row(&[b"A,p2,", d]),
                row(&[b"A,caf\xc3\xa9,", d]),
                row(&[b"B,p3,", d]),
            ],
            vec![
                row(&[b"A,p\x00x,", d]),
                row(&[b"A,\xff\xfe,", d]),
                row(&[b"B,p1,", d, b"\x00"]),
                row(&[b"\xc3,p1,", d]),
            ],
        )
    } else {
        (
            vec![row(&[b"A,p9,", d]), row(&[b"A,p9,", d])],
            vec![row(&[b"A,p\x00,", d])],
        )
    }
}

/// ads_views of a day, the same way (bad: NUL in product_id, invalid UTF-8 in type, NUL in
/// advertiser_id; on the next day, invalid UTF-8 in the date).
fn ads_views(day: &str) -> (Vec<Vec<u8>>, Vec<Vec<u8>>) {
    let d = day.as_bytes();
    let row = |parts: &[&[u8]]| parts.concat();
    if day == DAY {
        (
            vec![
                row(&[b"A,p1,impression,", d]),
                row(&[b"A,p1,impression,", d]),
                row(&[b"A,p1,click,", d]),
                row(&[b"B,p3,impression,", d]),
            ],
            vec![
                row(&[b"A,p\x00,impression,", d]),
                row(&[b"A,p1,cl\xffick,", d]),
                row(&[b"A\x00,p1,click,", d]),
            ],
        )
    } else {
        (
            vec![row(&[b"A,p9,impression,", d])],
            vec![b"A,p1,impression,2024-05-0\xff".to_vec()],
        )
    }
}

fn put(raw: &Path, rel: &str, header: &str, rows: &[Vec<u8>], eol: &[u8]) {
    let path = raw.join(rel);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let mut out = header.as_bytes().to_vec();
    out.extend_from_slice(eol);
    for r in rows {
        out.extend_from_slice(r);
        out.extend_from_slice(eol);
    }
    std::fs::write(path, out).unwrap();
}

/// Writes both logs in `layout`, good and bad rows interleaved; CRLF for ads_views.
fn write_logs(raw: &Path, layout: Layout) {
    std::fs::write(raw.join("advertiser_ids"), ACTIVE).unwrap();
    let logs: [(&str, &str, Rows, &[u8]); 2] = [
        (
            "product_views",
            "advertiser_id,product_id,date",
            product_views,
            b"\n",
        ),
        (
            "ads_views",
            "advertiser_id,product_id,type,date",
            ads_views,
            b"\r\n",
        ),
    ];
    for (name, header, rows, eol) in logs {
        let day_rows = |day: &str| {
            let (good, bad) = rows(day);
            let mut all = Vec::new();
            for i in 0..good.len().max(bad.len()) {
                all.extend(good.get(i).cloned());
                all.extend(bad.get(i).cloned());
            }
            all
        };
        match layout {
            Layout::Single => {
                let mut all = day_rows(DAY);
                all.extend(day_rows(NEXT));
                put(raw, name, header, &all, eol);
            }
            Layout::Daily => {
                for day in [DAY, NEXT] {
                    put(
                        raw,
                        &format!("{name}/{day}.csv"),
                        header,
                        &day_rows(day),
                        eol,
                    );
                }
            }
            Layout::Hive => {
                for day in [DAY, NEXT] {
                    let rel = format!("{name}/date={day}/part-0.csv");
                    put(raw, &rel, header, &day_rows(day), eol);
                }
            }
        }
    }
}

#[tokio::test]
async fn bad_bytes_are_bad_rows_in_every_log_and_layout() {
    for layout in [Layout::Single, Layout::Daily, Layout::Hive] {
        // Arrange
        let app = spawn_app().await;
        write_logs(&app.raw, layout);
        // Every bad line of a file read is counted: a single file holds the next day's too.
        let count = |rows: Rows| {
            let days: &[&str] = if layout == Layout::Single {
                &[DAY, NEXT]
            } else {
                &[DAY]
            };
            days.iter().map(|d| rows(d).1.len()).sum::<usize>()
        };
        let (pv_bad, ads_bad) = (count(product_views), count(ads_views));

        // Act
        let run = app.run_task("pipeline", DAY).await;

        // Assert
        assert_eq!(run["status"], "succeeded", "{layout:?}: {run}");
        let f = &run["details"]["filter_data"]["details"];
        assert_eq!(
            f["advertiser_ids"]["rows"],
            json!({"bad_encoding": 2}),
            "{layout:?}: {f}"
        );
        assert_eq!(
            f["product_views"]["rows"],
            json!({"kept": 6, "bad_encoding": pv_bad}),
            "{layout:?}: {f}"
        );
        assert_eq!(
            f["ads_views"]["rows"],
            json!({"kept": 4, "bad_encoding": ads_bad}),
            "{layout:?}: {f}"
        );
        assert_eq!(run["bad_rows"], pv_bad + ads_bad, "{layout:?}");
        let rows = app
            .db
            .query(
                "SELECT advertiser_id, model::text, product_id FROM recommendations \
                 ORDER BY advertiser_id, model, rank",
                &[],
            )
            .await
            .unwrap();
        let rows: Vec<(String, String, String)> = rows
            .iter()
            .map(|r| (r.get(0), r.get(1), r.get(2)))
            .collect();
        let expect = [
            ("A", "top_ctr", "p1"),
            ("A", "top_product", "p1"),
            ("A", "top_product", "café"),
            ("A", "top_product", "p2"),
            ("B", "top_ctr", "p3"),
            ("B", "top_product", "p3"),
        ]
        .map(|(a, m, p)| (a.to_owned(), m.to_owned(), p.to_owned()));
        assert_eq!(rows, expect, "{layout:?}");
        // Nothing mangled on the way (a lossy decode would leave U+FFFD).
        assert!(
            rows.iter()
                .all(|(a, _, p)| !a.contains(['\u{fffd}', '\0']) && !p.contains(['\u{fffd}', '\0'])),
            "{layout:?}: {rows:?}"
        );
        app.stop().await;
    }
}
