//! The dashboard's section on the latest date: what is served (score distributions), how the
//! two models agree, and which advertisers changed most.
use std::fmt::Write;

use super::Data;
use super::charts::{self, Series, esc, fmt_num};
use crate::domain::Model;

const SCORE_BINS: usize = 12;

pub fn section(out: &mut String, d: &Data) {
    let Some(date) = d.latest() else { return };
    let _ = write!(
        out,
        "<section><h2>Latest date: {date}</h2><div class=\"grid\">"
    );
    for (model, caption, integer) in [
        (
            Model::TopCtr,
            "TopCTR: CTR of the products recommended",
            false,
        ),
        (
            Model::TopProduct,
            "TopProduct: views of the products recommended",
            true,
        ),
    ] {
        let values: Vec<(f64, i64)> = d
            .scores
            .iter()
            .filter(|(m, ..)| *m == model)
            .map(|(_, s, n)| (*s, *n))
            .collect();
        let (labels, counts) = equal_bins(&values, SCORE_BINS, integer);
        let _ = write!(
            out,
            "<figure><figcaption>{caption}</figcaption>{}</figure>",
            charts::bars(
                &format!("scores-{model}"),
                &labels,
                &[Series {
                    name: "recommendations".into(),
                    values: counts
                }],
                "recommendations"
            )
        );
    }
    let mut jaccard = vec![Some(0.0); 10];
    for a in &d.agreement {
        let i = ((a.jaccard * 10.0) as usize).min(9);
        jaccard[i] = jaccard[i].map(|n| n + 1.0);
    }
    let labels: Vec<String> = (0..10)
        .map(|i| format!("{:.1}", f64::from(i) / 10.0))
        .collect();
    let n = d.agreement.len().max(1) as f64;
    let mean = d.agreement.iter().map(|a| a.jaccard).sum::<f64>() / n;
    let _ = write!(
        out,
        r#"<figure><figcaption>Model agreement: Jaccard of TopCTR and TopProduct per advertiser (mean <b id="mean-jaccard">{mean:.3}</b>)</figcaption>{}</figure>"#,
        charts::bars(
            "jaccard",
            &labels,
            &[Series {
                name: "advertisers".into(),
                values: jaccard
            }],
            "advertisers"
        )
    );
    out.push_str("<figure><figcaption>Most changed since the previous date</figcaption>");
    if d.changes.is_empty() {
        out.push_str(r#"<p class="empty">No previous date to compare with.</p>"#);
    } else {
        out.push_str(r#"<table id="most-changed"><thead><tr><th>advertiser</th><th>added</th><th>removed</th><th>Jaccard</th></tr></thead><tbody>"#);
        for c in &d.changes {
            let _ = write!(
                out,
                r#"<tr data-advertiser="{a}"><td>{a}</td><td class="n">{}</td><td class="n">{}</td><td class="n">{:.3}<span class="meter" style="width:{:.0}px"></span></td></tr>"#,
                c.added,
                c.removed,
                c.jaccard,
                c.jaccard * 60.0,
                a = esc(&c.advertiser_id),
            );
        }
        out.push_str("</tbody></table>");
    }
    out.push_str("</figure></div></section>");
}

/// Equal-width bins over the values' range: labels and counts.
fn equal_bins(values: &[(f64, i64)], n: usize, integer: bool) -> (Vec<String>, Vec<Option<f64>>) {
    let (Some(lo), Some(hi)) = (
        values.iter().map(|v| v.0).reduce(f64::min),
        values.iter().map(|v| v.0).reduce(f64::max),
    ) else {
        return (Vec::new(), Vec::new());
    };
    let width = if integer {
        ((hi - lo + 1.0) / n as f64).ceil().max(1.0)
    } else {
        (hi - lo) / n as f64
    };
    let bins = if width > 0.0 {
        (((hi - lo) / width).floor() as usize + 1).min(n)
    } else {
        1
    };
    let mut counts = vec![Some(0.0); bins];
    for (v, k) in values {
        let i = if width > 0.0 {
            ((v - lo) / width) as usize
        } else {
            0
        }
        .min(bins - 1);
        counts[i] = counts[i].map(|c| c + *k as f64);
    }
    let labels = (0..bins)
        .map(|i| {
            let a = lo + width * i as f64;
            match (integer, width) {
                (true, w) if w <= 1.0 => fmt_num(a),
                (true, w) => format!("{}–{}", fmt_num(a), fmt_num(a + w - 1.0)),
                (false, _) => fmt_num(a),
            }
        })
        .collect();
    (labels, counts)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bins_cover_every_value() {
        let (labels, counts) = equal_bins(&[(0.0, 2), (0.5, 1), (1.0, 3)], 4, false);
        assert_eq!(labels.len(), 4);
        assert_eq!(counts, [Some(2.0), Some(0.0), Some(1.0), Some(3.0)]);
        let (labels, counts) = equal_bins(&[(1.0, 5), (2.0, 1), (3.0, 1)], 12, true);
        assert_eq!(labels, ["1", "2", "3"]);
        assert_eq!(counts, [Some(5.0), Some(1.0), Some(1.0)]);
        let (_, counts) = equal_bins(&[(4.0, 7)], 12, false);
        assert_eq!(counts, [Some(7.0)]);
        assert!(equal_bins(&[], 12, true).0.is_empty());
    }
}
