//! Charts drawn as inline SVG on the server: no script library to vendor, nothing for the
//! browser to fetch, and the data stays in the markup (`data-*` attributes) for tests.
//!
//! Every chart is `<svg class="chart" data-chart=ID>`; a bar chart has one `<g class="bar"
//! data-x data-total>` per x value holding one `<rect class="seg" data-series data-value>` per
//! non-zero series; a line chart has one `<g class="line" data-series>` per series with a
//! `<circle class="pt" data-x data-value>` per known point.
use std::fmt::Write;

const W: f64 = 560.0;
const H: f64 = 210.0;
const LEFT: f64 = 52.0;
const RIGHT: f64 = 10.0;
const TOP: f64 = 22.0;
const BOTTOM: f64 = 34.0;
/// At most this many x labels are written; the others are skipped evenly.
const MAX_X_LABELS: usize = 10;

pub const PALETTE: [&str; 6] = [
    "#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#b07aa1",
];

/// One named series of values, one per x label (`None`: no value there).
pub struct Series {
    pub name: String,
    pub values: Vec<Option<f64>>,
}

/// Bars per x label; several series are stacked.
pub fn bars(id: &str, labels: &[String], series: &[Series], unit: &str) -> String {
    let totals: Vec<f64> = (0..labels.len())
        .map(|i| series.iter().filter_map(|s| s.values[i]).sum())
        .collect();
    let top = nice_max(totals.iter().copied().fold(0.0, f64::max));
    let mut svg = open(id, labels, top, unit);
    let band = plot_w() / labels.len().max(1) as f64;
    for (i, label) in labels.iter().enumerate() {
        let x = LEFT + band * i as f64 + band * 0.15;
        let _ = write!(
            svg,
            r#"<g class="bar" data-x="{}" data-total="{}">"#,
            esc(label),
            totals[i]
        );
        let mut base = 0.0;
        for (k, s) in series.iter().enumerate() {
            let v = s.values[i].unwrap_or(0.0);
            if v <= 0.0 {
                continue;
            }
            let (y0, y1) = (y(base, top), y(base + v, top));
            let _ = write!(
                svg,
                r#"<rect class="seg" data-series="{name}" data-value="{v}" x="{x:.1}" y="{y1:.1}" width="{w:.1}" height="{h:.1}" fill="{c}"><title>{label} {name}: {vs}</title></rect>"#,
                name = esc(&s.name),
                w = band * 0.7,
                h = (y0 - y1).max(0.5),
                c = PALETTE[k % PALETTE.len()],
                label = esc(label),
                vs = fmt_num(v),
            );
            base += v;
        }
        svg.push_str("</g>");
    }
    close(svg, series)
}

/// Lines over the x labels, one per series.
pub fn lines(id: &str, labels: &[String], series: &[Series], unit: &str) -> String {
    let max = series
        .iter()
        .flat_map(|s| s.values.iter().flatten())
        .copied()
        .fold(0.0, f64::max);
    let top = nice_max(max);
    let mut svg = open(id, labels, top, unit);
    let band = plot_w() / labels.len().max(1) as f64;
    for (k, s) in series.iter().enumerate() {
        let c = PALETTE[k % PALETTE.len()];
        let pts: Vec<(f64, f64, usize)> = s
            .values
            .iter()
            .enumerate()
            .filter_map(|(i, v)| v.map(|v| (LEFT + band * (i as f64 + 0.5), v, i)))
            .collect();
        let _ = write!(svg, r#"<g class="line" data-series="{}">"#, esc(&s.name));
        let path: Vec<String> = pts
            .iter()
            .map(|(px, v, _)| format!("{px:.1},{:.1}", y(*v, top)))
            .collect();
        let _ = write!(
            svg,
            r#"<polyline fill="none" stroke="{c}" stroke-width="2" points="{}"/>"#,
            path.join(" ")
        );
        for (px, v, i) in pts {
            let _ = write!(
                svg,
                r#"<circle class="pt" data-x="{x}" data-value="{v}" cx="{px:.1}" cy="{:.1}" r="3" fill="{c}"><title>{x} {name}: {vs}</title></circle>"#,
                y(v, top),
                x = esc(&labels[i]),
                name = esc(&s.name),
                vs = fmt_num(v),
            );
        }
        svg.push_str("</g>");
    }
    close(svg, series)
}

fn plot_w() -> f64 {
    W - LEFT - RIGHT
}

fn y(v: f64, top: f64) -> f64 {
    let plot_h = H - TOP - BOTTOM;
    TOP + plot_h - if top > 0.0 { v / top * plot_h } else { 0.0 }
}

/// The svg element, its y grid with tick labels, and the x labels.
fn open(id: &str, labels: &[String], top: f64, unit: &str) -> String {
    let mut svg = format!(
        r#"<svg class="chart" data-chart="{id}" viewBox="0 0 {W} {H}" role="img" xmlns="http://www.w3.org/2000/svg">"#
    );
    for t in 0..=4 {
        let v = top * f64::from(t) / 4.0;
        let ty = y(v, top);
        let _ = write!(
            svg,
            r##"<line x1="{LEFT}" x2="{x2}" y1="{ty:.1}" y2="{ty:.1}" stroke="#e3e3e3"/><text class="tick" x="{tx}" y="{ly:.1}" text-anchor="end">{}</text>"##,
            fmt_num(v),
            x2 = W - RIGHT,
            tx = LEFT - 4.0,
            ly = ty + 4.0,
        );
    }
    if !unit.is_empty() {
        let _ = write!(
            svg,
            r#"<text class="unit" x="4" y="4" dominant-baseline="hanging">{}</text>"#,
            esc(unit)
        );
    }
    let band = plot_w() / labels.len().max(1) as f64;
    let every = labels.len().div_ceil(MAX_X_LABELS).max(1);
    for (i, l) in labels.iter().enumerate().filter(|(i, _)| i % every == 0) {
        let _ = write!(
            svg,
            r#"<text class="xlabel" x="{:.1}" y="{:.1}" text-anchor="middle">{}</text>"#,
            LEFT + band * (i as f64 + 0.5),
            H - BOTTOM + 16.0,
            esc(l)
        );
    }
    svg
}

/// Closes the svg and adds a legend when there are several series.
fn close(mut svg: String, series: &[Series]) -> String {
    svg.push_str("</svg>");
    if series.len() > 1 {
        svg.push_str(r#"<div class="legend">"#);
        for (k, s) in series.iter().enumerate() {
            let _ = write!(
                svg,
                r#"<span><i style="background:{}"></i>{}</span>"#,
                PALETTE[k % PALETTE.len()],
                esc(&s.name)
            );
        }
        svg.push_str("</div>");
    }
    svg
}

/// A round number at or above `v` for the top of the y axis (1, 2 or 5 times a power of ten).
fn nice_max(v: f64) -> f64 {
    if v <= 0.0 {
        return 1.0;
    }
    let p = 10f64.powf(v.log10().floor());
    [1.0, 2.0, 2.5, 5.0, 10.0]
        .iter()
        .map(|m| m * p)
        .find(|&c| c >= v)
        .unwrap_or(10.0 * p)
}

/// Compact numbers for labels: 12, 3.5, 0.042, 12.3k, 4.1M.
pub fn fmt_num(v: f64) -> String {
    let a = v.abs();
    if a >= 1e6 {
        format!("{:.1}M", v / 1e6)
    } else if a >= 1e4 {
        format!("{:.1}k", v / 1e3)
    } else if a >= 100.0 || v.fract() == 0.0 {
        format!("{v:.0}")
    } else if a >= 1.0 {
        format!("{v:.2}")
    } else {
        format!("{v:.3}")
    }
}

/// Escapes text for HTML and attribute values.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(n: usize) -> Vec<String> {
        (0..n).map(|i| format!("d{i}")).collect()
    }

    #[test]
    fn stacked_bars_hold_one_group_per_label_and_every_value() {
        let s = [
            Series {
                name: "a".into(),
                values: vec![Some(1.0), Some(0.0), Some(3.0)],
            },
            Series {
                name: "b<".into(),
                values: vec![Some(2.0), None, Some(4.0)],
            },
        ];
        let svg = bars("x", &labels(3), &s, "rows");
        assert_eq!(svg.matches(r#"<g class="bar""#).count(), 3);
        assert_eq!(
            svg.matches(r#"class="seg""#).count(),
            4,
            "zeros draw nothing"
        );
        assert!(svg.contains(r#"data-x="d2" data-total="7""#));
        assert!(svg.contains(r#"data-series="b&lt;" data-value="4""#));
        assert!(svg.contains(r#"class="legend""#));
    }

    #[test]
    fn lines_skip_missing_points() {
        let s = [Series {
            name: "t".into(),
            values: vec![Some(1.5), None, Some(2.0)],
        }];
        let svg = lines("l", &labels(3), &s, "s");
        assert_eq!(svg.matches(r#"class="pt""#).count(), 2);
        assert!(!svg.contains("legend"));
    }

    #[test]
    fn axis_tops_are_round() {
        assert_eq!(nice_max(0.0), 1.0);
        assert_eq!(nice_max(7.0), 10.0);
        assert_eq!(nice_max(2300.0), 2500.0);
        assert_eq!(nice_max(0.042), 0.05);
        assert_eq!(fmt_num(12345.0), "12.3k");
        assert_eq!(fmt_num(0.0421), "0.042");
    }
}
