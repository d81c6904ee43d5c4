//! The group report for programme officers (`report.html`): per product group and programme the
//! ranked chart, the ranking with every failed gate, the candidates' trend, and the method with
//! the sources of every coefficient. Also the page shell, style and table reading the other
//! pages share. Labels are in Chinese and English; no network, no script needed.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use polars::prelude::*;

use super::figures::{with_unit, Figure};
use super::inputs::RunInputs;
use super::svg::{esc, ranked_bars, trend, Bar, Line, Marker};
use crate::accounts::Tables;
use crate::leaders::{Assessment, GroupResult, GroupRules, ProgrammeRules};
use crate::reference::Reference;

/// Everything the report shows.
pub struct ReportInput<'a> {
    /// The selection window, e.g. `2026-01-01..2027-01-01`.
    pub window: String,
    /// The time zone the months are counted in, as a reader says it.
    pub zone: String,
    pub results: &'a [GroupResult],
    pub rules: &'a [GroupRules],
    pub reference: &'a Reference,
    /// The account tables per month.
    pub monthly: &'a Tables,
    /// The account tables over the whole window.
    pub window_tables: &'a Tables,
    pub inputs: &'a RunInputs,
}

/// A table read row by row as text (numbers unrounded, rounded only when shown).
pub(super) struct Rows {
    columns: Vec<String>,
    pub(super) cells: Vec<Vec<String>>,
}

impl Rows {
    pub(super) fn of(df: &DataFrame) -> PolarsResult<Rows> {
        let columns: Vec<String> = df.get_column_names().iter().map(|c| c.to_string()).collect();
        let mut cols = Vec::with_capacity(columns.len());
        for c in df.columns() {
            cols.push(match c.dtype() {
                DataType::Float64 => c.f64()?.iter().map(|v| v.map_or(String::new(), |x| x.to_string())).collect::<Vec<_>>(),
                _ => c.cast(&DataType::String)?.str()?.iter().map(|v| v.unwrap_or("").to_owned()).collect(),
            });
        }
        let cells = (0..df.height()).map(|r| cols.iter().map(|c| c[r].clone()).collect()).collect();
        Ok(Rows { columns, cells })
    }

    pub(super) fn get<'a>(&self, row: &'a [String], column: &str) -> &'a str {
        self.columns.iter().position(|c| c == column).and_then(|i| row.get(i)).map_or("", String::as_str)
    }

    pub(super) fn number(&self, row: &[String], column: &str) -> Option<f64> {
        self.get(row, column).parse::<f64>().ok().filter(|v| v.is_finite())
    }

    pub(super) fn of_enterprise<'a>(&'a self, enterprise: &'a str) -> impl Iterator<Item = &'a Vec<String>> + 'a {
        self.cells.iter().filter(move |r| self.get(r, "enterprise") == enterprise)
    }

    /// The cell as the report shows it: numbers rounded by their column's kind.
    pub(super) fn shown(&self, row: &[String], column: &str) -> String {
        let text = self.get(row, column);
        match (Figure::of_column(column), text.parse::<f64>()) {
            (Some(f), Ok(v)) if v.is_finite() => f.show(v),
            _ => text.to_owned(),
        }
    }
}

/// The style of every page: screen, and print on A4 with a page per enterprise and grey charts.
pub(super) const STYLE: &str = "body{font-family:'Noto Sans CJK SC','Noto Sans SC',sans-serif;margin:1.5em auto;max-width:1040px;color:#212529;padding:0 1em}\
h1,h2,h3{font-weight:600}h1{font-size:1.5em}h2{font-size:1.25em;margin:.9em 0 .3em}h3{font-size:1.05em;margin:.8em 0 .3em}\
table{border-collapse:collapse;margin:.4em 0 1.2em;font-size:13px}th,td{border:1px solid #dee2e6;padding:3px 7px;text-align:left;vertical-align:top}\
th{background:#f1f3f5}td.n{text-align:right;white-space:nowrap}tr.cand td{background:#fff4e6}.muted{color:#6c757d}.note{background:#f8f9fa;padding:.5em 1em}\
.bad{color:#b02a00}.charts{display:grid;grid-template-columns:1fr 1fr;gap:6px 14px}.charts svg{width:100%;height:auto}.charts .wide{grid-column:1/3}\
th[data-k]{cursor:pointer}th[data-sort=asc]::after{content:' \\25B2'}th[data-sort=desc]::after{content:' \\25BC'}ul.tight{margin:.2em 0;padding-left:1.3em}\
nav{font-size:13px;margin-bottom:.5em}\
@page{size:A4;margin:11mm}\
@media print{body{margin:0;max-width:none;font-size:10.5px;padding:0}nav,.noprint{display:none}section.enterprise{break-before:page}\
table{font-size:9.5px;margin:.2em 0 .6em}th,td{padding:1px 4px}h1{font-size:15px;margin:0 0 .2em}h2{font-size:13px;margin:.4em 0 .2em}h3{font-size:11.5px;margin:.4em 0 .2em}\
svg.chart{filter:grayscale(1)}.charts{gap:0 10px}ul.tight{margin:0}section.enterprise h1{margin-top:0}a{color:inherit;text-decoration:none}.detail{break-before:page}p{margin:.25em 0}tr,svg{break-inside:avoid}}";

/// An HTML page; `script` is inline (the page reads fine without it).
pub(super) fn page(title: &str, body: &str, script: &str) -> String {
    let script = if script.is_empty() { String::new() } else { format!("<script>{script}</script>") };
    format!("<!DOCTYPE html>\n<html lang=\"zh-CN\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width\"><title>{}</title><style>{STYLE}</style></head><body>\n{body}{script}</body></html>\n", esc(title))
}

pub(super) fn rules_of<'a>(rules: &'a [GroupRules], r: &GroupResult) -> Option<&'a ProgrammeRules> {
    rules.iter().find(|g| g.product_group == r.product_group).and_then(|g| g.programme.iter().find(|p| p.programme == r.programme))
}

pub(super) fn programme_label(r: &GroupResult) -> &'static str {
    match r.programme {
        crate::leaders::Programme::Energy => "能效领跑者 · Energy-efficiency leaders",
        crate::leaders::Programme::Water => "水效领跑者 · Water-efficiency leaders",
    }
}

/// "CANDIDATE", "eligible", or "excluded: every failed gate".
pub(super) fn result_text(a: &Assessment) -> String {
    if a.selected {
        format!("候选 CANDIDATE{}", if a.tied_at_cut { " (并列 tied at the cut)" } else { "" })
    } else if a.eligible() {
        "合格 eligible".to_owned()
    } else {
        format!("不合格 excluded: {}", a.failed.join("; "))
    }
}

/// The reference levels of a programme, coloured and labelled alike on every chart.
pub(super) fn levels(rule: &ProgrammeRules, r: &GroupResult) -> Vec<Marker> {
    [("先进值 advanced", rule.advanced_value, "#009E73"), ("标杆 benchmark", rule.benchmark, "#0072B2"), ("基准 baseline", rule.baseline, "#D55E00"), ("组标杆 group", r.group_benchmark, "#CC79A7")]
        .into_iter()
        .filter_map(|(label, v, colour)| v.map(|value| Marker { label: label.into(), value, colour }))
        .collect()
}

/// The link from a page in `prefix` to an enterprise's page.
pub(super) fn enterprise_link(prefix: &str, enterprise: &str, name: &str) -> String {
    format!("<a href=\"{prefix}enterprises/{}.html\">{}</a>", esc(enterprise), esc(name))
}

/// The programme officers' report.
pub fn report(input: &ReportInput) -> PolarsResult<String> {
    let monthly = Rows::of(&input.monthly.accounts)?;
    let names: BTreeMap<String, String> = input.reference.enterprises.iter().map(|(k, e)| (k.to_string(), e.name.clone())).collect();
    let mut b = String::from("<nav><a href=\"index.html\">总览 Overview</a> · <a href=\"print.html\">打印版 Print version</a> · <a href=\"leaders.xlsx\">leaders.xlsx</a></nav>");
    let _ = write!(
        b,
        "<h1>能效水效领跑者候选名单<br>Leader candidates</h1><p>统计期 Window: <b>{}</b>, months in {} · {} 个产品组 product group(s)</p>",
        esc(&input.window),
        esc(&input.zone),
        input.rules.len()
    );
    for r in input.results {
        let Some(rule) = rules_of(input.rules, r) else { continue };
        let col = rule.indicator.column();
        let f = Figure::Intensity;
        let _ = write!(b, "<h2>{} — {}</h2>", esc(programme_label(r)), esc(&r.product_group));
        let _ = write!(
            b,
            "<p>指标 Indicator: <b>{col}</b> ({unit}), {dir}. 企业 Enterprises {n}, 有指标 with a value {wv}, 合格 eligible {el}, 入选 selected <b>{sel}</b>.<br>\
             组中位数 Group median {med} · 组标杆 Group benchmark (best {share}) {gb} · 候选水平 Candidates' level {lvl} · \
             节约潜力 Savings if all reached it: <b>{sav}</b>{co2}</p>",
            unit = esc(&rule.unit),
            dir = if rule.better == crate::leaders::rules::Better::Lower { "lower is better / 越低越好" } else { "higher is better / 越高越好" },
            n = r.enterprises,
            wv = r.with_value,
            el = r.eligible,
            sel = r.selected,
            med = esc(&with_unit(r.median, f, &rule.unit)),
            share = Figure::Share.show(rule.selection.benchmark_share),
            gb = esc(&with_unit(r.group_benchmark, f, &rule.unit)),
            lvl = esc(&with_unit(r.level, f, &rule.unit)),
            sav = esc(&with_unit(Some(r.savings), Figure::Physical, r.savings_unit)),
            co2 = if r.savings_co2_t > 0.0 { format!(", {}", with_unit(Some(r.savings_co2_t), Figure::Co2T, "tCO2")) } else { String::new() }
        );
        if !r.note.is_empty() {
            let _ = write!(b, "<p class=\"note\">{}</p>", esc(&r.note));
        }
        let mut ranked: Vec<_> = r.assessments.iter().filter(|a| a.value.is_some()).collect();
        ranked.sort_by(|x, y| rule.better.order(x.value.unwrap_or(0.0), y.value.unwrap_or(0.0)));
        let bars: Vec<Bar> = ranked.iter().map(|a| Bar { label: a.name.clone(), value: a.value.unwrap_or(0.0), highlight: a.selected }).collect();
        b.push_str(&ranked_bars(&bars, &levels(rule, r), &rule.unit));

        let _ = write!(b, "<h3>排名与资格 Ranking and eligibility</h3><table><tr><th>名次<br>Rank</th><th>企业 Enterprise</th><th>指标<br>Value ({u})</th><th>百分位<br>Percentile</th><th>距先进值<br>vs advanced</th><th>距组标杆<br>vs group</th><th>对标 Sector level</th><th>结果 Result</th></tr>", u = esc(&rule.unit));
        for a in &r.assessments {
            let result = if a.selected { format!("<b>{}</b>", esc(&result_text(a))) } else { esc(&result_text(a)) };
            let _ = write!(
                b,
                "<tr{}><td class=n>{}</td><td>{}<br><span class=muted>{}</span></td><td class=n>{}</td><td class=n>{}</td><td class=n>{}</td><td class=n>{}</td><td>{}</td><td>{}</td></tr>",
                if a.selected { " class=cand" } else { "" },
                a.rank.map_or("-".into(), |r| r.to_string()),
                enterprise_link("", &a.enterprise, &a.name),
                esc(&a.enterprise),
                a.value.map_or("-".into(), |v| f.show(v)),
                a.percentile.map_or("-".into(), |p| Figure::Share.show(p / 100.0)),
                a.margin_to_advanced.map_or("-".into(), |m| Figure::Share.show(m)),
                a.margin_to_group_benchmark.map_or("-".into(), |m| Figure::Share.show(m)),
                a.placement.map_or("-", |p| p.label()),
                result
            );
        }
        b.push_str("</table>");

        // Monthly trend of each candidate.
        let candidates: Vec<_> = r.assessments.iter().filter(|a| a.selected).collect();
        if !candidates.is_empty() {
            let mut periods: Vec<String> = monthly.cells.iter().map(|row| monthly.get(row, "period").to_owned()).collect();
            periods.sort();
            periods.dedup();
            let lines: Vec<Line> = candidates
                .iter()
                .map(|a| {
                    let by_period: BTreeMap<&str, Option<f64>> = monthly.of_enterprise(&a.enterprise).map(|row| (monthly.get(row, "period"), monthly.number(row, col))).collect();
                    Line { label: names.get(&a.enterprise).cloned().unwrap_or_else(|| a.enterprise.clone()), values: periods.iter().map(|p| by_period.get(p.as_str()).copied().flatten()).collect() }
                })
                .collect();
            let _ = write!(b, "<h3>候选企业月度趋势 Monthly trend of the candidates</h3>{}", trend("candidates-trend", &periods, &lines, &levels(rule, r), &rule.unit, 720.0));
        }
        let _ = write!(b, "<p class=muted>来源 Source: {}{}</p>", esc(&rule.source), if rule.check { " [待核实 check]" } else { "" });
    }
    b.push_str(&method(input));
    b.push_str(&super::overview::inputs_foot(input));
    Ok(page("Leader candidates · 领跑者候选名单", &b, ""))
}

/// The coefficients with their sources, one row each: (what, value with unit, source).
pub fn coefficient_rows(reference: &Reference) -> Vec<(String, String, String)> {
    let c = &reference.coefficients;
    let mark = |check: bool| if check { " [check]" } else { "" };
    let mut out = Vec::new();
    for r in &c.energy {
        out.push((format!("{} ({})", r.medium, r.method.map_or("", |m| m.as_str())), format!("{} kgce/{}", r.kgce_per_unit, r.unit), format!("{}{}", r.source, mark(r.check))));
    }
    for r in &c.grid {
        out.push((format!("grid {} {}", r.year, r.region), format!("{} kgCO2/kWh", r.kg_co2_per_kwh), format!("{}{}", r.source, mark(r.check))));
    }
    for (what, rows) in [("", &c.fuel), ("purchased/exported ", &c.heat), ("memo, not in the total: ", &c.biomass)] {
        for r in rows {
            out.push((format!("{what}{}", r.medium), format!("{} kgCO2/{}", r.kg_co2_per_unit, r.unit), format!("{}{}", r.source, mark(r.check))));
        }
    }
    for r in &c.grid_non_fossil {
        out.push((format!("grid non-fossil share {}", r.year), r.share.to_string(), format!("{}{}", r.source, mark(r.check))));
    }
    let p = &reference.process_factors;
    for g in &p.groups {
        out.push((format!("process CO2, {}", g.product_group), format!("{} method", g.method.as_str()), format!("{}{}", g.source, mark(g.check))));
    }
    if let Some(k) = &p.clinker {
        out.push(("clinker CaO / MgO".into(), format!("{} / {} tCO2/t", k.t_co2_per_t_cao, k.t_co2_per_t_mgo), format!("{}{}", k.source, mark(k.check))));
        out.push(("clinker default".into(), format!("{} tCO2/t", k.default_t_co2_per_t_clinker), format!("{}{}", k.default_source, mark(k.check))));
    }
    for r in &p.carbonates {
        out.push((r.material.as_str().to_owned(), format!("{} tCO2/t", r.t_co2_per_t), format!("{}{}", r.source, mark(r.check))));
    }
    out
}

/// The method and the sources of every coefficient, so a reader can recompute any figure.
fn method(input: &ReportInput) -> String {
    let mut b = String::from(
        "<h2>方法与来源 Method and sources</h2><p>Consumption comes from boundary meters' cumulative counters, interpolated at \
         period boundaries; rollovers are counted through, resets and implausible deltas are excluded and reported; \
         comprehensive energy consumption converts each medium to coal equivalent (GB/T 2589-2020); CO2 is split by \
         emission line (docs/carbon.md): fuel combustion, process emissions from the reference activity data, purchased \
         electricity and heat, less exports; biomass CO2 is shown apart and not in the total. Eligibility gates, ranking (ties share a rank and all tied at \
         the cut are selected), the group benchmark (mean of the best share, EU ETS style) and savings are described in \
         docs/leaders.md; the accounts in docs/accounts.md; this report in docs/report.md.</p><table><tr><th>Coefficient</th><th>Value</th><th>Source</th></tr>",
    );
    for (what, value, source) in coefficient_rows(input.reference) {
        let _ = write!(b, "<tr><td>{}</td><td class=n>{}</td><td>{}</td></tr>", esc(&what), esc(&value), esc(&source));
    }
    b.push_str("</table>");
    let _ = write!(b, "<p class=muted>Window {}; tables: leaders_enterprises, leaders_groups, window_* and monthly_* (CSV, Parquet, and every one in leaders.xlsx).</p>", esc(&input.window));
    b
}
