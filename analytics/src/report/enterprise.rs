//! One enterprise: the summary that fits one printed A4 page (its result in each programme with
//! every failed gate, how sure the figures are, and the charts: energy in tce and physical units,
//! CO2 by source, intensity against its group, sub-metering, coverage per month), and the page
//! the metering centre sends back (`enterprises/<id>.html`): the summary and the monthly tables.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use polars::prelude::*;

use super::figures::{column_unit, with_unit, Figure};
use super::html::{levels, page, programme_label, result_text, rules_of, ReportInput, Rows};
use super::svg::{coverage_strip, esc, share_bars, stacked_months, trend, Coverage, Line, Series, ShareBar};
use crate::accounts::is_energy;

/// Half the width of an A4 page's text, in the charts' own pixels.
const CHART_W: f64 = 350.0;

/// Emission lines of the accounts, in the order of docs/carbon.md.
const CO2_LINES: [(&str, &str); 6] = [
    ("co2_combustion_t", "燃烧 combustion"),
    ("co2_process_t", "过程 process"),
    ("co2_purchased_electricity_t", "购入电 electricity"),
    ("co2_purchased_heat_t", "购入热 heat"),
    ("co2_exports_t", "输出 exports"),
    ("co2_measured_t", "监测 measured"),
];

fn medium_label(m: &str) -> String {
    m.replace('_', " ")
}

/// The months of the run, in order.
fn periods(monthly: &Rows) -> Vec<String> {
    monthly.cells.iter().map(|r| monthly.get(r, "period").to_owned()).collect::<BTreeSet<_>>().into_iter().collect()
}

/// The summary section of `enterprise`; `prefix` leads back to the report's directory.
pub fn summary(input: &ReportInput, enterprise: &str, prefix: &str) -> PolarsResult<String> {
    let reference = input.reference;
    let ent = reference.enterprises.iter().find(|(k, _)| k.as_str() == enterprise).map(|(_, e)| e);
    let name = ent.map_or(enterprise.to_owned(), |e| e.name.clone());
    let monthly = Rows::of(&input.monthly.accounts)?;
    let media = Rows::of(&input.monthly.media)?;
    let quality = Rows::of(&input.window_tables.quality)?;
    let months = periods(&monthly);
    let mut b = String::new();
    let _ = write!(
        b,
        "<section class=enterprise id=\"e-{id}\"><h1>{name}</h1><p>{id} · {group} · {region} · 统计期 Window <b>{window}</b>, months in {zone} · <a class=noprint href=\"{prefix}index.html\">总览 overview</a></p>",
        id = esc(enterprise),
        name = esc(&name),
        group = esc(ent.map_or("", |e| e.product_group.as_str())),
        region = esc(ent.map_or("", |e| e.region.as_str())),
        window = esc(&input.window),
        zone = esc(&input.zone),
    );

    // The verdict: why a candidate, or every reason it is not.
    b.push_str("<table><tr><th>项目 Programme</th><th>指标 Value</th><th>名次 Rank</th><th>组中位数<br>Group median</th><th>组标杆<br>Group benchmark</th><th>结果 Result</th></tr>");
    for r in input.results {
        let Some(rule) = rules_of(input.rules, r) else { continue };
        for a in r.assessments.iter().filter(|a| a.enterprise == enterprise) {
            let f = Figure::Intensity;
            let result = if a.eligible() {
                esc(&result_text(a))
            } else {
                format!("<b class=bad>不合格 excluded</b><ul class=tight>{}</ul>", a.failed.iter().map(|g| format!("<li>{}</li>", esc(g))).collect::<String>())
            };
            let _ = write!(
                b,
                "<tr{}><td>{}<br><span class=muted>{}</span></td><td class=n>{}</td><td class=n>{} / {}</td><td class=n>{}</td><td class=n>{}</td><td>{}</td></tr>",
                if a.selected { " class=cand" } else { "" },
                esc(programme_label(r)),
                esc(rule.indicator.column()),
                esc(&with_unit(a.value, f, &rule.unit)),
                a.rank.map_or("-".into(), |x| x.to_string()),
                r.eligible,
                esc(&with_unit(r.median, f, &rule.unit)),
                esc(&with_unit(r.group_benchmark, f, &rule.unit)),
                result
            );
        }
    }
    b.push_str("</table>");

    // How sure: grade, coverage, the meters behind every shortfall.
    let q = quality.of_enterprise(enterprise).next();
    let window_row = Rows::of(&input.window_tables.accounts)?;
    let w = window_row.of_enterprise(enterprise).next();
    let _ = write!(
        b,
        "<p>数据质量 Data quality: grade <b>{}</b> · coverage <b>{}</b> of boundary counter-hours · gaps {} · excluded {} · unusable rows {}. \
         Totals: energy <b>{}</b>, water <b>{}</b>, CO2 <b>{}</b>, production {}.</p>",
        esc(q.map_or("-", |q| quality.get(q, "grade"))),
        q.and_then(|q| quality.number(q, "coverage")).map_or("-".into(), |v| Figure::Share.show(v)),
        esc(&with_unit(q.and_then(|q| quality.number(q, "gap_h")), Figure::Hours, "h")),
        esc(&with_unit(q.and_then(|q| quality.number(q, "excluded_h")), Figure::Hours, "h")),
        q.and_then(|q| quality.number(q, "unusable_rows")).map_or("-".into(), |v| Figure::Count.show(v)),
        esc(&with_unit(w.and_then(|w| window_row.number(w, "energy_tce")), Figure::Tce, "tce")),
        esc(&with_unit(w.and_then(|w| window_row.number(w, "water_m3")), Figure::Physical, "m3")),
        esc(&with_unit(w.and_then(|w| window_row.number(w, "co2_t")), Figure::Co2T, "tCO2")),
        esc(&with_unit(w.and_then(|w| window_row.number(w, "production")), Figure::Physical, w.map_or("", |w| window_row.get(w, "product_unit")))),
    );
    let meters = Rows::of(&input.window_tables.meters)?;
    let mut lapsed: Vec<String> = Vec::new();
    for m in meters.of_enterprise(enterprise).filter(|m| meters.get(m, "calibration_expired") == "true" && meters.get(m, "role") == "boundary") {
        let (site, meter) = (meters.get(m, "site"), meters.get(m, "meter"));
        let due = reference.meters.values().find(|i| i.enterprise.as_str() == enterprise && i.site.as_str() == site && i.meter.as_str() == meter).map(|i| i.calibration_due.to_string()).unwrap_or_default();
        let text = format!("{site}/{meter} ({}), due {due}", meters.get(m, "medium"));
        if !lapsed.contains(&text) {
            lapsed.push(text);
        }
    }
    let findings = Rows::of(&input.window_tables.findings)?;
    let found: Vec<_> = findings.of_enterprise(enterprise).collect();
    if !lapsed.is_empty() || !found.is_empty() {
        b.push_str("<ul class=tight>");
        for l in &lapsed {
            let _ = write!(b, "<li>过检定期 Past calibration: <b>{}</b></li>", esc(l));
        }
        for f in found {
            let meter = findings.get(f, "meter");
            let _ = write!(
                b,
                "<li>配置问题 Finding ({}){}: {} <span class=muted>{}</span></li>",
                esc(findings.get(f, "medium")),
                if meter.is_empty() { String::new() } else { format!(", meter <b>{}</b>", esc(meter)) },
                esc(findings.get(f, "finding")),
                esc(findings.get(f, "source"))
            );
        }
        b.push_str("</ul>");
    } else {
        b.push_str("<p class=muted>No meter past calibration, no meter-configuration finding.</p>");
    }

    // Readings left out, per meter: what the coverage does not show.
    let exclusions = Rows::of(&input.window_tables.exclusions)?;
    let mut by_meter: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for x in exclusions.of_enterprise(enterprise) {
        let count = exclusions.number(x, "count").map_or("-".into(), |n| Figure::Count.show(n));
        by_meter.entry(format!("{}/{}", exclusions.get(x, "site"), exclusions.get(x, "meter"))).or_default().push(format!("{} {count}", exclusions.get(x, "reason")));
    }
    if !by_meter.is_empty() {
        let shown: Vec<String> = by_meter.iter().take(4).map(|(m, r)| format!("<b>{}</b> {}", esc(m), esc(&r.join(", ")))).collect();
        let more = if by_meter.len() > 4 { format!(" and {} more meter(s) (table below)", by_meter.len() - 4) } else { String::new() };
        let _ = write!(b, "<p>剔除与标记 Readings flagged or not used: {}{more}.</p>", shown.join(" · "));
    }

    b.push_str("<div class=charts>");
    // Energy by medium, tce and physical units.
    let rows: Vec<_> = media.of_enterprise(enterprise).collect();
    let mut energy_media: Vec<(String, String)> = Vec::new();
    for r in &rows {
        let m = (media.get(r, "medium").to_owned(), media.get(r, "unit").to_owned());
        if !energy_media.contains(&m) && media.number(r, "boundary").is_some() {
            energy_media.push(m);
        }
    }
    let value = |medium: &str, column: &str| -> Vec<Option<f64>> {
        months.iter().map(|p| rows.iter().find(|r| media.get(r, "period") == p && media.get(r, "medium") == medium).and_then(|r| media.number(r, column))).collect()
    };
    let energy: Vec<Series> = energy_media
        .iter()
        .filter(|(m, _)| m.parse::<readings::Medium>().is_ok_and(is_energy))
        .map(|(m, _)| Series { label: medium_label(m), values: value(m, "tce") })
        .collect();
    b.push_str(&stacked_months("energy-tce", "综合能耗 Energy by medium", &months, &energy, "tce", Figure::Tce, CHART_W));
    let co2: Vec<Series> = CO2_LINES
        .iter()
        .map(|(c, label)| Series { label: (*label).to_owned(), values: months.iter().map(|p| monthly.of_enterprise(enterprise).find(|r| monthly.get(r, "period") == p).and_then(|r| monthly.number(r, c))).collect() })
        .filter(|s| s.values.iter().flatten().any(|v| *v != 0.0))
        .collect();
    b.push_str(&stacked_months("co2-by-source", "CO2 by source", &months, &co2, "tCO2", Figure::Co2T, CHART_W));
    for (m, unit) in &energy_media {
        let series = [Series { label: medium_label(m), values: value(m, "boundary") }];
        b.push_str(&stacked_months(&format!("medium-{m}"), &medium_label(m), &months, &series, unit, Figure::Physical, CHART_W));
    }

    // Sub-meters' share of each boundary flow over the window.
    let wmedia = Rows::of(&input.window_tables.media)?;
    let mut bars = Vec::new();
    for row in wmedia.of_enterprise(enterprise) {
        let (medium, Some(boundary)) = (wmedia.get(row, "medium"), wmedia.number(row, "boundary")) else { continue };
        if boundary <= 0.0 {
            continue;
        }
        // Keyed by site and meter: two sites may each have a meter of one name.
        let mut parts: BTreeMap<(String, String), f64> = BTreeMap::new();
        for m in meters.of_enterprise(enterprise).filter(|m| meters.get(m, "medium") == medium && meters.get(m, "role") == "area") {
            *parts.entry((meters.get(m, "site").to_owned(), meters.get(m, "meter").to_owned())).or_default() += meters.number(m, "consumption").unwrap_or(0.0) / boundary;
        }
        let one_site = parts.keys().map(|(site, _)| site).collect::<std::collections::BTreeSet<_>>().len() <= 1;
        let parts = parts.into_iter().map(|((site, meter), share)| (if one_site { meter } else { format!("{site}/{meter}") }, share)).collect();
        bars.push(ShareBar { label: medium_label(medium), parts });
    }
    b.push_str(&share_bars("submeter-share", "分项计量占比 Sub-meters' share of the boundary (window)", &bars, CHART_W));

    // Intensity against the group, per programme.
    for r in input.results.iter().filter(|r| r.assessments.iter().any(|a| a.enterprise == enterprise)) {
        let Some(rule) = rules_of(input.rules, r) else { continue };
        let col = rule.indicator.column();
        let members: Vec<&str> = r.assessments.iter().map(|a| a.enterprise.as_str()).collect();
        let medians = crate::leaders::monthly_medians(&input.monthly.accounts, col, &members)?;
        let own: Vec<Option<f64>> = months.iter().map(|p| monthly.of_enterprise(enterprise).find(|x| monthly.get(x, "period") == p).and_then(|x| monthly.number(x, col))).collect();
        let lines = [Line { label: format!("{} ({col})", short(&name)), values: own }, Line { label: "group median".into(), values: months.iter().map(|p| medians.get(p).copied()).collect() }];
        b.push_str(&trend(&format!("intensity-{}", r.programme.as_str()), &months, &lines, &levels(rule, r), &rule.unit, CHART_W));
    }

    // Coverage per month.
    let mq = Rows::of(&input.monthly.quality)?;
    let strip: Vec<Coverage> = months
        .iter()
        .map(|p| {
            let row = mq.of_enterprise(enterprise).find(|r| mq.get(r, "period") == p);
            let counters = row.and_then(|r| mq.number(r, "boundary_counters")).unwrap_or(0.0);
            Coverage {
                period: p.clone(),
                coverage: row.filter(|_| counters > 0.0).and_then(|r| mq.number(r, "coverage")),
                note: row.map_or("no boundary counter".into(), |r| {
                    format!(
                        "gaps {}, excluded {}, uncovered {}",
                        with_unit(mq.number(r, "gap_h"), Figure::Hours, "h"),
                        with_unit(mq.number(r, "excluded_h"), Figure::Hours, "h"),
                        with_unit(mq.number(r, "uncovered_h"), Figure::Hours, "h")
                    )
                }),
            }
        })
        .collect();
    let _ = write!(b, "<div class=wide>{}</div>", coverage_strip(&strip, 2.0 * CHART_W));
    b.push_str("</div></section>");
    Ok(b)
}

/// A name short enough for a legend.
fn short(name: &str) -> String {
    let chars: Vec<char> = name.chars().collect();
    if chars.len() > 22 {
        format!("{}…", chars[..21].iter().collect::<String>())
    } else {
        name.to_owned()
    }
}

/// A table of the enterprise's rows of `df`, headings with units, numbers rounded by the rules
/// of [`Figure`].
fn table(b: &mut String, title: &str, df: &DataFrame, enterprise: &str, columns: &[(&str, &str)]) -> PolarsResult<()> {
    let rows = Rows::of(df)?;
    let _ = write!(b, "<h3>{}</h3><table><tr>", esc(title));
    for (c, heading) in columns {
        let unit = column_unit(c).filter(|u| !u.starts_with("see ")).map_or(String::new(), |u| format!("<br><span class=muted>{}</span>", esc(u)));
        let _ = write!(b, "<th>{}{unit}</th>", esc(heading));
    }
    b.push_str("</tr>");
    let mut any = false;
    for row in rows.of_enterprise(enterprise) {
        any = true;
        b.push_str("<tr>");
        for (c, _) in columns {
            let class = if Figure::of_column(c).is_some() { " class=n" } else { "" };
            let _ = write!(b, "<td{class}>{}</td>", esc(&rows.shown(row, c)));
        }
        b.push_str("</tr>");
    }
    if !any {
        let _ = write!(b, "<tr><td colspan={}>无 none</td></tr>", columns.len());
    }
    b.push_str("</table>");
    Ok(())
}

/// The page of one enterprise: the summary, then the monthly tables behind it.
pub fn enterprise_page(input: &ReportInput, enterprise: &str) -> PolarsResult<String> {
    let name = input.reference.enterprises.iter().find(|(k, _)| k.as_str() == enterprise).map_or(enterprise.to_owned(), |(_, e)| e.name.clone());
    let mut b = String::from("<nav><a href=\"../index.html\">总览 Overview</a> · <a href=\"../report.html\">领跑者报告 Leader report</a></nav>");
    b.push_str(&summary(input, enterprise, "../")?);
    b.push_str("<section class=detail><h2>月度明细 Monthly detail</h2>");
    let m = &input.monthly;
    table(
        &mut b,
        "月度账目 Monthly accounts",
        &m.accounts,
        enterprise,
        &[("period", "月份 Month"), ("energy_tce", "综合能耗 Energy"), ("electricity_net_kwh", "净购电 Net electricity"), ("water_m3", "取水 Water"), ("co2_t", "CO2"), ("production", "产量 Output"), ("product_unit", "单位 Unit"), ("kgce_per_unit", "单位产品能耗 Energy/unit"), ("water_m3_per_unit", "单位产品取水 Water/unit")],
    )?;
    let mut co2 = vec![("period", "月份 Month")];
    co2.extend(CO2_LINES.iter().copied());
    co2.extend([("co2_t", "合计 Total"), ("co2_biomass_memo_t", "生物质(不计入) Biomass memo"), ("co2_t_per_unit", "单位产品 per unit")]);
    table(&mut b, "二氧化碳排放 CO2 by source", &m.accounts, enterprise, &co2)?;
    table(
        &mut b,
        "非化石能源 Non-fossil energy",
        &m.accounts,
        enterprise,
        &[("period", "月份 Month"), ("onsite_self_use_kwh", "自用 Self-use"), ("green_kwh_counted", "绿证/绿电 Green"), ("energy_use_tce", "能源消费 Energy use"), ("non_fossil_tce", "非化石 Non-fossil"), ("non_fossil_share", "占比 Share"), ("non_fossil_method", "方法 Method")],
    )?;
    table(
        &mut b,
        "数据质量 Data quality per month",
        &m.quality,
        enterprise,
        &[("period", "月份 Month"), ("coverage", "覆盖率 Coverage"), ("gap_h", "缺口 Gaps"), ("excluded_h", "剔除 Excluded"), ("uncovered_h", "无数据 Uncovered"), ("meters_past_calibration", "过检定期 Past calibration"), ("findings", "问题 Findings"), ("grade", "等级 Grade")],
    )?;
    table(&mut b, "剔除与标记 Flagged and excluded readings (window)", &input.window_tables.exclusions, enterprise, &[("site", "厂区 Site"), ("meter", "表计 Meter"), ("reason", "原因 Reason"), ("count", "次数 Count")])?;
    let _ = write!(b, "<p class=muted>{}: every figure recomputes from leaders.xlsx (monthly_meters holds each counter's evidence).</p></section>", esc(&name));
    Ok(page(&format!("{name} · summary"), &b, ""))
}
