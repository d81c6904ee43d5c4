//! Energy-efficiency and water-efficiency leader candidates per product group (docs/leaders.md):
//! rules as data ([`rules`]), the facts of each enterprise gathered from the account tables, and
//! the selection ([`select`]).

pub mod rules;
pub mod select;

use std::collections::BTreeMap;

use polars::prelude::*;

use crate::frame::{numbers, strings};
use crate::reference::Reference;

pub use rules::{GroupRules, Programme, ProgrammeRules};
pub use select::{select, Assessment, Facts, GroupResult, Placement};

/// One enterprise's facts from the window's accounts and quality tables, the monthly accounts
/// (months with metered use but no production) and the monthly quality table (its coverage per
/// month); enterprises of the register without any row get facts that say they had no data, so
/// they are listed as excluded rather than left out.
pub fn facts(window_accounts: &DataFrame, window_quality: &DataFrame, monthly_accounts: &DataFrame, monthly_quality: &DataFrame, reference: &Reference) -> PolarsResult<Vec<Facts>> {
    // CO2 is summed over every boundary counter: a month has it when any had data.
    let mut unreported: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let (me, mp) = (strings(monthly_accounts, "enterprise")?, strings(monthly_accounts, "period")?);
    for ((e, period), (production, co2)) in me.into_iter().zip(mp).zip(numbers(monthly_accounts, "production")?.into_iter().zip(numbers(monthly_accounts, "co2_t")?)) {
        if co2.is_some() && production.is_none() {
            unreported.entry(e).or_default().push(period);
        }
    }

    let mut monthly: BTreeMap<String, Vec<f64>> = BTreeMap::new();
    for (e, c) in strings(monthly_quality, "enterprise")?.into_iter().zip(numbers(monthly_quality, "coverage")?) {
        monthly.entry(e).or_default().push(c.unwrap_or(0.0));
    }
    let mut quality: BTreeMap<String, (String, u32, u32)> = BTreeMap::new();
    let (qe, qg, qf, qp) = (strings(window_quality, "enterprise")?, strings(window_quality, "grade")?, numbers(window_quality, "findings")?, numbers(window_quality, "meters_past_calibration")?);
    for i in 0..window_quality.height() {
        quality.insert(qe[i].clone(), (qg[i].clone(), qf[i].unwrap_or(0.0) as u32, qp[i].unwrap_or(0.0) as u32));
    }

    let a = window_accounts;
    let (ent, name, group) = (strings(a, "enterprise")?, strings(a, "name")?, strings(a, "product_group")?);
    let cols: Vec<Vec<Option<f64>>> = ["kgce_per_unit", "tce_per_10k_cny", "water_m3_per_unit", "co2_t_per_unit", "production", "output_value_10k_cny", "energy_tce", "water_m3", "co2_t", "non_fossil_share"]
        .iter()
        .map(|c| numbers(a, c))
        .collect::<PolarsResult<_>>()?;
    let mut out = Vec::with_capacity(a.height());
    for i in 0..a.height() {
        let (grade, findings, past) = quality.get(&ent[i]).cloned().unwrap_or_else(|| ("-".into(), 0, 0));
        out.push(Facts {
            enterprise: ent[i].clone(),
            name: name[i].clone(),
            product_group: group[i].clone(),
            kgce_per_unit: cols[0][i],
            tce_per_10k_cny: cols[1][i],
            water_m3_per_unit: cols[2][i],
            co2_t_per_unit: cols[3][i],
            production: cols[4][i],
            output_value_10k_cny: cols[5][i],
            energy_tce: cols[6][i].unwrap_or(0.0),
            water_m3: cols[7][i].unwrap_or(0.0),
            co2_t: cols[8][i].unwrap_or(0.0),
            monthly_coverage: monthly.get(&ent[i]).cloned().unwrap_or_default(),
            grade,
            findings,
            meters_past_calibration: past,
            // CO2 is summed over every boundary counter: it is empty only when none had data.
            has_data: cols[8][i].is_some(),
            unreported_months: unreported.get(&ent[i]).cloned().unwrap_or_default(),
            non_fossil_share: cols[9][i],
            practices: ent[i].parse::<readings::EnterpriseId>().ok().and_then(|id| reference.enterprises.get(&id)).map(|e| e.practices).unwrap_or_default(),
        });
    }
    for (id, e) in &reference.enterprises {
        if !out.iter().any(|f| f.enterprise == id.as_str()) {
            out.push(Facts {
                enterprise: id.to_string(),
                name: e.name.clone(),
                product_group: e.product_group.clone(),
                kgce_per_unit: None,
                tce_per_10k_cny: None,
                water_m3_per_unit: None,
                co2_t_per_unit: None,
                production: None,
                output_value_10k_cny: None,
                energy_tce: 0.0,
                water_m3: 0.0,
                co2_t: 0.0,
                monthly_coverage: Vec::new(),
                grade: "-".into(),
                findings: 0,
                meters_past_calibration: 0,
                has_data: false,
                unreported_months: Vec::new(),
                non_fossil_share: None,
                practices: e.practices,
            });
        }
    }
    Ok(out)
}

/// Every enterprise's assessment in every result, one row each.
pub fn assessments_frame(results: &[GroupResult]) -> PolarsResult<DataFrame> {
    let rows: Vec<(&GroupResult, &Assessment)> = results.iter().flat_map(|r| r.assessments.iter().map(move |a| (r, a))).collect();
    df!(
        "programme" => rows.iter().map(|(r, _)| r.programme.as_str()).collect::<Vec<_>>(),
        "product_group" => rows.iter().map(|(r, _)| r.product_group.clone()).collect::<Vec<_>>(),
        "enterprise" => rows.iter().map(|(_, a)| a.enterprise.clone()).collect::<Vec<_>>(),
        "name" => rows.iter().map(|(_, a)| a.name.clone()).collect::<Vec<_>>(),
        "value" => rows.iter().map(|(_, a)| a.value).collect::<Vec<_>>(),
        "eligible" => rows.iter().map(|(_, a)| a.eligible()).collect::<Vec<_>>(),
        "failed_gates" => rows.iter().map(|(_, a)| a.failed.join("; ")).collect::<Vec<_>>(),
        "rank" => rows.iter().map(|(_, a)| a.rank).collect::<Vec<_>>(),
        "selected" => rows.iter().map(|(_, a)| a.selected).collect::<Vec<_>>(),
        "tied_at_cut" => rows.iter().map(|(_, a)| a.tied_at_cut).collect::<Vec<_>>(),
        "percentile" => rows.iter().map(|(_, a)| a.percentile).collect::<Vec<_>>(),
        "margin_to_advanced" => rows.iter().map(|(_, a)| a.margin_to_advanced).collect::<Vec<_>>(),
        "margin_to_group_benchmark" => rows.iter().map(|(_, a)| a.margin_to_group_benchmark).collect::<Vec<_>>(),
        "placement" => rows.iter().map(|(_, a)| a.placement.map(Placement::label)).collect::<Vec<_>>(),
    )
}

/// One row per programme and product group.
pub fn groups_frame(results: &[GroupResult], rules: &[GroupRules]) -> PolarsResult<DataFrame> {
    let rule = |r: &GroupResult| rules.iter().find(|g| g.product_group == r.product_group).and_then(|g| g.programme.iter().find(|p| p.programme == r.programme));
    df!(
        "programme" => results.iter().map(|r| r.programme.as_str()).collect::<Vec<_>>(),
        "product_group" => results.iter().map(|r| r.product_group.clone()).collect::<Vec<_>>(),
        "indicator" => results.iter().map(|r| rule(r).map(|p| p.indicator.column())).collect::<Vec<_>>(),
        "unit" => results.iter().map(|r| rule(r).map(|p| p.unit.clone())).collect::<Vec<_>>(),
        "enterprises" => results.iter().map(|r| r.enterprises as u32).collect::<Vec<_>>(),
        "with_value" => results.iter().map(|r| r.with_value as u32).collect::<Vec<_>>(),
        "eligible" => results.iter().map(|r| r.eligible as u32).collect::<Vec<_>>(),
        "selected" => results.iter().map(|r| r.selected as u32).collect::<Vec<_>>(),
        "median" => results.iter().map(|r| r.median).collect::<Vec<_>>(),
        "group_benchmark" => results.iter().map(|r| r.group_benchmark).collect::<Vec<_>>(),
        "advanced_value" => results.iter().map(|r| rule(r).and_then(|p| p.advanced_value)).collect::<Vec<_>>(),
        "advanced_value_edition" => results.iter().map(|r| rule(r).and_then(|p| p.advanced_value_edition.clone())).collect::<Vec<_>>(),
        "benchmark_edition" => results.iter().map(|r| rule(r).and_then(|p| p.benchmark_edition.clone())).collect::<Vec<_>>(),
        "sector_benchmark" => results.iter().map(|r| rule(r).and_then(|p| p.benchmark)).collect::<Vec<_>>(),
        "sector_baseline" => results.iter().map(|r| rule(r).and_then(|p| p.baseline)).collect::<Vec<_>>(),
        "candidates_level" => results.iter().map(|r| r.level).collect::<Vec<_>>(),
        "savings" => results.iter().map(|r| r.savings).collect::<Vec<_>>(),
        "savings_unit" => results.iter().map(|r| r.savings_unit).collect::<Vec<_>>(),
        "savings_co2_t" => results.iter().map(|r| r.savings_co2_t).collect::<Vec<_>>(),
        "note" => results.iter().map(|r| r.note.clone()).collect::<Vec<_>>(),
        "source" => results.iter().map(|r| rule(r).map(|p| format!("{}{}", p.source, if p.check { " [check]" } else { "" }))).collect::<Vec<_>>(),
    )
}

/// The group's median of `column` in each period of the monthly accounts, over `members` (the
/// enterprises of one programme's group) with a value that month: the level an enterprise's
/// trend is read against.
pub fn monthly_medians(monthly_accounts: &DataFrame, column: &str, members: &[&str]) -> PolarsResult<BTreeMap<String, f64>> {
    let mut by_period: BTreeMap<String, Vec<f64>> = BTreeMap::new();
    let (ent, period, values) = (strings(monthly_accounts, "enterprise")?, strings(monthly_accounts, "period")?, numbers(monthly_accounts, column)?);
    for ((e, p), v) in ent.iter().zip(period).zip(values) {
        if let Some(v) = v.filter(|v| v.is_finite()) {
            if members.contains(&e.as_str()) {
                by_period.entry(p).or_default().push(v);
            }
        }
    }
    Ok(by_period.into_iter().filter_map(|(p, v)| select::median(&v).map(|m| (p, m))).collect())
}
