//! Selecting leader candidates within one product group (docs/leaders.md): eligibility with every
//! failed gate named, ranking, the group's median and benchmark, each enterprise's percentile,
//! margins and place against the sector levels, and the savings if the whole group reached the
//! candidates' level.
//!
//! Groups are tens of enterprises, so this is plain code over [`Facts`] gathered from the polars
//! account tables; what it returns becomes tables again.

use super::rules::{Better, Indicator, Programme, ProgrammeRules};

/// One enterprise over the selection window.
#[derive(Debug, Clone, PartialEq)]
pub struct Facts {
    pub enterprise: String,
    pub name: String,
    pub product_group: String,
    pub kgce_per_unit: Option<f64>,
    pub tce_per_10k_cny: Option<f64>,
    pub water_m3_per_unit: Option<f64>,
    pub co2_t_per_unit: Option<f64>,
    /// Units of the group's product made in the window, if reported.
    pub production: Option<f64>,
    pub output_value_10k_cny: Option<f64>,
    pub energy_tce: f64,
    pub water_m3: f64,
    pub co2_t: f64,
    /// Boundary coverage of each month of the window.
    pub monthly_coverage: Vec<f64>,
    pub grade: String,
    pub findings: u32,
    pub meters_past_calibration: u32,
    /// Whether any boundary meter had readings in the window.
    pub has_data: bool,
    /// Months of the window with metered use but no production reported: the window's
    /// indicators would divide its use by part of its output, so it has none.
    pub unreported_months: Vec<String>,
    /// Non-fossil energy as a share of energy use over the window (docs/carbon.md).
    pub non_fossil_share: Option<f64>,
    /// Management systems and monitoring, from the enterprises file.
    pub practices: crate::reference::Practices,
}

impl Facts {
    /// The value of `indicator`; none while production is missing for a month with metered use.
    pub fn indicator(&self, indicator: Indicator) -> Option<f64> {
        if !self.unreported_months.is_empty() {
            return None;
        }
        match indicator {
            Indicator::KgcePerUnit => self.kgce_per_unit,
            Indicator::TcePer10kCny => self.tce_per_10k_cny,
            Indicator::WaterM3PerUnit => self.water_m3_per_unit,
            Indicator::Co2TPerUnit => self.co2_t_per_unit,
        }
        .filter(|v| v.is_finite())
    }
}

/// Where an enterprise stands against the sector levels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Placement {
    /// At or better than the benchmark level.
    AtBenchmark,
    /// Between the benchmark and the baseline.
    Between,
    /// Worse than the baseline level: the first to help.
    BelowBaseline,
}

impl Placement {
    /// The label in tables, English and Chinese.
    pub fn label(self) -> &'static str {
        match self {
            Placement::AtBenchmark => "at or better than benchmark / 达到标杆水平",
            Placement::Between => "between benchmark and baseline / 标杆与基准之间",
            Placement::BelowBaseline => "worse than baseline / 未达基准水平",
        }
    }
}

/// One enterprise's result in one programme.
#[derive(Debug, Clone, PartialEq)]
pub struct Assessment {
    pub enterprise: String,
    pub name: String,
    pub value: Option<f64>,
    /// Every gate it failed; empty when eligible.
    pub failed: Vec<String>,
    /// Competition rank among the eligible (ties share a rank).
    pub rank: Option<u32>,
    pub selected: bool,
    /// Selected because it ties with the last one inside the cut.
    pub tied_at_cut: bool,
    /// Share of the rest of the group (with a value) it does better than, percent.
    pub percentile: Option<f64>,
    /// How much better than the advanced value, as a share of it (negative: worse).
    pub margin_to_advanced: Option<f64>,
    /// How much better than the group benchmark, as a share of it.
    pub margin_to_group_benchmark: Option<f64>,
    pub placement: Option<Placement>,
}

impl Assessment {
    /// Whether every gate passed.
    pub fn eligible(&self) -> bool {
        self.failed.is_empty()
    }
}

/// One programme's result for one product group.
#[derive(Debug, Clone, PartialEq)]
pub struct GroupResult {
    pub programme: Programme,
    pub product_group: String,
    pub enterprises: usize,
    pub with_value: usize,
    pub eligible: usize,
    pub selected: usize,
    pub median: Option<f64>,
    /// Mean of the best `benchmark_share` of the group (EU ETS style).
    pub group_benchmark: Option<f64>,
    /// The candidates' level: the last selected enterprise's value.
    pub level: Option<f64>,
    /// tce (energy indicators) or m3 (water) saved if every enterprise with a worse value
    /// reached `level` at its reported output.
    pub savings: f64,
    pub savings_unit: &'static str,
    /// CO2 saved with it, t (energy indicators; in proportion to each enterprise's CO2).
    pub savings_co2_t: f64,
    /// Why no one was selected, or other remarks.
    pub note: String,
    pub assessments: Vec<Assessment>,
}

/// How much better `value` is than `reference`, as a share of it (negative: worse); none
/// against a zero reference.
fn margin(better: Better, reference: f64, value: f64) -> Option<f64> {
    (reference != 0.0).then(|| match better {
        Better::Lower => (reference - value) / reference,
        Better::Higher => (value - reference) / reference,
    })
}

/// Median of `values` (sorted or not).
pub fn median(values: &[f64]) -> Option<f64> {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    let n = v.len();
    match n {
        0 => None,
        _ if n % 2 == 1 => Some(v[n / 2]),
        _ => Some((v[n / 2 - 1] + v[n / 2]) / 2.0),
    }
}

/// Runs `rules` over the enterprises of its product group in `facts` (others are ignored);
/// `grades` are the data-quality grades, best first.
pub fn select(rules: &ProgrammeRules, product_group: &str, facts: &[Facts], grades: &[&str]) -> GroupResult {
    let better = rules.better;
    let group: Vec<&Facts> = facts.iter().filter(|f| f.product_group == product_group).collect();
    let values: Vec<f64> = group.iter().filter_map(|f| f.indicator(rules.indicator)).collect();
    let g = &rules.gates;
    let fmt = |v: f64| format!("{v:.4}").trim_end_matches('0').trim_end_matches('.').to_owned();

    let mut assessments: Vec<Assessment> = group
        .iter()
        .map(|f| {
            let value = f.indicator(rules.indicator);
            let mut failed = Vec::new();
            if !f.has_data {
                failed.push("no boundary readings in the window".to_owned());
            } else if !f.unreported_months.is_empty() {
                failed.push(format!("no production reported for {}, month(s) with metered use: no {} over part of the output", f.unreported_months.join(" "), rules.indicator.column()));
            } else if value.is_none() {
                failed.push(format!("no {}: production or output value missing or zero, or no readings of its medium", rules.indicator.column()));
            }
            if let Some(min) = g.min_months {
                let months = f.monthly_coverage.iter().filter(|c| **c >= g.month_coverage).count() as u32;
                if months < min {
                    failed.push(format!("{months} month(s) with data (at least {min} at {}% coverage required)", fmt(100.0 * g.month_coverage)));
                }
            }
            if let Some(min) = &g.min_grade {
                let rank = |x: &str| grades.iter().position(|y| *y == x).unwrap_or(usize::MAX);
                if rank(&f.grade) > rank(min) {
                    failed.push(format!("data-quality grade {} ({min} or better required)", f.grade));
                }
            }
            if g.calibrated && f.meters_past_calibration > 0 {
                failed.push(format!("{} boundary meter(s) past calibration", f.meters_past_calibration));
            }
            if let Some(max) = g.max_findings {
                if f.findings > max {
                    failed.push(format!("{} meter-configuration finding(s) (at most {max})", f.findings));
                }
            }
            if let Some(min) = g.min_energy_tce {
                if f.energy_tce < min {
                    failed.push(format!("{} tce used ({} required)", fmt(f.energy_tce), fmt(min)));
                }
            }
            if let Some(min) = g.min_water_m3 {
                if f.water_m3 < min {
                    failed.push(format!("{} m3 withdrawn ({} required)", fmt(f.water_m3), fmt(min)));
                }
            }
            let edition = |e: &Option<String>| e.as_ref().map_or(String::new(), |e| format!(" ({e})"));
            if let (true, Some(v), Some(adv)) = (g.meets_advanced_value, value, rules.advanced_value) {
                if !better.at_or_better(v, adv) {
                    failed.push(format!("{} {} misses the advanced value {}{}", fmt(v), rules.unit, fmt(adv), edition(&rules.advanced_value_edition)));
                }
            }
            if let (true, Some(v), Some(b)) = (g.meets_benchmark, value, rules.benchmark) {
                if !better.at_or_better(v, b) {
                    failed.push(format!("{} {} misses the sector benchmark {}{}", fmt(v), rules.unit, fmt(b), edition(&rules.benchmark_edition)));
                }
            }
            if let Some(min) = g.min_non_fossil_share {
                match f.non_fossil_share {
                    Some(s) if s >= min => {}
                    Some(s) => failed.push(format!("non-fossil energy {}% of energy use ({}% required)", fmt(100.0 * s), fmt(100.0 * min))),
                    None => failed.push(format!("no non-fossil share (no energy use in the window; {}% required)", fmt(100.0 * min))),
                }
            }
            let p = &f.practices;
            let practices = [
                (g.energy_management_system, p.energy_management_system, "energy management system (GB/T 23331)"),
                (g.measurement_management_system, p.measurement_management_system, "measurement management system (GB/T 19022)"),
                (g.online_monitoring, p.online_monitoring, "on-line energy monitoring system"),
                (g.withdrawal_permit, p.withdrawal_permit, "water withdrawal permit"),
                (g.water_meters_verified, p.water_meters_verified, "water meters per GB/T 24789, verified"),
            ];
            for (required, has, what) in practices {
                match (required, has) {
                    (true, Some(false)) => failed.push(format!("no {what}")),
                    (true, None) => failed.push(format!("{what} not recorded in the enterprises file")),
                    _ => {}
                }
            }
            let percentile = value.filter(|_| values.len() > 1).map(|v| 100.0 * values.iter().filter(|o| better.better(v, **o)).count() as f64 / (values.len() - 1) as f64);
            let placement = value.and_then(|v| match (rules.benchmark, rules.baseline) {
                (Some(b), _) if better.at_or_better(v, b) => Some(Placement::AtBenchmark),
                (_, Some(base)) if better.better(base, v) => Some(Placement::BelowBaseline),
                (Some(_), _) | (_, Some(_)) => Some(Placement::Between),
                _ => None,
            });
            Assessment {
                enterprise: f.enterprise.clone(),
                name: f.name.clone(),
                value,
                failed,
                rank: None,
                selected: false,
                tied_at_cut: false,
                percentile,
                margin_to_advanced: value.zip(rules.advanced_value).and_then(|(v, a)| margin(better, a, v)),
                margin_to_group_benchmark: None,
                placement,
            }
        })
        .collect();

    // The group benchmark: mean of the best share of every enterprise with a value.
    let mut sorted = values.clone();
    sorted.sort_by(|a, b| better.order(*a, *b));
    let best_n = ((rules.selection.benchmark_share * sorted.len() as f64).ceil() as usize).clamp(usize::from(!sorted.is_empty()), sorted.len());
    let group_benchmark = (best_n > 0).then(|| sorted[..best_n].iter().sum::<f64>() / best_n as f64);
    for a in &mut assessments {
        a.margin_to_group_benchmark = a.value.zip(group_benchmark).and_then(|(v, b)| margin(better, b, v));
    }

    // Ranking among the eligible: ties share a rank; everyone tied inside the cut is selected.
    let eligible_values: Vec<f64> = assessments.iter().filter(|a| a.eligible()).filter_map(|a| a.value).collect();
    for a in assessments.iter_mut().filter(|a| a.eligible()) {
        if let Some(v) = a.value {
            a.rank = Some(1 + eligible_values.iter().filter(|o| better.better(**o, v)).count() as u32);
        }
    }
    let eligible = eligible_values.len();
    let cut = match (rules.selection.top_n, rules.selection.top_share) {
        (Some(n), _) => n as usize,
        (None, Some(share)) => ((share * eligible as f64).ceil() as usize).max(1),
        (None, None) => 0,
    };
    let mut note = String::new();
    if eligible < rules.selection.min_group_size as usize {
        note = format!("{eligible} eligible enterprise(s), fewer than the {} the rules require: no one is selected", rules.selection.min_group_size);
    } else {
        for a in assessments.iter_mut() {
            if a.rank.is_some_and(|r| r as usize <= cut) {
                a.selected = true;
            }
        }
        let selected = assessments.iter().filter(|a| a.selected).count();
        if selected > cut {
            let last = assessments.iter().filter(|a| a.selected).filter_map(|a| a.rank).max();
            for a in assessments.iter_mut().filter(|a| a.selected && a.rank == last) {
                a.tied_at_cut = true;
            }
            note = format!("{selected} selected for {cut} places: ties at the cut are all selected");
        }
    }
    let level = assessments.iter().filter(|a| a.selected).filter_map(|a| a.value).reduce(|x, y| if better.better(x, y) { y } else { x });

    // Savings: each enterprise worse than the level, brought to it at its own output.
    let (mut savings, mut savings_co2_t) = (0.0, 0.0);
    let savings_unit = match rules.indicator {
        Indicator::WaterM3PerUnit => "m3",
        Indicator::Co2TPerUnit => "tCO2",
        Indicator::KgcePerUnit | Indicator::TcePer10kCny => "tce",
    };
    if let Some(level) = level {
        for f in &group {
            let Some(v) = f.indicator(rules.indicator) else { continue };
            if !better.better(level, v) {
                continue;
            }
            let gap = (v - level).abs();
            let saved = match rules.indicator {
                Indicator::KgcePerUnit => f.production.map(|p| gap * p / 1000.0),
                Indicator::TcePer10kCny => f.output_value_10k_cny.map(|o| gap * o),
                Indicator::WaterM3PerUnit | Indicator::Co2TPerUnit => f.production.map(|p| gap * p),
            };
            savings += saved.unwrap_or(0.0);
            if matches!(rules.indicator, Indicator::KgcePerUnit | Indicator::TcePer10kCny) && saved.is_some() {
                // The energy saved takes its share of the enterprise's CO2 with it.
                savings_co2_t += f.co2_t * gap / v;
            }
        }
    }
    let selected = assessments.iter().filter(|a| a.selected).count();
    assessments.sort_by_key(|a| (a.rank.unwrap_or(u32::MAX), a.enterprise.clone()));
    GroupResult {
        programme: rules.programme,
        product_group: product_group.to_owned(),
        enterprises: group.len(),
        with_value: values.len(),
        eligible,
        selected,
        median: median(&values),
        group_benchmark,
        level,
        savings,
        savings_unit,
        savings_co2_t,
        note,
        assessments,
    }
}
