//! The self-contained HTML report for programme officers (one file, no script, no network), and
//! the one-page summary per enterprise that a metering centre sends back to the SME. Labels are
//! in Chinese and English.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use polars::prelude::*;

use super::svg::{esc, num, ranked_bars, trend, Bar, Line, Marker};
use crate::leaders::{GroupResult, GroupRules, ProgrammeRules};
use crate::reference::Reference;

/// Everything the report shows.
pub struct ReportInput<'a> {
    /// The selection window, e.g. `2026-01-01..2027-01-01`.
    pub window: String,
    pub results: &'a [GroupResult],
    pub rules: &'a [GroupRules],
    pub reference: &'a Reference,
    pub monthly_accounts: &'a DataFrame,
    pub window_accounts: &'a DataFrame,
    pub window_quality: &'a DataFrame,
    pub window_findings: &'a DataFrame,
    pub window_exclusions: &'a DataFrame,
}

/// A table read row by row as text.
struct Rows {
    columns: Vec<String>,
    cells: Vec<Vec<String>>,
}

impl Rows {
    fn of(df: &DataFrame) -> PolarsResult<Rows> {
        let columns: Vec<String> = df.get_column_names().iter().map(|c| c.to_string()).collect();
        let mut cols = Vec::with_capacity(columns.len());
        for c in df.columns() {
            cols.push(match c.dtype() {
                DataType::Float64 => c.f64()?.iter().map(|v| v.map_or(String::new(), |x| num(x, 4))).collect::<Vec<_>>(),
                _ => c.cast(&DataType::String)?.str()?.iter().map(|v| v.unwrap_or("").to_owned()).collect(),
            });
        }
        let cells = (0..df.height()).map(|r| cols.iter().map(|c| c[r].clone()).collect()).collect();
        Ok(Rows { columns, cells })
    }

    fn get<'a>(&self, row: &'a [String], column: &str) -> &'a str {
        self.columns.iter().position(|c| c == column).and_then(|i| row.get(i)).map_or("", String::as_str)
    }

    fn of_enterprise<'a>(&'a self, enterprise: &'a str) -> impl Iterator<Item = &'a Vec<String>> + 'a {
        self.cells.iter().filter(move |r| self.get(r, "enterprise") == enterprise)
    }
}

const STYLE: &str = "body{font-family:sans-serif;margin:2em auto;max-width:1000px;color:#212529}h1,h2,h3{font-weight:600}\
table{border-collapse:collapse;margin:.5em 0 1.5em;font-size:13px}th,td{border:1px solid #dee2e6;padding:3px 8px;text-align:left}\
th{background:#f1f3f5}td.n{text-align:right}tr.cand td{background:#fff4e6}.muted{color:#868e96}.note{background:#f8f9fa;padding:.5em 1em}";

fn page(title: &str, body: &str) -> String {
    format!("<!DOCTYPE html>\n<html lang=\"zh-CN\"><head><meta charset=\"utf-8\"><title>{}</title><style>{STYLE}</style></head><body>\n{body}</body></html>\n", esc(title))
}

fn rules_of<'a>(rules: &'a [GroupRules], r: &GroupResult) -> Option<&'a ProgrammeRules> {
    rules.iter().find(|g| g.product_group == r.product_group).and_then(|g| g.programme.iter().find(|p| p.programme == r.programme))
}

fn programme_label(r: &GroupResult) -> &'static str {
    match r.programme {
        crate::leaders::Programme::Energy => "能效领跑者 · Energy-efficiency leaders",
        crate::leaders::Programme::Water => "水效领跑者 · Water-efficiency leaders",
    }
}

fn opt(v: Option<f64>, d: usize) -> String {
    v.map_or("-".into(), |v| num(v, d))
}

/// The programme officers' report.
pub fn report(input: &ReportInput) -> PolarsResult<String> {
    let monthly = Rows::of(input.monthly_accounts)?;
    let names: BTreeMap<String, String> = input.reference.enterprises.iter().map(|(k, e)| (k.to_string(), e.name.clone())).collect();
    let mut b = String::new();
    let _ = write!(
        b,
        "<h1>能效水效领跑者候选名单<br>Leader candidates</h1><p>统计期 Window: <b>{}</b> · {} 个产品组 product group(s)</p>",
        esc(&input.window),
        input.rules.len()
    );
    for r in input.results {
        let Some(rule) = rules_of(input.rules, r) else { continue };
        let col = rule.indicator.column();
        let _ = write!(b, "<h2>{} — {}</h2>", esc(programme_label(r)), esc(&r.product_group));
        let _ = write!(
            b,
            "<p>指标 Indicator: <b>{col}</b> ({unit}), {dir}. 企业 Enterprises {n}, 有指标 with a value {wv}, 合格 eligible {el}, 入选 selected <b>{sel}</b>.<br>\
             组中位数 Group median {med} · 组标杆 Group benchmark (best {share}%) {gb} · 候选水平 Candidates' level {lvl} · \
             节约潜力 Savings if all reached it: <b>{sav} {su}</b>{co2}</p>",
            unit = esc(&rule.unit),
            dir = if rule.better == crate::leaders::rules::Better::Lower { "lower is better / 越低越好" } else { "higher is better / 越高越好" },
            n = r.enterprises,
            wv = r.with_value,
            el = r.eligible,
            sel = r.selected,
            med = opt(r.median, 3),
            share = num(100.0 * rule.selection.benchmark_share, 1),
            gb = opt(r.group_benchmark, 3),
            lvl = opt(r.level, 3),
            sav = num(r.savings, 1),
            su = r.savings_unit,
            co2 = if r.savings_co2_t > 0.0 { format!(", {} tCO2", num(r.savings_co2_t, 1)) } else { String::new() }
        );
        if !r.note.is_empty() {
            let _ = write!(b, "<p class=\"note\">{}</p>", esc(&r.note));
        }
        let mut ranked: Vec<_> = r.assessments.iter().filter(|a| a.value.is_some()).collect();
        ranked.sort_by(|x, y| rule.better.order(x.value.unwrap_or(0.0), y.value.unwrap_or(0.0)));
        let bars: Vec<Bar> = ranked.iter().map(|a| Bar { label: a.name.clone(), value: a.value.unwrap_or(0.0), highlight: a.selected }).collect();
        let mut markers = Vec::new();
        for (label, v, colour) in [("先进值 advanced", rule.advanced_value, "#2f9e44"), ("标杆 benchmark", rule.benchmark, "#1971c2"), ("基准 baseline", rule.baseline, "#e03131"), ("组标杆 group", r.group_benchmark, "#9c36b5")] {
            if let Some(v) = v {
                markers.push(Marker { label: label.into(), value: v, colour });
            }
        }
        b.push_str(&ranked_bars(&bars, &markers, &rule.unit));

        b.push_str("<h3>排名与资格 Ranking and eligibility</h3><table><tr><th>名次<br>Rank</th><th>企业 Enterprise</th><th>指标<br>Value</th><th>百分位<br>Percentile</th><th>距先进值<br>vs advanced</th><th>距组标杆<br>vs group</th><th>对标 Sector level</th><th>结果 Result</th></tr>");
        for a in &r.assessments {
            let result = if a.selected {
                format!("<b>候选 CANDIDATE</b>{}", if a.tied_at_cut { " (并列 tied at the cut)" } else { "" })
            } else if a.eligible() {
                "合格 eligible".to_owned()
            } else {
                format!("不合格 excluded: {}", esc(&a.failed.join("; ")))
            };
            let _ = write!(
                b,
                "<tr{}><td class=n>{}</td><td>{}<br><span class=muted>{}</span></td><td class=n>{}</td><td class=n>{}</td><td class=n>{}</td><td class=n>{}</td><td>{}</td><td>{}</td></tr>",
                if a.selected { " class=cand" } else { "" },
                a.rank.map_or("-".into(), |r| r.to_string()),
                esc(&a.name),
                esc(&a.enterprise),
                opt(a.value, 3),
                a.percentile.map_or("-".into(), |p| format!("{}%", num(p, 1))),
                a.margin_to_advanced.map_or("-".into(), |m| format!("{}%", num(100.0 * m, 1))),
                a.margin_to_group_benchmark.map_or("-".into(), |m| format!("{}%", num(100.0 * m, 1))),
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
                    let by_period: BTreeMap<&str, Option<f64>> = monthly.of_enterprise(&a.enterprise).map(|row| (monthly.get(row, "period"), monthly.get(row, col).parse().ok())).collect();
                    Line { label: names.get(&a.enterprise).cloned().unwrap_or_else(|| a.enterprise.clone()), values: periods.iter().map(|p| by_period.get(p.as_str()).copied().flatten()).collect() }
                })
                .collect();
            let _ = write!(b, "<h3>候选企业月度趋势 Monthly trend of the candidates</h3>{}", trend(&periods, &lines, &rule.unit));
        }
        let _ = write!(b, "<p class=muted>来源 Source: {}{}</p>", esc(&rule.source), if rule.check { " [待核实 check]" } else { "" });
    }
    b.push_str(&method(input));
    Ok(page("Leader candidates · 领跑者候选名单", &b))
}

/// The method and the sources of every coefficient, so a reader can recompute any figure.
fn method(input: &ReportInput) -> String {
    let c = &input.reference.coefficients;
    let mut b = String::from(
        "<h2>方法与来源 Method and sources</h2><p>Consumption comes from boundary meters' cumulative counters, interpolated at \
         period boundaries; rollovers are counted through, resets and implausible deltas are excluded and reported; \
         comprehensive energy consumption converts each medium to coal equivalent (GB/T 2589-2020); CO2 is split by \
         emission line (docs/carbon.md): fuel combustion, process emissions from the reference activity data, purchased \
         electricity and heat, less exports; biomass CO2 is shown apart and not in the total. Eligibility gates, ranking (ties share a rank and all tied at \
         the cut are selected), the group benchmark (mean of the best share, EU ETS style) and savings are described in \
         docs/leaders.md; the accounts in docs/accounts.md.</p><table><tr><th>Coefficient</th><th>Value</th><th>Source</th></tr>",
    );
    for r in &c.energy {
        let _ = write!(b, "<tr><td>{} ({})</td><td class=n>{} kgce/{}</td><td>{}{}</td></tr>", r.medium, r.method.map_or("", |m| m.as_str()), r.kgce_per_unit, r.unit, esc(&r.source), if r.check { " [check]" } else { "" });
    }
    for r in &c.grid {
        let _ = write!(b, "<tr><td>grid {} {}</td><td class=n>{} kgCO2/kWh</td><td>{}{}</td></tr>", r.year, r.region, r.kg_co2_per_kwh, esc(&r.source), if r.check { " [check]" } else { "" });
    }
    for (what, rows) in [("", &c.fuel), ("purchased/exported ", &c.heat), ("memo, not in the total: ", &c.biomass)] {
        for r in rows {
            let _ = write!(b, "<tr><td>{what}{}</td><td class=n>{} kgCO2/{}</td><td>{}{}</td></tr>", r.medium, r.kg_co2_per_unit, r.unit, esc(&r.source), if r.check { " [check]" } else { "" });
        }
    }
    for r in &c.grid_non_fossil {
        let _ = write!(b, "<tr><td>grid non-fossil share {}</td><td class=n>{}</td><td>{}{}</td></tr>", r.year, r.share, esc(&r.source), if r.check { " [check]" } else { "" });
    }
    let p = &input.reference.process_factors;
    for g in &p.groups {
        let _ = write!(b, "<tr><td>process CO2, {}</td><td>{} method</td><td>{}{}</td></tr>", esc(&g.product_group), g.method.as_str(), esc(&g.source), if g.check { " [check]" } else { "" });
    }
    if let Some(k) = &p.clinker {
        let mark = if k.check { " [check]" } else { "" };
        let _ = write!(b, "<tr><td>clinker CaO / MgO</td><td class=n>{} / {} tCO2/t</td><td>{}{mark}</td></tr>", k.t_co2_per_t_cao, k.t_co2_per_t_mgo, esc(&k.source));
        let _ = write!(b, "<tr><td>clinker default</td><td class=n>{} tCO2/t</td><td>{}{mark}</td></tr>", k.default_t_co2_per_t_clinker, esc(&k.default_source));
    }
    for r in &p.carbonates {
        let _ = write!(b, "<tr><td>{}</td><td class=n>{} tCO2/t</td><td>{}{}</td></tr>", r.material.as_str(), r.t_co2_per_t, esc(&r.source), if r.check { " [check]" } else { "" });
    }
    b.push_str("</table>");
    let _ = write!(b, "<p class=muted>Window {}; tables: leaders_enterprises, leaders_groups, window_* and monthly_* (CSV, Parquet, XLSX).</p>", esc(&input.window));
    b
}

/// The one-page summary of one enterprise: its accounts, its place in its group, its data gaps.
pub fn enterprise_page(input: &ReportInput, enterprise: &str) -> PolarsResult<String> {
    let name = input.reference.enterprises.iter().find(|(k, _)| k.as_str() == enterprise).map_or(enterprise.to_owned(), |(_, e)| e.name.clone());
    let mut b = String::new();
    let _ = write!(b, "<h1>{}</h1><p>{} · 统计期 Window {}</p>", esc(&name), esc(enterprise), esc(&input.window));

    let table = |b: &mut String, title: &str, df: &DataFrame, columns: &[(&str, &str)]| -> PolarsResult<()> {
        let rows = Rows::of(df)?;
        let _ = write!(b, "<h2>{}</h2><table><tr>", esc(title));
        for (_, heading) in columns {
            let _ = write!(b, "<th>{}</th>", esc(heading));
        }
        b.push_str("</tr>");
        let mut any = false;
        for row in rows.of_enterprise(enterprise) {
            any = true;
            b.push_str("<tr>");
            for (c, _) in columns {
                let _ = write!(b, "<td>{}</td>", esc(rows.get(row, c)));
            }
            b.push_str("</tr>");
        }
        if !any {
            let _ = write!(b, "<tr><td colspan={}>无 none</td></tr>", columns.len());
        }
        b.push_str("</table>");
        Ok(())
    };
    table(
        &mut b,
        "月度账目 Monthly accounts",
        input.monthly_accounts,
        &[("period", "月份 Month"), ("energy_tce", "综合能耗 tce"), ("electricity_net_kwh", "净购电 kWh"), ("water_m3", "取水 m3"), ("co2_t", "CO2 t"), ("production", "产量 Output"), ("kgce_per_unit", "单位产品能耗 kgce/unit"), ("water_m3_per_unit", "单位产品取水 m3/unit")],
    )?;
    // CO2 by emission line (GB/T 32150-2015, docs/carbon.md): empty cells had no counter.
    table(
        &mut b,
        "二氧化碳排放 CO2 by source (t)",
        input.monthly_accounts,
        &[
            ("period", "月份 Month"),
            ("co2_combustion_t", "化石燃料燃烧 Combustion"),
            ("co2_process_t", "过程排放 Process"),
            ("co2_purchased_electricity_t", "购入电力 Purchased electricity"),
            ("co2_purchased_heat_t", "购入热力 Purchased heat"),
            ("co2_exports_t", "输出电力热力 Exports"),
            ("co2_measured_t", "直接监测 Measured"),
            ("co2_t", "合计 Total"),
            ("co2_biomass_memo_t", "生物质(不计入) Biomass memo"),
            ("co2_t_per_unit", "单位产品 t/unit"),
            ("process_months_missing", "缺过程数据 Process data missing"),
        ],
    )?;
    table(
        &mut b,
        "非化石能源 Non-fossil energy",
        input.monthly_accounts,
        &[
            ("period", "月份 Month"),
            ("onsite_generation_kwh", "自发电 On-site generation kWh"),
            ("onsite_self_use_kwh", "自用 Self-use kWh"),
            ("green_kwh_counted", "绿证/绿电 Green kWh"),
            ("energy_use_tce", "能源消费 Energy use tce"),
            ("non_fossil_tce", "非化石 Non-fossil tce"),
            ("non_fossil_share", "占比 Share"),
            ("non_fossil_method", "方法 Method"),
        ],
    )?;

    b.push_str("<h2>组内位置 Place in the group</h2><table><tr><th>项目 Programme</th><th>指标 Value</th><th>名次 Rank</th><th>百分位 Percentile</th><th>对标 Sector level</th><th>结果 Result</th></tr>");
    for r in input.results {
        for a in r.assessments.iter().filter(|a| a.enterprise == enterprise) {
            let result = if a.selected { "候选 candidate".to_owned() } else if a.eligible() { "合格 eligible".to_owned() } else { format!("不合格 excluded: {}", a.failed.join("; ")) };
            let _ = write!(
                b,
                "<tr><td>{}</td><td class=n>{}</td><td class=n>{} / {}</td><td class=n>{}</td><td>{}</td><td>{}</td></tr>",
                esc(programme_label(r)),
                opt(a.value, 3),
                a.rank.map_or("-".into(), |x| x.to_string()),
                r.eligible,
                a.percentile.map_or("-".into(), |p| format!("{}%", num(p, 1))),
                a.placement.map_or("-", |p| p.label()),
                esc(&result)
            );
        }
    }
    b.push_str("</table>");

    table(
        &mut b,
        "数据质量 Data quality",
        input.window_quality,
        &[("coverage", "覆盖率 Coverage"), ("gap_h", "缺口 Gap h"), ("excluded_h", "剔除 Excluded h"), ("meters_past_calibration", "过检定期表计 Meters past calibration"), ("findings", "配置问题 Findings"), ("grade", "等级 Grade")],
    )?;
    table(&mut b, "计量配置问题 Meter-configuration findings", input.window_findings, &[("medium", "介质 Medium"), ("finding", "问题 Finding"), ("source", "依据 Source")])?;
    table(&mut b, "剔除与标记 Flagged and excluded readings", input.window_exclusions, &[("site", "厂区 Site"), ("meter", "表计 Meter"), ("reason", "原因 Reason"), ("count", "次数 Count")])?;
    Ok(page(&format!("{name} · summary"), &b))
}
