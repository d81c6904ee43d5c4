//! Inline SVG charts for the HTML report: drawn as text, so the report needs no script, no
//! network and no fonts beyond the browser's own.

use std::fmt::Write as _;

/// Escapes text for HTML and SVG.
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

/// A number with up to `d` decimals, trailing zeros dropped.
pub fn num(v: f64, d: usize) -> String {
    let s = format!("{v:.d$}");
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_owned()
    } else {
        s
    }
}

/// One bar of a ranked chart.
pub struct Bar {
    pub label: String,
    pub value: f64,
    /// Candidates are drawn in the accent colour.
    pub highlight: bool,
}

/// A reference line across a ranked chart (advanced value, benchmark ...).
pub struct Marker {
    pub label: String,
    pub value: f64,
    pub colour: &'static str,
}

/// Horizontal bars, one per enterprise in the given order, with vertical marker lines.
pub fn ranked_bars(bars: &[Bar], markers: &[Marker], unit: &str) -> String {
    let (label_w, plot_w, row_h, top) = (230.0, 520.0, 22.0, 34.0);
    let max = bars.iter().map(|b| b.value).chain(markers.iter().map(|m| m.value)).fold(0.0_f64, f64::max).max(f64::MIN_POSITIVE) * 1.08;
    let x = |v: f64| label_w + plot_w * v.max(0.0) / max;
    let height = top + row_h * bars.len() as f64 + 16.0;
    let mut s = String::new();
    let _ = write!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" role="img" viewBox="0 0 {w} {height}" width="{w}" height="{height}" font-family="sans-serif" font-size="12">"#,
        w = label_w + plot_w + 90.0
    );
    for (i, m) in markers.iter().enumerate() {
        let mx = x(m.value);
        let _ = write!(
            s,
            r#"<line x1="{mx:.1}" y1="{y1}" x2="{mx:.1}" y2="{y2:.1}" stroke="{c}" stroke-width="2" stroke-dasharray="5 3"/><text x="{mx:.1}" y="{ty}" fill="{c}" text-anchor="middle">{l} {v}</text>"#,
            y1 = top - 6.0,
            y2 = height - 10.0,
            c = m.colour,
            ty = 12.0 + 11.0 * (i % 2) as f64,
            l = esc(&m.label),
            v = num(m.value, 3)
        );
    }
    for (i, b) in bars.iter().enumerate() {
        let y = top + row_h * i as f64;
        let fill = if b.highlight { "#d9480f" } else { "#868e96" };
        let _ = write!(
            s,
            r#"<text x="{lx}" y="{ty:.1}" text-anchor="end">{l}</text><rect x="{label_w}" y="{ry:.1}" width="{bw:.1}" height="{bh}" fill="{fill}"><title>{l}: {v} {u}</title></rect><text x="{vx:.1}" y="{ty:.1}">{v}</text>"#,
            lx = label_w - 6.0,
            ty = y + 14.0,
            l = esc(&b.label),
            ry = y + 3.0,
            bw = (x(b.value) - label_w).max(0.5),
            bh = row_h - 6.0,
            vx = x(b.value) + 4.0,
            v = num(b.value, 3),
            u = esc(unit)
        );
    }
    s.push_str("</svg>");
    s
}

/// One line of a trend chart.
pub struct Line {
    pub label: String,
    /// A value per period (None where there is none).
    pub values: Vec<Option<f64>>,
}

const PALETTE: [&str; 8] = ["#d9480f", "#1971c2", "#2f9e44", "#9c36b5", "#e67700", "#0c8599", "#c2255c", "#5c940d"];

/// Lines over periods (months), with a legend.
pub fn trend(periods: &[String], lines: &[Line], unit: &str) -> String {
    let (left, plot_w, plot_h, top) = (60.0, 560.0, 200.0, 14.0);
    let all: Vec<f64> = lines.iter().flat_map(|l| l.values.iter().flatten().copied()).collect();
    let (lo, hi) = all.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| (a.min(*v), b.max(*v)));
    let (lo, hi) = if all.is_empty() { (0.0, 1.0) } else if hi > lo { (lo - 0.05 * (hi - lo), hi + 0.05 * (hi - lo)) } else { (lo - 1.0, hi + 1.0) };
    let n = periods.len().max(1);
    let x = |i: usize| left + if n == 1 { plot_w / 2.0 } else { plot_w * i as f64 / (n - 1) as f64 };
    let y = |v: f64| top + plot_h * (1.0 - (v - lo) / (hi - lo));
    let legend_h = 16.0 * lines.len() as f64;
    let height = top + plot_h + 36.0 + legend_h;
    let mut s = String::new();
    let _ = write!(s, r#"<svg xmlns="http://www.w3.org/2000/svg" role="img" viewBox="0 0 {w} {height}" width="{w}" height="{height}" font-family="sans-serif" font-size="11">"#, w = left + plot_w + 30.0);
    let _ = write!(s, r##"<rect x="{left}" y="{top}" width="{plot_w}" height="{plot_h}" fill="none" stroke="#ced4da"/>"##);
    for (v, label) in [(hi, num(hi, 3)), (lo, num(lo, 3))] {
        let _ = write!(s, r#"<text x="{}" y="{:.1}" text-anchor="end">{}</text>"#, left - 4.0, y(v) + 4.0, esc(&label));
    }
    let _ = write!(s, r#"<text x="4" y="{}">{}</text>"#, top + plot_h / 2.0, esc(unit));
    for (i, p) in periods.iter().enumerate() {
        let _ = write!(s, r#"<text x="{:.1}" y="{}" text-anchor="middle">{}</text>"#, x(i), top + plot_h + 14.0, esc(p));
    }
    for (k, l) in lines.iter().enumerate() {
        let colour = PALETTE[k % PALETTE.len()];
        let points: Vec<String> = l.values.iter().enumerate().filter_map(|(i, v)| v.map(|v| format!("{:.1},{:.1}", x(i), y(v)))).collect();
        let _ = write!(s, r#"<polyline fill="none" stroke="{colour}" stroke-width="2" points="{}"/>"#, points.join(" "));
        for p in &points {
            let (px, py) = p.split_once(',').unwrap_or(("0", "0"));
            let _ = write!(s, r#"<circle cx="{px}" cy="{py}" r="3" fill="{colour}"/>"#);
        }
        let ly = top + plot_h + 30.0 + 16.0 * k as f64;
        let _ = write!(s, r#"<rect x="{left}" y="{:.1}" width="12" height="3" fill="{colour}"/><text x="{}" y="{ly:.1}">{}</text>"#, ly - 4.0, left + 18.0, esc(&l.label));
    }
    s.push_str("</svg>");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn charts_escape_their_labels() {
        let bars = [Bar { label: "A<B> & Co".into(), value: 2.0, highlight: true }];
        let svg = ranked_bars(&bars, &[Marker { label: "advanced".into(), value: 1.0, colour: "#000" }], "kgce/t");
        assert!(svg.contains("A&lt;B&gt; &amp; Co") && !svg.contains("A<B>"));
        let svg = trend(&["2026-01".into()], &[Line { label: "x\"y".into(), values: vec![Some(1.0)] }], "m3/t");
        assert!(svg.contains("x&quot;y"));
        assert_eq!(num(1.2500, 3), "1.25");
        assert_eq!(num(100.0, 3), "100");
    }
}
