//! Equipping rates (配备率) per enterprise, period, medium and level: GB 17167 defines the rate as
//! the meters actually installed as a percentage of those theoretically needed to measure every
//! flow. The flows are the enterprise's list in metering-points.csv; a flow with a registered
//! meter is equipped. Each period is held to the rates of the edition in force on its first day
//! (config/data-quality.toml). GB/T 43866-2024, the inspectors' method for checking these rates,
//! was not available here: what it adds to the definition (sampling, how shared meters count) is
//! not applied (docs/accounts.md, "Equipping rates").

use std::collections::{BTreeMap, BTreeSet};

use polars::prelude::*;
use readings::Medium;

use crate::quality::{Finding, QualityRules};
use crate::reference::{PointLevel, Reference};

/// One enterprise's equipping rate in one period, for one medium and level.
#[derive(Debug, Clone, PartialEq)]
pub struct Rate {
    pub enterprise: String,
    pub period: String,
    pub medium: Medium,
    pub level: PointLevel,
    /// Flows that must be metered.
    pub points: u32,
    /// Of them, flows with a meter installed.
    pub equipped: u32,
    /// The rate the edition in force asks, if it sets one for this medium.
    pub required_percent: Option<f64>,
    /// The requirement as cited (edition, source, check mark); empty without one.
    pub source: String,
    /// The flows without a meter, as `site/point`.
    pub unequipped: Vec<String>,
}

impl Rate {
    /// Equipped flows as a percentage of those listed.
    pub fn percent(&self) -> f64 {
        if self.points == 0 {
            return 100.0;
        }
        100.0 * f64::from(self.equipped) / f64::from(self.points)
    }

    /// Whether the rate falls short of the requirement.
    pub fn short(&self) -> bool {
        self.required_percent.is_some_and(|r| self.percent() < r)
    }
}

/// The rates of every enterprise that lists metering points, for each of its `periods`
/// (enterprise, period, the period's first local day) that has accounts.
pub fn rates<'a>(periods: impl IntoIterator<Item = (&'a str, &'a str, chrono::NaiveDate)>, reference: &Reference, rules: &QualityRules) -> Vec<Rate> {
    let periods: BTreeSet<(&str, &str, chrono::NaiveDate)> = periods.into_iter().collect();
    let mut out = Vec::new();
    for (enterprise, period, start) in periods {
        let mut levels: BTreeMap<(Medium, PointLevel), (u32, Vec<String>)> = BTreeMap::new();
        for p in reference.points.iter().filter(|p| p.enterprise.as_str() == enterprise) {
            let (points, unequipped) = levels.entry((p.medium, p.level)).or_default();
            *points += 1;
            if p.meter.is_none() {
                unequipped.push(format!("{}/{}", p.site.as_str(), p.point));
            }
        }
        for ((medium, level), (points, unequipped)) in levels {
            let requirement = rules.requirement_on(medium, start);
            out.push(Rate {
                enterprise: enterprise.to_owned(),
                period: period.to_owned(),
                medium,
                level,
                points,
                equipped: points - unequipped.len() as u32,
                required_percent: requirement.and_then(|r| r.equipping).map(|e| e.of(level)),
                source: requirement.filter(|r| r.equipping.is_some()).map(|r| r.cited()).unwrap_or_default(),
                unequipped,
            });
        }
    }
    out
}

/// A finding for each rate short of its requirement, naming the flows without a meter.
pub fn findings(rates: &[Rate]) -> Vec<Finding> {
    rates
        .iter()
        .filter(|r| r.short())
        .map(|r| Finding {
            enterprise: r.enterprise.clone(),
            period: r.period.clone(),
            medium: r.medium,
            meter: r.unequipped.join(" "),
            finding: format!(
                "equipping rate of {} {}: {} of {} flows metered ({:.1} %); {} % is required",
                level_words(r.level),
                r.medium,
                r.equipped,
                r.points,
                r.percent(),
                r.required_percent.unwrap_or_default()
            ),
            source: r.source.clone(),
        })
        .collect()
}

/// The level as a finding says it.
fn level_words(level: PointLevel) -> &'static str {
    match level {
        PointLevel::Boundary => "the boundary",
        PointLevel::SubUnit => "main sub-units",
        PointLevel::Equipment => "main equipment",
    }
}

/// The rates as a table, one row per enterprise, period, medium and level.
pub fn frame(rates: &[Rate]) -> PolarsResult<DataFrame> {
    let s = |f: &dyn Fn(&Rate) -> String| rates.iter().map(f).collect::<Vec<String>>();
    df!(
        "enterprise" => s(&|r| r.enterprise.clone()),
        "period" => s(&|r| r.period.clone()),
        "medium" => s(&|r| r.medium.to_string()),
        "level" => s(&|r| r.level.to_string()),
        "points" => rates.iter().map(|r| r.points).collect::<Vec<u32>>(),
        "equipped" => rates.iter().map(|r| r.equipped).collect::<Vec<u32>>(),
        "rate_percent" => rates.iter().map(Rate::percent).collect::<Vec<f64>>(),
        "required_percent" => rates.iter().map(|r| r.required_percent).collect::<Vec<Option<f64>>>(),
        "unequipped" => s(&|r| r.unequipped.join(" ")),
        "source" => s(&|r| r.source.clone()),
    )
}
