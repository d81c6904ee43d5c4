//! Inline SVG charts for the HTML report: drawn as text, so the report needs no script, no
//! network and no fonts beyond the browser's own. Labels are placed so that they never overlap
//! (their width is estimated conservatively and overlapping ones are staggered), colours are the
//! Okabe-Ito palette (safe for colour-blind readers), and the print stylesheet turns them grey.

use std::fmt::Write as _;

use super::figures::Figure;

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

/// The Okabe-Ito palette (Okabe & Ito 2008), black last.
pub const PALETTE: [&str; 8] = ["#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#000000"];
/// Bars of the rest of a group.
pub const GREY: &str = "#999999";
/// Candidates and the enterprise of a page.
pub const ACCENT: &str = "#D55E00";
/// Line height in ems: CJK fonts (Noto Sans CJK) draw a box of about 1.45 em.
const LINE: f64 = 1.5;

/// The width `text` takes at `font` px, over- rather than under-estimated: wide (CJK) characters
/// take a full em, others up to 0.62 em.
pub fn text_width(text: &str, font: f64) -> f64 {
    text.chars()
        .map(|c| match c {
            c if (c as u32) >= 0x2E80 => 1.0,
            ' ' => 0.32,
            'i' | 'l' | 'j' | '.' | ',' | ':' | ';' | '|' | '\'' | '!' => 0.32,
            'm' | 'w' | 'M' | 'W' | '%' | '@' => 0.9,
            _ => 0.62,
        })
        .sum::<f64>()
        * font
}

/// Rows for labels centred at `x` of width `w` so that labels in one row keep `gap` apart: each
/// takes the first row where it fits (the caller draws row k one line lower).
pub fn stagger(labels: &[(f64, f64)], gap: f64) -> Vec<usize> {
    let mut rows: Vec<Vec<(f64, f64)>> = Vec::new();
    let mut out = Vec::with_capacity(labels.len());
    for &(x, w) in labels {
        let (l, r) = (x - w / 2.0, x + w / 2.0);
        let free = |row: &Vec<(f64, f64)>| row.iter().all(|&(a, b)| r + gap <= a || l >= b + gap);
        let k = rows.iter().position(free).unwrap_or(rows.len());
        if k == rows.len() {
            rows.push(Vec::new());
        }
        rows[k].push((l, r));
        out.push(k);
    }
    out
}

/// Vertical positions for labels wanted at `ys` (baselines), at least `h` apart, kept within
/// `[lo, hi]` where possible: sorted, pushed down, then the whole run pulled up if it overflows.
pub fn spread(ys: &[f64], h: f64, lo: f64, hi: f64) -> Vec<f64> {
    let mut order: Vec<usize> = (0..ys.len()).collect();
    order.sort_by(|a, b| ys[*a].total_cmp(&ys[*b]));
    let mut placed = vec![0.0; ys.len()];
    let mut last = f64::NEG_INFINITY;
    for &i in &order {
        let y = ys[i].max(last + h).max(lo);
        placed[i] = y;
        last = y;
    }
    let overflow = last - hi;
    if overflow > 0.0 {
        let mut next = f64::INFINITY;
        for &i in order.iter().rev() {
            let y = (placed[i] - overflow).min(next - h);
            placed[i] = y;
            next = y;
        }
    }
    placed
}

/// Every `k`-th of `n` axis labels of width `w` fits `span` px: the smallest such k.
fn tick_step(n: usize, w: f64, span: f64) -> usize {
    if n <= 1 {
        return 1;
    }
    let slot = span / (n - 1).max(1) as f64;
    ((w + 6.0) / slot).ceil().max(1.0) as usize
}

fn open(kind: &str, title: &str, w: f64, h: f64, font: u32) -> String {
    format!(
        r#"<svg xmlns="http://www.w3.org/2000/svg" class="chart" data-chart="{kind}" role="img" aria-label="{t}" viewBox="0 0 {w:.0} {h:.0}" width="{w:.0}" height="{h:.0}" font-family="sans-serif" font-size="{font}"><title>{t}</title>"#,
        t = esc(title)
    )
}

fn text(s: &mut String, x: f64, y: f64, anchor: &str, fill: &str, label: &str) {
    let _ = write!(s, r#"<text x="{x:.1}" y="{y:.1}" text-anchor="{anchor}" fill="{fill}">{}</text>"#, esc(label));
}

/// A legend of coloured swatches that wraps at `width`; returns its height.
fn legend(s: &mut String, items: &[(&str, &str)], left: f64, top: f64, width: f64, font: f64) -> f64 {
    let (mut x, mut y) = (left, top);
    for (label, colour) in items {
        let w = 16.0 + text_width(label, font) + 12.0;
        if x > left && x + w > left + width {
            x = left;
            y += LINE * font + 2.0;
        }
        let _ = write!(s, r#"<rect x="{x:.1}" y="{:.1}" width="11" height="11" fill="{colour}"/>"#, y - 10.0);
        text(s, x + 15.0, y, "start", "#212529", label);
        x += w;
    }
    if items.is_empty() {
        0.0
    } else {
        y - top + LINE * font + 2.0
    }
}

/// Axis labels of months: the year on the first and on January, the month alone elsewhere,
/// thinned so that none overlap, and kept within `[min_x, max_x]` (clear of the value axis).
fn month_axis(s: &mut String, periods: &[String], x: &dyn Fn(usize) -> f64, y: f64, (min_x, max_x): (f64, f64), font: f64) {
    let short = |i: usize, p: &str| -> String {
        match p.split_once('-') {
            Some((_, month)) if i > 0 && month != "01" => month.to_owned(),
            _ => p.to_owned(),
        }
    };
    let widest = periods.iter().enumerate().map(|(i, p)| text_width(&short(i, p), font)).fold(0.0, f64::max);
    let span = if periods.len() > 1 { x(periods.len() - 1) - x(0) } else { max_x - min_x };
    let step = tick_step(periods.len(), widest, span);
    let mut last_right = f64::NEG_INFINITY;
    for (i, p) in periods.iter().enumerate() {
        if i % step != 0 {
            continue;
        }
        let label = short(i, p);
        let w = text_width(&label, font);
        let centre = x(i).max(min_x + w / 2.0).min(max_x - w / 2.0);
        if centre - w / 2.0 < last_right + 6.0 {
            continue;
        }
        last_right = centre + w / 2.0;
        text(s, centre, y, "middle", "#495057", &label);
    }
}

/// Round bounds and a few ticks for an axis from `lo` to `hi`.
fn nice_ticks(lo: f64, hi: f64) -> Vec<f64> {
    let span = (hi - lo).max(f64::MIN_POSITIVE);
    let raw = span / 4.0;
    let mag = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 2.5, 5.0, 10.0].iter().map(|m| m * mag).find(|s| *s >= raw).unwrap_or(10.0 * mag);
    let first = (lo / step).ceil() * step;
    (0..12).map(|i| first + step * f64::from(i)).take_while(|v| *v <= hi + step * 1e-9).collect()
}

fn y_axis(s: &mut String, ticks: &[f64], y: &dyn Fn(f64) -> f64, left: f64, right: f64, figure: Figure) {
    let step = if ticks.len() > 1 { ticks[1] - ticks[0] } else { 1.0 };
    for t in ticks {
        let _ = write!(s, r##"<line x1="{left}" x2="{right}" y1="{yy:.1}" y2="{yy:.1}" stroke="#e9ecef"/>"##, yy = y(*t));
        text(s, left - 4.0, y(*t) + 4.0, "end", "#495057", &super::figures::tick(*t, step, figure));
    }
}

/// One bar of a ranked chart.
pub struct Bar {
    pub label: String,
    pub value: f64,
    /// Candidates are drawn in the accent colour.
    pub highlight: bool,
}

/// A reference level across a chart (advanced value, benchmark ...).
pub struct Marker {
    pub label: String,
    pub value: f64,
    pub colour: &'static str,
}

/// Horizontal bars, one per enterprise in the given order, with vertical marker lines whose
/// labels are staggered into rows above the plot wherever they would overlap.
pub fn ranked_bars(bars: &[Bar], markers: &[Marker], unit: &str) -> String {
    let (label_w, plot_w, row_h, font) = (230.0, 500.0, 22.0, 12.0);
    let max = bars.iter().map(|b| b.value).chain(markers.iter().map(|m| m.value)).fold(0.0_f64, f64::max).max(f64::MIN_POSITIVE) * 1.12;
    let x = |v: f64| label_w + plot_w * v.max(0.0) / max;
    let labels: Vec<String> = markers.iter().map(|m| format!("{} {}", m.label, Figure::Intensity.show(m.value))).collect();
    let boxes: Vec<(f64, f64)> = markers.iter().zip(&labels).map(|(m, l)| (x(m.value), text_width(l, font))).collect();
    // A label runs off the right edge of the plot: move its centre in.
    let width = label_w + plot_w + 110.0;
    let boxes: Vec<(f64, f64)> = boxes.into_iter().map(|(c, w)| (c.min(width - w / 2.0 - 2.0).max(w / 2.0 + 2.0), w)).collect();
    let rows = stagger(&boxes, 6.0);
    let n_rows = rows.iter().max().map_or(0, |r| r + 1);
    let top = 10.0 + LINE * font * n_rows as f64 + 4.0;
    let height = top + row_h * bars.len() as f64 + 24.0;
    let mut s = open("ranked", &format!("ranking ({unit})"), width, height, font as u32);
    for ((m, (cx, _)), (row, label)) in markers.iter().zip(&boxes).zip(rows.iter().zip(&labels)) {
        let mx = x(m.value);
        let ty = 10.0 + font + LINE * font * *row as f64;
        let _ = write!(
            s,
            r#"<line x1="{mx:.1}" y1="{y1:.1}" x2="{mx:.1}" y2="{y2:.1}" stroke="{c}" stroke-width="2" stroke-dasharray="5 3"/>"#,
            y1 = ty + 3.0,
            y2 = height - 20.0,
            c = m.colour
        );
        text(&mut s, *cx, ty, "middle", m.colour, label);
    }
    for (i, b) in bars.iter().enumerate() {
        let y = top + row_h * i as f64;
        let fill = if b.highlight { ACCENT } else { GREY };
        let v = Figure::Intensity.show(b.value);
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
            u = esc(unit)
        );
    }
    text(&mut s, label_w + plot_w / 2.0, height - 4.0, "middle", "#495057", unit);
    s.push_str("</svg>");
    s
}

/// One line of a trend chart.
pub struct Line {
    pub label: String,
    /// A value per period (None where there is none).
    pub values: Vec<Option<f64>>,
}

/// Lines over months with optional horizontal reference levels (labelled at the right, spread
/// apart when levels are close), and a legend.
pub fn trend(kind: &str, periods: &[String], lines: &[Line], levels: &[Marker], unit: &str, width: f64) -> String {
    let font = 11.0;
    let ref_labels: Vec<String> = levels.iter().map(|m| format!("{} {}", m.label, Figure::Intensity.show(m.value))).collect();
    let ref_w = ref_labels.iter().map(|l| text_width(l, font)).fold(0.0, f64::max);
    let (left, top, plot_h) = (58.0, 26.0, 92.0);
    let plot_w = (width - left - 14.0 - if levels.is_empty() { 0.0 } else { ref_w + 8.0 }).max(120.0);
    let all: Vec<f64> = lines.iter().flat_map(|l| l.values.iter().flatten().copied()).chain(levels.iter().map(|m| m.value)).filter(|v| v.is_finite()).collect();
    let (lo, hi) = all.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| (a.min(*v), b.max(*v)));
    let (lo, hi) = if all.is_empty() { (0.0, 1.0) } else if hi > lo { (lo - 0.08 * (hi - lo), hi + 0.08 * (hi - lo)) } else { (lo - 1.0, hi + 1.0) };
    let n = periods.len().max(1);
    let x = |i: usize| left + if n == 1 { plot_w / 2.0 } else { plot_w * i as f64 / (n - 1) as f64 };
    let y = |v: f64| top + plot_h * (1.0 - (v - lo) / (hi - lo));
    let mut body = String::new();
    y_axis(&mut body, &nice_ticks(lo, hi), &y, left, left + plot_w, Figure::Intensity);
    let _ = write!(body, r##"<rect x="{left}" y="{top}" width="{plot_w:.1}" height="{plot_h}" fill="none" stroke="#ced4da"/>"##);
    month_axis(&mut body, periods, &x, top + plot_h + 14.0, (left, left + plot_w), font);
    let ys: Vec<f64> = levels.iter().map(|m| y(m.value) + 4.0).collect();
    let placed = spread(&ys, LINE * font, top + font, top + plot_h - 2.0);
    for ((m, label), ly) in levels.iter().zip(&ref_labels).zip(placed) {
        let yy = y(m.value);
        let _ = write!(body, r#"<line x1="{left}" x2="{:.1}" y1="{yy:.1}" y2="{yy:.1}" stroke="{c}" stroke-width="1.5" stroke-dasharray="5 3"/>"#, left + plot_w, c = m.colour);
        text(&mut body, left + plot_w + 6.0, ly, "start", m.colour, label);
    }
    for (k, l) in lines.iter().enumerate() {
        let colour = PALETTE[k % PALETTE.len()];
        let points: Vec<(f64, f64)> = l.values.iter().enumerate().filter_map(|(i, v)| v.filter(|v| v.is_finite()).map(|v| (x(i), y(v)))).collect();
        let text_points: Vec<String> = points.iter().map(|(a, b)| format!("{a:.1},{b:.1}")).collect();
        let _ = write!(body, r#"<polyline fill="none" stroke="{colour}" stroke-width="2" points="{}"/>"#, text_points.join(" "));
        for (px, py) in &points {
            let _ = write!(body, r#"<circle cx="{px:.1}" cy="{py:.1}" r="3" fill="{colour}"/>"#);
        }
    }
    let items: Vec<(&str, &str)> = lines.iter().enumerate().map(|(k, l)| (l.label.as_str(), PALETTE[k % PALETTE.len()])).collect();
    let mut foot = String::new();
    let legend_h = legend(&mut foot, &items, left, top + plot_h + 36.0, width - left, font);
    let height = top + plot_h + 26.0 + legend_h + 6.0;
    let mut s = open(kind, unit, width, height, font as u32);
    text(&mut s, 4.0, 11.0, "start", "#495057", unit);
    s.push_str(&body);
    s.push_str(&foot);
    s.push_str("</svg>");
    s
}

/// One series of a monthly bar chart.
pub struct Series {
    pub label: String,
    pub values: Vec<Option<f64>>,
}

/// Monthly bars, the series stacked (negative values below the axis), with a legend when there
/// is more than one series; `figure` rounds the axis.
pub fn stacked_months(kind: &str, title: &str, periods: &[String], series: &[Series], unit: &str, figure: Figure, width: f64) -> String {
    let font = 11.0;
    let (left, top, plot_h) = (62.0, 26.0, 72.0);
    let plot_w = width - left - 10.0;
    let n = periods.len().max(1);
    let (mut hi, mut lo) = (0.0_f64, 0.0_f64);
    for i in 0..n {
        let (pos, neg) = series.iter().filter_map(|s| s.values.get(i).copied().flatten()).fold((0.0, 0.0), |(p, q), v| if v >= 0.0 { (p + v, q) } else { (p, q + v) });
        hi = hi.max(pos);
        lo = lo.min(neg);
    }
    if hi <= lo {
        hi = lo + 1.0;
    }
    let ticks = nice_ticks(lo, hi);
    let (lo, hi) = (lo.min(ticks.first().copied().unwrap_or(lo)), hi.max(ticks.last().copied().unwrap_or(hi)));
    let y = |v: f64| top + plot_h * (1.0 - (v - lo) / (hi - lo));
    let slot = plot_w / n as f64;
    let x = |i: usize| left + slot * (i as f64 + 0.5);
    let mut body = String::new();
    y_axis(&mut body, &ticks, &y, left, left + plot_w, figure);
    for i in 0..n {
        let (mut up, mut down) = (0.0, 0.0);
        for (k, s) in series.iter().enumerate() {
            let Some(v) = s.values.get(i).copied().flatten().filter(|v| v.is_finite() && *v != 0.0) else { continue };
            let (from, to) = if v >= 0.0 {
                up += v;
                (up - v, up)
            } else {
                down += v;
                (down - v, down)
            };
            let (y0, y1) = (y(from.max(to)), y(from.min(to)));
            let colour = PALETTE[k % PALETTE.len()];
            let _ = write!(
                body,
                r#"<rect x="{:.1}" y="{y0:.1}" width="{:.1}" height="{:.1}" fill="{colour}"><title>{} {}: {} {}</title></rect>"#,
                x(i) - slot * 0.34,
                slot * 0.68,
                (y1 - y0).max(0.5),
                esc(periods.get(i).map_or("", String::as_str)),
                esc(&s.label),
                figure.show(v),
                esc(unit)
            );
        }
    }
    let _ = write!(body, r##"<line x1="{left}" x2="{:.1}" y1="{z:.1}" y2="{z:.1}" stroke="#495057"/>"##, left + plot_w, z = y(0.0));
    month_axis(&mut body, periods, &x, top + plot_h + 14.0, (left, left + plot_w), font);
    let mut foot = String::new();
    let legend_h = if series.len() > 1 {
        let items: Vec<(&str, &str)> = series.iter().enumerate().map(|(k, s)| (s.label.as_str(), PALETTE[k % PALETTE.len()])).collect();
        legend(&mut foot, &items, left, top + plot_h + 36.0, width - left, font)
    } else {
        0.0
    };
    let height = top + plot_h + 24.0 + legend_h + 4.0;
    let mut s = open(kind, &format!("{title} ({unit})"), width, height, font as u32);
    text(&mut s, 4.0, 11.0, "start", "#495057", &format!("{title} · {unit}"));
    s.push_str(&body);
    s.push_str(&foot);
    s.push_str("</svg>");
    s
}

/// One 100 % bar: the parts of a whole (the sub-meters of a boundary flow).
pub struct ShareBar {
    pub label: String,
    /// (part, share of the whole 0..1); what they leave is drawn as "not sub-metered".
    pub parts: Vec<(String, f64)>,
}

/// Horizontal 100 % bars, a segment per part with its share written inside where it fits, and
/// under each bar its parts named with their shares (a legend that wraps).
pub fn share_bars(kind: &str, title: &str, bars: &[ShareBar], width: f64) -> String {
    let font = 11.0;
    let label_w = bars.iter().map(|b| text_width(&b.label, font)).fold(60.0, f64::max) + 8.0;
    let bar_h = 22.0;
    let plot_w = width - label_w - 10.0;
    let mut body = String::new();
    let mut y = 20.0;
    for b in bars {
        text(&mut body, label_w - 6.0, y + 14.0, "end", "#212529", &b.label);
        let mut at = 0.0_f64;
        let mut named: Vec<(String, &str)> = Vec::new();
        let rest = (1.0 - b.parts.iter().map(|p| p.1.max(0.0)).sum::<f64>()).max(0.0);
        for (k, (part, share)) in b.parts.iter().enumerate().chain(std::iter::once((usize::MAX, &("not sub-metered".to_owned(), rest)))) {
            let share = share.max(0.0).min(1.0 - at.min(1.0));
            if share <= 0.0 {
                continue;
            }
            let colour = if k == usize::MAX { "#e9ecef" } else { PALETTE[k % PALETTE.len()] };
            let (x0, w) = (label_w + plot_w * at, plot_w * share);
            let shown = Figure::Share.show(share);
            let _ = write!(body, r#"<rect x="{x0:.1}" y="{:.1}" width="{w:.1}" height="{}" fill="{colour}"><title>{}: {}</title></rect>"#, y + 3.0, bar_h - 6.0, esc(part), shown);
            // Light palette colours (orange, sky blue, yellow) and the grey rest take dark ink.
            let ink = if k == usize::MAX || k % PALETTE.len() == 1 || k % PALETTE.len() == 4 || k % PALETTE.len() == 6 { "#212529" } else { "#ffffff" };
            if text_width(&shown, font) + 6.0 <= w {
                text(&mut body, x0 + 3.0, y + 15.0, "start", ink, &shown);
            }
            if k != usize::MAX {
                named.push((format!("{part} {shown}"), colour));
            }
            at += share;
        }
        let items: Vec<(&str, &str)> = named.iter().map(|(l, c)| (l.as_str(), *c)).collect();
        let legend_h = legend(&mut body, &items, label_w, y + bar_h + LINE * font - 2.0, plot_w, font);
        y += bar_h + legend_h + 2.0;
    }
    let height = y + 4.0;
    let mut s = open(kind, title, width, height, font as u32);
    text(&mut s, 4.0, 12.0, "start", "#495057", title);
    s.push_str(&body);
    s.push_str("</svg>");
    s
}

/// One month of a coverage strip.
pub struct Coverage {
    pub period: String,
    /// Covered share of the boundary counter-hours; None: no boundary counter at all.
    pub coverage: Option<f64>,
    /// What the hover text says (gaps, excluded hours, silent meters).
    pub note: String,
}

/// A strip of months, shaded by coverage: full months pale, gaps darker, months without data
/// crossed, each with its percentage.
pub fn coverage_strip(months: &[Coverage], width: f64) -> String {
    let font = 10.0;
    let (left, top, cell_h) = (4.0, 18.0, 26.0);
    let n = months.len().max(1);
    let cell_w = (width - left - 4.0) / n as f64;
    let mut s = open("coverage", "data coverage per month (boundary counter-hours covered)", width, top + cell_h + 18.0, font as u32);
    text(&mut s, left, 11.0, "start", "#495057", "data coverage per month · % of boundary counter-hours");
    for (i, m) in months.iter().enumerate() {
        let x0 = left + cell_w * i as f64;
        let (fill, label, ink) = match m.coverage {
            None => ("#ffffff", "none".to_owned(), "#212529"),
            Some(c) if c >= 0.995 => ("#cfe8f7", Figure::Share.show(c).trim_end_matches(" %").to_owned(), "#212529"),
            Some(c) if c >= 0.9 => ("#56B4E9", Figure::Share.show(c).trim_end_matches(" %").to_owned(), "#212529"),
            Some(c) if c > 0.0 => ("#0072B2", Figure::Share.show(c).trim_end_matches(" %").to_owned(), "#ffffff"),
            Some(_) => ("#000000", "0".to_owned(), "#ffffff"),
        };
        let _ = write!(s, r##"<rect x="{x0:.1}" y="{top}" width="{:.1}" height="{cell_h}" fill="{fill}" stroke="#ffffff"><title>{} · {}</title></rect>"##, cell_w, esc(&m.period), esc(&m.note));
        if m.coverage.is_none() {
            let _ = write!(s, r##"<line x1="{x0:.1}" y1="{top}" x2="{:.1}" y2="{:.1}" stroke="#999999"/>"##, x0 + cell_w, top + cell_h);
        }
        let shown = if text_width(&label, font) + 2.0 <= cell_w { label } else { String::new() };
        text(&mut s, x0 + cell_w / 2.0, top + 17.0, "middle", ink, &shown);
    }
    let periods: Vec<String> = months.iter().map(|m| m.period.clone()).collect();
    month_axis(&mut s, &periods, &|i| left + cell_w * (i as f64 + 0.5), top + cell_h + 13.0, (left, width - 2.0), font);
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
        let svg = trend("t", &["2026-01".into()], &[Line { label: "x\"y".into(), values: vec![Some(1.0)] }], &[], "m3/t", 400.0);
        assert!(svg.contains("x&quot;y"));
    }

    #[test]
    fn close_labels_are_staggered_and_spread() {
        // Four markers within a few pixels: each gets a row of its own.
        let rows = stagger(&[(100.0, 80.0), (104.0, 80.0), (108.0, 80.0), (300.0, 40.0)], 4.0);
        assert_eq!(rows, vec![0, 1, 2, 0]);
        let ys = spread(&[50.0, 51.0, 52.0, 120.0], 14.0, 10.0, 200.0);
        assert!(ys.windows(2).take(2).all(|w| w[1] - w[0] >= 14.0 - 1e-9), "{ys:?}");
        assert_eq!(ys[3], 120.0);
        // Pushed past the bottom: pulled back up, still apart.
        let ys = spread(&[195.0, 196.0, 197.0], 14.0, 10.0, 200.0);
        assert!(ys.iter().all(|y| *y <= 200.0) && ys[1] - ys[0] >= 14.0 - 1e-9, "{ys:?}");
    }

    #[test]
    fn markers_that_would_overlap_take_rows_of_their_own() {
        let bars = [Bar { label: "a".into(), value: 100.0, highlight: false }];
        let m = |l: &str, v: f64| Marker { label: l.into(), value: v, colour: "#000" };
        let svg = ranked_bars(&bars, &[m("先进值 advanced", 80.0), m("标杆 benchmark", 81.0), m("基准 baseline", 82.0), m("组标杆 group", 80.5)], "kgce/t");
        let ys: std::collections::BTreeSet<&str> = svg.split("<text x=").skip(1).filter(|t| t.contains("fill=\"#000\"")).filter_map(|t| t.split("y=\"").nth(1)?.split('"').next()).collect();
        assert_eq!(ys.len(), 4, "each marker label on its own row: {svg}");
        assert_eq!(svg.matches("stroke-dasharray").count(), 4);
    }
}
