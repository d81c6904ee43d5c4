//! Data-quality evidence per enterprise and period (docs/accounts.md, "Data quality"): coverage
//! of the boundary counters, flagged and excluded readings by reason, meters past calibration,
//! the meter configuration against GB 17167 / GB/T 24789, and one grade from rules in
//! `config/data-quality.toml` that the leader selection can gate on.

use std::collections::BTreeMap;
use std::path::Path;

use polars::prelude::*;
use readings::config_file::{parse_toml, ConfigError};
use readings::Medium;
use serde::Deserialize;

use crate::accounts::MeterPeriod;
use crate::frame::{numbers, strings};
use crate::reference::{MeterRole, PointLevel, Reference};

/// What the standards ask of one medium's metering.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Requirement {
    pub medium: Medium,
    /// Share of the boundary flow area sub-meters must cover, in percent.
    pub area_percent: f64,
    /// The coarsest accuracy class a boundary meter may have.
    pub max_accuracy_class: f64,
    /// The equipping rates each level must reach (see [`Equipping`]); none: not checked.
    pub equipping: Option<Equipping>,
    /// The standard and edition the row comes from (e.g. "GB 17167-2006").
    pub edition: Option<String>,
    /// The first day the edition is in force; a period is graded by the row of its medium in
    /// force on the period's first day (no date: in force from the start).
    pub applies_from: Option<chrono::NaiveDate>,
    pub source: String,
    #[serde(default)]
    pub check: bool,
}

impl Requirement {
    /// The source as findings cite it, with the edition and the check mark.
    pub fn cited(&self) -> String {
        let edition = self.edition.as_ref().map_or(String::new(), |e| format!("{e}: "));
        format!("{edition}{}{}", self.source, if self.check { " [check]" } else { "" })
    }
}

/// GB 17167's equipping rates for one medium, in percent: of the flows that must be metered at
/// each level (metering-points.csv), the share that have a meter installed.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Equipping {
    pub boundary: f64,
    pub sub_unit: f64,
    pub equipment: f64,
}

impl Equipping {
    /// The rate `level` must reach.
    pub fn of(&self, level: PointLevel) -> f64 {
        match level {
            PointLevel::Boundary => self.boundary,
            PointLevel::SubUnit => self.sub_unit,
            PointLevel::Equipment => self.equipment,
        }
    }
}

/// One grade and the conditions for it; absent conditions always hold.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GradeRule {
    pub grade: String,
    pub min_coverage: Option<f64>,
    pub max_findings: Option<u32>,
    pub max_meters_past_calibration: Option<u32>,
    pub max_excluded_percent: Option<f64>,
}

/// The data-quality rules.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QualityRules {
    #[serde(default)]
    pub tolerance_percent: f64,
    #[serde(default)]
    pub requirement: Vec<Requirement>,
    pub grade: Vec<GradeRule>,
}

impl QualityRules {
    /// Reads and checks the rules file.
    pub fn load(path: &Path) -> Result<QualityRules, Vec<ConfigError>> {
        let file = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| vec![ConfigError::new(&file, "", format!("cannot read the file: {e}"))])?;
        let rules: QualityRules = parse_toml(&file, &text).map_err(|e| vec![e])?;
        let mut errors = Vec::new();
        if !(0.0..100.0).contains(&rules.tolerance_percent) {
            errors.push(ConfigError::new(&file, "tolerance_percent", format!("is {}; give a percentage from 0 to below 100", rules.tolerance_percent)));
        }
        for (i, r) in rules.requirement.iter().enumerate() {
            if !(0.0..=100.0).contains(&r.area_percent) {
                errors.push(ConfigError::new(&file, format!("requirement[{i}].area_percent"), format!("is {}; give a percentage from 0 to 100", r.area_percent)));
            }
            for level in PointLevel::ALL {
                let rate = r.equipping.map_or(0.0, |e| e.of(level));
                if !(0.0..=100.0).contains(&rate) {
                    errors.push(ConfigError::new(&file, format!("requirement[{i}].equipping.{level}"), format!("is {rate}; give a percentage from 0 to 100")));
                }
            }
            if rules.requirement[..i].iter().any(|o| o.medium == r.medium && o.applies_from == r.applies_from) {
                errors.push(ConfigError::new(&file, format!("requirement[{i}].medium"), format!("{} has a requirement from that date already", r.medium)));
            }
            if r.applies_from.is_some() && r.edition.is_none() {
                errors.push(ConfigError::new(&file, format!("requirement[{i}].edition"), "is missing; a dated requirement names the standard's edition it comes from"));
            }
        }
        match rules.grade.last() {
            None => errors.push(ConfigError::new(&file, "grade", "is empty; give at least one grade")),
            Some(last) if last.min_coverage.is_some() || last.max_findings.is_some() || last.max_meters_past_calibration.is_some() || last.max_excluded_percent.is_some() => {
                errors.push(ConfigError::new(&file, format!("grade[{}]", rules.grade.len() - 1), "the last grade must have no conditions, so that every enterprise gets a grade"))
            }
            _ => {}
        }
        for (i, g) in rules.grade.iter().enumerate() {
            if rules.grade[..i].iter().any(|o| o.grade == g.grade) {
                errors.push(ConfigError::new(&file, format!("grade[{i}].grade"), format!("{:?} is given twice", g.grade)));
            }
            if g.min_coverage.is_some_and(|c| !(0.0..=1.0).contains(&c)) {
                errors.push(ConfigError::new(&file, format!("grade[{i}].min_coverage"), "is a share from 0 to 1"));
            }
        }
        if errors.is_empty() {
            Ok(rules)
        } else {
            Err(errors)
        }
    }

    /// The requirement for `medium` in force on `day`: the one with the latest `applies_from` on
    /// or before it.
    pub fn requirement_on(&self, medium: Medium, day: chrono::NaiveDate) -> Option<&Requirement> {
        self.requirement.iter().filter(|r| r.medium == medium && r.applies_from.is_none_or(|d| d <= day)).max_by_key(|r| r.applies_from)
    }

    /// The first grade whose conditions all hold.
    pub fn grade(&self, coverage: f64, findings: u32, past_calibration: u32, excluded_percent: f64) -> &str {
        self.grade
            .iter()
            .find(|g| {
                g.min_coverage.is_none_or(|m| coverage >= m)
                    && g.max_findings.is_none_or(|m| findings <= m)
                    && g.max_meters_past_calibration.is_none_or(|m| past_calibration <= m)
                    && g.max_excluded_percent.is_none_or(|m| excluded_percent <= m)
            })
            .map_or("-", |g| g.grade.as_str())
    }
}

/// One way an enterprise's metering falls short of the standards in a period.
#[derive(Debug, Clone, PartialEq)]
pub struct Finding {
    pub enterprise: String,
    pub period: String,
    pub medium: Medium,
    /// The meter or meters it concerns (`site/meter`, or the area sub-meters), if any.
    pub meter: String,
    pub finding: String,
    pub source: String,
}

/// The meter-configuration findings of every enterprise and period.
pub fn findings(rows: &[MeterPeriod], reference: &Reference, rules: &QualityRules) -> Vec<Finding> {
    #[derive(Default)]
    struct Flows {
        boundary: f64,
        area: f64,
        /// (site, meter)
        boundary_meters: Vec<(String, String)>,
        area_meters: Vec<String>,
    }
    let mut flows: BTreeMap<(String, String, Medium), Flows> = BTreeMap::new();
    let mut starts: BTreeMap<&str, chrono::NaiveDate> = BTreeMap::new();
    // What an enterprise supplies out is not a flow its sub-meters should explain.
    for r in rows.iter().filter(|r| r.quantity != "active_energy_export" && r.co2_line != crate::carbon::Co2Line::Exports) {
        starts.insert(&r.period, r.period_start);
        let f = flows.entry((r.enterprise.clone(), r.period.clone(), r.medium)).or_default();
        match r.role {
            MeterRole::Boundary => {
                f.boundary += r.consumption;
                f.boundary_meters.push((r.site.clone(), r.meter.clone()));
            }
            MeterRole::Area => {
                f.area += r.consumption;
                f.area_meters.push(format!("{}/{}", r.site, r.meter));
            }
            MeterRole::Device | MeterRole::Generation | MeterRole::SelfUse => {}
        }
    }
    let mut out = Vec::new();
    for ((enterprise, period, medium), f) in flows {
        let mut add = |meter: String, finding: String, source: &str| out.push(Finding { enterprise: enterprise.clone(), period: period.clone(), medium, meter, finding, source: source.to_owned() });
        if f.boundary_meters.is_empty() {
            let edition = starts.get(period.as_str()).and_then(|d| rules.requirement_on(medium, *d)).and_then(|r| r.edition.clone()).unwrap_or_else(|| "GB 17167 / GB/T 24789".to_owned());
            add(String::new(), format!("{medium} is sub-metered but has no boundary meter"), &format!("{edition}: every medium is metered at the enterprise boundary"));
            continue;
        }
        let registered = |site: &str, meter: &str| -> Option<&crate::reference::MeterInfo> {
            let (Ok(e), Ok(s), Ok(m)) = (enterprise.parse(), site.parse(), meter.parse()) else { return None };
            reference.meters.get(&(e, s, m))
        };
        for (site, meter) in &f.boundary_meters {
            if registered(site, meter).is_some_and(|info| info.max_rate.is_none()) {
                add(
                    format!("{site}/{meter}"),
                    format!("boundary meter {meter} (site {site}) has no max_rate: a run of bad readings above its counter would count as consumption"),
                    "docs/accounts.md, Counters: only an isolated spike is dropped without max_rate",
                );
            }
        }
        // The edition in force on the period's first day grades it.
        let Some(day) = starts.get(period.as_str()) else { continue };
        let Some(req) = rules.requirement_on(medium, *day) else { continue };
        let cited = req.cited();
        if f.boundary > 0.0 && req.area_percent > 0.0 {
            let share = 100.0 * f.area / f.boundary;
            if share < req.area_percent - rules.tolerance_percent {
                let which = if f.area_meters.is_empty() { "none".to_owned() } else { f.area_meters.join(" ") };
                add(which, format!("area sub-meters ({}) cover {share:.1} % of the boundary {medium}; {} % is required", f.area_meters.len(), req.area_percent), &cited);
            }
        }
        for (site, meter) in &f.boundary_meters {
            if let Some(info) = registered(site, meter) {
                if info.accuracy_class > req.max_accuracy_class {
                    add(format!("{site}/{meter}"), format!("boundary meter {meter} is class {}; class {} or better is required", info.accuracy_class, req.max_accuracy_class), &cited);
                }
            }
        }
    }
    out
}

/// Findings as a frame.
pub fn findings_frame(findings: &[Finding]) -> PolarsResult<DataFrame> {
    df!(
        "enterprise" => findings.iter().map(|f| f.enterprise.clone()).collect::<Vec<_>>(),
        "period" => findings.iter().map(|f| f.period.clone()).collect::<Vec<_>>(),
        "medium" => findings.iter().map(|f| f.medium.to_string()).collect::<Vec<_>>(),
        "meter" => findings.iter().map(|f| f.meter.clone()).collect::<Vec<_>>(),
        "finding" => findings.iter().map(|f| f.finding.clone()).collect::<Vec<_>>(),
        "source" => findings.iter().map(|f| f.source.clone()).collect::<Vec<_>>(),
    )
}

/// Readings flagged or excluded, by meter, period and reason: unusable rows by their quality, and
/// intervals that were reset, implausible, glitches or rollovers (the last counted, not excluded).
pub fn exclusions_frame(rows: &[MeterPeriod]) -> PolarsResult<DataFrame> {
    let mut cols: [Vec<String>; 5] = Default::default();
    let mut counts: Vec<u32> = Vec::new();
    for r in rows {
        let mut push = |reason: &str, n: u32| {
            if n > 0 {
                for (c, v) in cols.iter_mut().zip([&r.enterprise, &r.period, &r.site, &r.meter]) {
                    c.push(v.clone());
                }
                cols[4].push(reason.to_owned());
                counts.push(n);
            }
        };
        for (q, n) in &r.unusable_by_quality {
            push(&format!("no usable value: {q}"), *n);
        }
        push("counter went back (reset or replaced meter): interval excluded", r.usage.resets);
        push("delta beyond the meter's max_rate: interval excluded", r.usage.implausible);
        push("momentary dip or spike (glitch): reading dropped", r.usage.glitches);
        push("register rollover: counted through the wrap", r.usage.rollovers);
    }
    let [enterprise, period, site, meter, reason] = cols;
    df!("enterprise" => enterprise, "period" => period, "site" => site, "meter" => meter, "reason" => reason, "count" => counts)
}

/// Data-quality evidence per enterprise and period, from the boundary counters: the share of
/// counter-hours covered by readings no further apart than the gap threshold, and what was
/// flagged or excluded.
pub fn evidence(meters: &DataFrame) -> PolarsResult<DataFrame> {
    evidence_for(meters, None)
}

/// [`evidence`] over the counters of `media` only (all when `None`): a water programme is judged
/// on its water meters, not on electricity's.
pub fn evidence_for(meters: &DataFrame, media: Option<&[Medium]>) -> PolarsResult<DataFrame> {
    let boundary = col("role").eq(lit("boundary"));
    let of_media = media.map_or(lit(true), |m| m.iter().map(|m| col("medium").eq(lit(m.as_str()))).reduce(|a, b| a.or(b)).unwrap_or(lit(false)));
    let hours = col("covered_h") + col("gap_h") + col("excluded_h") + col("uncovered_h");
    // A meter is its site and name: two sites may each have a meter of one name.
    let meter = || col("site") + lit("/") + col("meter");
    meters
        .clone()
        .lazy()
        .filter(col("quantity").neq(lit("active_energy_export")).and(of_media))
        .group_by([col("enterprise"), col("period")])
        .agg([
            meter().filter(boundary.clone()).n_unique().alias("boundary_counters"),
            (col("covered_h").filter(boundary.clone()).sum() / hours.filter(boundary.clone()).sum()).alias("coverage"),
            col("covered_h").filter(boundary.clone()).sum().alias("covered_h"),
            col("gap_h").filter(boundary.clone()).sum().alias("gap_h"),
            col("excluded_h").filter(boundary.clone()).sum().alias("excluded_h"),
            col("uncovered_h").filter(boundary.clone()).sum().alias("uncovered_h"),
            col("rollovers").sum().alias("rollovers"),
            col("resets").sum().alias("resets"),
            col("implausible").sum().alias("implausible"),
            col("glitches").sum().alias("glitches"),
            col("unusable").sum().alias("unusable_rows"),
            meter().filter(boundary.clone().and(col("calibration_expired"))).n_unique().alias("meters_past_calibration"),
        ])
        .sort(["enterprise", "period"], SortMultipleOptions::default())
        .collect()
}

/// The quality table (from [`evidence`]) with the findings counted and the grade.
pub fn graded(quality: DataFrame, findings: &[Finding], rules: &QualityRules) -> PolarsResult<DataFrame> {
    let (enterprise, period) = (strings(&quality, "enterprise")?, strings(&quality, "period")?);
    let num = |name: &str| -> PolarsResult<Vec<f64>> { Ok(numbers(&quality, name)?.into_iter().map(|v| v.unwrap_or(0.0)).collect()) };
    let (coverage, excluded, gap, uncovered, covered_h, past) = (num("coverage")?, num("excluded_h")?, num("gap_h")?, num("uncovered_h")?, num("covered_h")?, num("meters_past_calibration")?);
    let mut counts = Vec::with_capacity(quality.height());
    let mut grades = Vec::with_capacity(quality.height());
    for i in 0..quality.height() {
        let n = findings.iter().filter(|f| f.enterprise == enterprise[i] && f.period == period[i]).count() as u32;
        let hours = covered_h[i] + gap[i] + excluded[i] + uncovered[i];
        let excluded_percent = if hours > 0.0 { 100.0 * excluded[i] / hours } else { 0.0 };
        counts.push(n);
        grades.push(rules.grade(coverage[i], n, past[i] as u32, excluded_percent).to_owned());
    }
    let mut out = quality;
    out.with_column(Column::new("findings".into(), counts))?;
    out.with_column(Column::new("grade".into(), grades))?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_grade_whose_conditions_hold() {
        let text = "[[grade]]\ngrade = \"A\"\nmin_coverage = 0.98\nmax_findings = 0\nmax_meters_past_calibration = 0\nmax_excluded_percent = 0.5\n\
                    [[grade]]\ngrade = \"B\"\nmin_coverage = 0.9\n[[grade]]\ngrade = \"D\"\n";
        let rules: QualityRules = parse_toml("q.toml", text).unwrap();
        assert_eq!(rules.grade(0.99, 0, 0, 0.0), "A");
        // Each A condition failing alone gives B.
        assert_eq!(rules.grade(0.97, 0, 0, 0.0), "B");
        assert_eq!(rules.grade(0.99, 1, 0, 0.0), "B");
        assert_eq!(rules.grade(0.99, 0, 1, 0.0), "B");
        assert_eq!(rules.grade(0.99, 0, 0, 0.6), "B");
        assert_eq!(rules.grade(0.5, 0, 0, 0.0), "D");
    }
}
