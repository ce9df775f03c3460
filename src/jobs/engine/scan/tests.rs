//! The scan's rules on hand-made bytes, and its ranges against an in-memory object store.
use std::sync::Arc;

use bytes::Bytes;
use datafusion::arrow::array::{Array, AsArray, RecordBatch};
use datafusion::arrow::datatypes::{Date32Type, Int32Type, Int64Type};
use object_store::memory::InMemory;
use object_store::path::Path as ObjPath;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};

use super::counts::LineCounts;
use super::parse::{Parser, day_text, epoch_days};
use super::read::{Source, read_lines};
use super::spec::FileRange;
use super::*;

fn day(s: &str) -> i32 {
    epoch_days(s.parse().unwrap())
}

fn parser(format: LogFormat, day: Option<i32>, batch_rows: usize) -> Parser {
    let schema = format.schema();
    let outputs = (0..format.columns().len())
        .map(TableColumn::Field)
        .collect();
    Parser::new(Arc::new(format), None, outputs, schema, day, batch_rows)
}

/// Parses `text` and returns the rows as strings (dates as YYYY-MM-DD) and the counts.
fn parse(p: &Parser, text: &[u8], partition: Option<i32>) -> (Vec<Vec<String>>, LineCounts) {
    let mut out = Vec::new();
    let mut counts = LineCounts::default();
    p.parse(
        &Bytes::copy_from_slice(text),
        partition,
        0,
        &mut out,
        &mut counts,
        None,
    )
    .unwrap();
    (rows(&out), counts)
}

fn rows(batches: &[RecordBatch]) -> Vec<Vec<String>> {
    let mut rows = Vec::new();
    for b in batches {
        for i in 0..b.num_rows() {
            rows.push(
                b.columns()
                    .iter()
                    .map(|c| match c.data_type() {
                        datafusion::arrow::datatypes::DataType::Date32 => {
                            day_text(c.as_primitive::<Date32Type>().value(i))
                        }
                        _ => c.as_string_view().value(i).to_owned(),
                    })
                    .collect(),
            );
        }
    }
    rows
}

#[test]
fn fields_are_trimmed_typed_and_views_point_into_the_buffer() {
    let p = parser(LogFormat::ads_views(), None, 1024);
    let (rows, counts) = parse(
        &p,
        b"A,p1,click,2024-05-01\r\n  LONGADVERTISERID0001 , p2 ,impression, 2024-05-02\n",
        None,
    );
    assert_eq!(
        rows,
        [
            ["A", "p1", "click", "2024-05-01"],
            ["LONGADVERTISERID0001", "p2", "impression", "2024-05-02"],
        ]
    );
    assert_eq!(counts.rows, 2);
}

#[test]
fn bad_lines_are_counted_by_reason() {
    let p = parser(LogFormat::product_views(), Some(day("2024-05-01")), 1024);
    let text = b"A,p,2024-05-01\n\
                 \n   \n\
                 A,x\n\
                 A,x,2024-05-01,extra\n\
                 ,p,2024-05-01\n\
                 A, ,2024-05-01\n\
                 A,y,2024-13-01\n\
                 A,y,2024-02-30\n\
                 A,y,someday\n\
                 A,y,2024-5-1\n\
                 A,p,2024-05-02\n\
                 A,\xff\xfe,2024-05-01\n\
                 A,p\x00,2024-05-01\n\
                 A,caf\xc3\xa9,2024-05-01";
    let (rows, counts) = parse(&p, text, None);
    assert_eq!(
        rows,
        [["A", "p", "2024-05-01"], ["A", "café", "2024-05-01"]]
    );
    assert_eq!(
        counts,
        LineCounts {
            rows: 2,
            blank: 2,
            bad_encoding: 2,
            malformed: 4,
            bad_date: 4,
            other_day: 1,
        }
    );
}

#[test]
fn hive_partitions_may_leave_the_date_out() {
    let p = parser(LogFormat::product_views(), Some(day("2024-05-01")), 1024);
    let (rows, counts) = parse(
        &p,
        b"A,p1\nA,p2,2024-05-01\nA,p3,2024-05-02\nA\n",
        Some(day("2024-05-01")),
    );
    assert_eq!(rows, [["A", "p1", "2024-05-01"], ["A", "p2", "2024-05-01"]]);
    assert_eq!((counts.other_day, counts.malformed), (1, 1));
    // Another day's partition: every short row is of that day.
    let (rows, counts) = parse(&p, b"A,p1\nA,p2\n", Some(day("2024-05-02")));
    assert!(rows.is_empty());
    assert_eq!(counts.other_day, 2);
}

#[test]
fn batches_hold_at_most_batch_rows() {
    let p = parser(LogFormat::advertiser_ids(), None, 2);
    let mut out = Vec::new();
    let mut counts = LineCounts::default();
    p.parse(
        &Bytes::from_static(b"a\nb\nc\nd\ne\n"),
        None,
        0,
        &mut out,
        &mut counts,
        None,
    )
    .unwrap();
    assert_eq!(
        out.iter().map(RecordBatch::num_rows).collect::<Vec<_>>(),
        [2, 2, 1]
    );
}

#[test]
fn strict_dates() {
    assert_eq!(parse_ymd(b"1970-01-01"), Some(0));
    assert_eq!(parse_ymd(b"2024-02-29"), Some(day("2024-02-29")));
    for bad in [
        &b"2023-02-29"[..],
        b"2024-00-10",
        b"2024-1-01",
        b"20240101",
        b"2024-01-0a",
    ] {
        assert_eq!(parse_ymd(bad), None, "{}", String::from_utf8_lossy(bad));
    }
    assert_eq!(day_text(day("2026-11-20")), "2026-11-20");
}

/// Every way of cutting a file into ranges yields each line exactly once, header excluded.
#[tokio::test]
async fn ranges_own_each_line_exactly_once() {
    let store = Arc::new(InMemory::new());
    let mut text = String::from("advertiser_id,product_id,date\n");
    for i in 0..500 {
        // Lines of varying length, some long, CRLF now and then.
        let pad = "x".repeat(i % 37);
        let nl = if i % 7 == 0 { "\r\n" } else { "\n" };
        text.push_str(&format!("ADV{i},p{pad},2024-05-01{nl}"));
    }
    let path = ObjPath::from("logs/product_views");
    store
        .put(&path, PutPayload::from(text.clone().into_bytes()))
        .await
        .unwrap();
    let size = text.len() as u64;
    let expected: Vec<String> = text
        .lines()
        .skip(1)
        .map(|l| l.trim_end_matches('\r').to_owned())
        .collect();
    for range in [1, 2, 3, 17, 64, 1000, 4096, size] {
        let mut got = Vec::new();
        let mut start = 0;
        while start < size {
            let end = (start + range).min(size);
            let r = FileRange {
                path: path.to_string(),
                size,
                start,
                end,
                partition_date: None,
            };
            let lines = read_lines(Source::Store(store.clone() as Arc<dyn ObjectStore>), r)
                .await
                .unwrap();
            got.extend(
                String::from_utf8(lines.to_vec())
                    .unwrap()
                    .lines()
                    .map(|l| l.trim_end_matches('\r').to_owned()),
            );
            start = end;
        }
        assert_eq!(got, expected, "ranges of {range} bytes");
    }
}

/// The scan through DataFusion: pushdown of the day, projection, counts in the metrics.
#[tokio::test]
async fn the_table_scans_with_sql() {
    let store = Arc::new(InMemory::new());
    let text = "advertiser_id,product_id,type,date\nA,p1,click,2024-05-01\nA,p1,impression,2024-05-01\n\
                B,p2,view,2024-05-01\nA,p1,click,2024-05-02\nbroken\nA,p9,click,soon\n";
    store
        .put(
            &ObjPath::from("ads"),
            PutPayload::from(text.as_bytes().to_vec()),
        )
        .await
        .unwrap();
    let ctx = datafusion::prelude::SessionContext::new();
    let url = url::Url::parse("memory://").unwrap();
    ctx.register_object_store(&url, store);
    let table = LogTable::new(
        LogFormat::ads_views(),
        None,
        "memory://",
        vec![("ads".into(), text.len() as u64, None)],
        None,
    );
    ctx.register_table("ads_views", Arc::new(table)).unwrap();
    let df = ctx
        .sql("SELECT type, count(*) AS n FROM ads_views WHERE date = DATE '2024-05-01' GROUP BY type ORDER BY type")
        .await
        .unwrap();
    let plan = df.create_physical_plan().await.unwrap();
    let shown = datafusion::physical_plan::displayable(plan.as_ref())
        .indent(true)
        .to_string();
    assert!(shown.contains("day=Some(\"2024-05-01\")"), "{shown}");
    assert!(
        !shown.contains("FilterExec"),
        "the scan applies the day: {shown}"
    );
    let batches = datafusion::physical_plan::collect(plan.clone(), ctx.task_ctx())
        .await
        .unwrap();
    let got: Vec<(String, i64)> = batches
        .iter()
        .flat_map(|b| {
            let t = b.column(0).as_string_view().clone();
            let n = b
                .column(1)
                .as_primitive::<datafusion::arrow::datatypes::Int64Type>()
                .clone();
            (0..b.num_rows()).map(move |i| (t.value(i).to_owned(), n.value(i)))
        })
        .collect();
    assert_eq!(
        got,
        [
            ("click".into(), 1),
            ("impression".into(), 1),
            ("view".into(), 1)
        ]
    );
    let counts = scan_counts(&plan);
    assert_eq!(
        (
            counts.rows,
            counts.malformed,
            counts.bad_date,
            counts.other_day
        ),
        (3, 1, 1, 1)
    );
    assert_eq!(
        scan_progress(&plan),
        (text.len() as u64 - 35, text.len() as u64)
    );
}

#[test]
fn views_are_arrows_own() {
    use datafusion::arrow::array::builder::make_view;
    let text = b"0123456abcdefghijklmnopqrstuvwxyz";
    for len in 0..text.len() - 7 {
        assert_eq!(
            super::batch::view(text, 7, 7 + len),
            make_view(&text[7..7 + len], 0, 7),
            "{len}"
        );
        // At the buffer's very end too.
        let short = &text[..7 + len];
        assert_eq!(
            super::batch::view(short, 7, 7 + len),
            make_view(&short[7..], 0, 7),
            "{len} at the end"
        );
    }
}

/// A session whose `product_views` table is two in-memory copies of `text` (a range each, one
/// per partition), coded with the active list ["A", "B"].
async fn two_coded_files(
    text: &str,
    config: datafusion::prelude::SessionConfig,
) -> datafusion::prelude::SessionContext {
    let store = Arc::new(InMemory::new());
    for name in ["pv1", "pv2"] {
        let body = PutPayload::from(text.as_bytes().to_vec());
        store.put(&ObjPath::from(name), body).await.unwrap();
    }
    let ctx = datafusion::prelude::SessionContext::new_with_config(config);
    ctx.register_object_store(&url::Url::parse("memory://").unwrap(), store);
    let size = text.len() as u64;
    let files = vec![("pv1".into(), size, None), ("pv2".into(), size, None)];
    let codes = Some(Arc::new(Codes::new(vec!["A".into(), "B".into()])));
    let table = LogTable::new(LogFormat::product_views(), codes, "memory://", files, None);
    ctx.register_table("product_views", Arc::new(table))
        .unwrap();
    ctx
}

/// With codes, each row's advertiser is looked up as it is parsed (NULL without a code), and a
/// `GROUP BY part, …` is aggregated in the scan's own partitions: no repartition in the plan.
#[tokio::test]
async fn codes_and_partitions_reach_sql() {
    let mut text = String::from("advertiser_id,product_id,date\n");
    for i in 0..40_000 {
        let adv = ["A", "B", "Z"][i % 3];
        text.push_str(&format!("{adv},p{},2024-05-01\n", i % 7));
    }
    let mut config = datafusion::prelude::SessionConfig::new().with_target_partitions(2);
    config.options_mut().optimizer.subset_repartition_threshold = 1;
    let ctx = two_coded_files(&text, config).await;
    let df = ctx
        .sql(
            "SELECT part, advertiser_code, count(*) AS n FROM product_views \
              GROUP BY part, advertiser_code",
        )
        .await
        .unwrap();
    let plan = df.create_physical_plan().await.unwrap();
    let shown = datafusion::physical_plan::displayable(plan.as_ref())
        .indent(true)
        .to_string();
    assert!(!shown.contains("RepartitionExec"), "{shown}");
    let batches = datafusion::physical_plan::collect(plan, ctx.task_ctx())
        .await
        .unwrap();
    let mut by_code = std::collections::BTreeMap::new();
    for b in &batches {
        let code = b
            .column(1)
            .as_primitive::<datafusion::arrow::datatypes::Int32Type>();
        let n = b
            .column(2)
            .as_primitive::<datafusion::arrow::datatypes::Int64Type>();
        for i in 0..b.num_rows() {
            let key = (!code.is_null(i)).then(|| code.value(i));
            *by_code.entry(key).or_insert(0) += n.value(i);
        }
    }
    let expected = std::collections::BTreeMap::from([
        (Some(0), 2 * 13_334),
        (Some(1), 2 * 13_333),
        (None, 2 * 13_333),
    ]);
    assert_eq!(by_code, expected);
}

/// Reading `n`, the scan combines each partition's identical rows into one counting them:
/// `sum(n)` counts what `count(*)` does, from far fewer rows, with the day and bad lines as before.
#[tokio::test]
async fn a_scan_reading_n_combines_identical_rows() {
    let mut text = String::from("advertiser_id,product_id,date\n");
    for i in 0..30_000 {
        let adv = ["A", "B", "Z"][i % 3];
        let day = ["2024-05-01", "2024-05-02"][i % 4 / 3];
        text.push_str(&format!("{adv},p{},{day}\n", i % 11));
        if i % 1000 == 0 {
            text.push_str("broken\nA,,2024-05-01\n");
        }
    }
    let config = datafusion::prelude::SessionConfig::new().with_target_partitions(2);
    let ctx = two_coded_files(&text, config).await;
    // (part, code, product, events) of each group, and the plan's scan counts.
    let groups = async |count: &str| {
        let sql = format!(
            "SELECT part, advertiser_code, product_id, {count} AS n FROM product_views \
             WHERE date = DATE '2024-05-01' GROUP BY part, advertiser_code, product_id \
             ORDER BY part, advertiser_code, product_id"
        );
        let plan = ctx
            .sql(&sql)
            .await
            .unwrap()
            .create_physical_plan()
            .await
            .unwrap();
        let batches = datafusion::physical_plan::collect(plan.clone(), ctx.task_ctx())
            .await
            .unwrap();
        let mut got = Vec::new();
        for b in &batches {
            let part = b.column(0).as_primitive::<Int32Type>();
            let code = b.column(1).as_primitive::<Int32Type>();
            let product = b.column(2).as_string_view();
            let n = b.column(3).as_primitive::<Int64Type>();
            for i in 0..b.num_rows() {
                let c = code.is_valid(i).then(|| code.value(i));
                got.push((part.value(i), c, product.value(i).to_owned(), n.value(i)));
            }
        }
        (got, scan_counts(&plan))
    };
    let (counted, counts) = groups("count(*)").await;
    let (combined, combined_counts) = groups("sum(n)").await;
    assert_eq!(combined, counted);
    assert_eq!(counted.len(), 2 * 3 * 11, "each partition's groups");
    assert_eq!(counted.iter().map(|g| g.3).sum::<i64>(), 2 * 22_500);
    assert_eq!(combined_counts, counts, "the same lines kept and skipped");
    assert_eq!((counts.malformed, counts.other_day), (2 * 60, 2 * 7_500));
    // The scan itself output one row per group and partition, not one per line.
    let plan = ctx
        .sql("SELECT advertiser_code, product_id, n FROM product_views WHERE date = DATE '2024-05-01'")
        .await
        .unwrap()
        .create_physical_plan()
        .await
        .unwrap();
    let batches = datafusion::physical_plan::collect(plan, ctx.task_ctx())
        .await
        .unwrap();
    let rows: usize = batches.iter().map(RecordBatch::num_rows).sum();
    let events: i64 = batches
        .iter()
        .flat_map(|b| b.column(2).as_primitive::<Int64Type>().values().to_vec())
        .sum();
    assert_eq!((rows, events), (2 * 3 * 11, 2 * 22_500));
}
