//! Carbon by the national accounting guidelines (docs/carbon.md): which emission line each
//! counter feeds, the process emissions computed from the reference activity data, and the
//! green electricity behind the non-fossil share. The factors are data under `config/`.

use std::collections::BTreeMap;

use chrono::{Datelike, NaiveDate};
use polars::prelude::*;
use readings::{Medium, Unit};

use crate::config::NonFossilMethod;
use crate::period::{Period, PeriodKind};
use crate::reference::{process, ElectricityMethod, Reference};

/// The emission line of GB/T 32150-2015 a counter's CO2 belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Co2Line {
    /// Fossil fuels burnt on site.
    Combustion,
    /// Grid electricity bought.
    PurchasedElectricity,
    /// Heat and steam bought.
    PurchasedHeat,
    /// Electricity, heat or steam supplied to others: deducted (negative).
    Exports,
    /// CO2 measured directly (CEMS); counted in the total as measured.
    Measured,
    /// Biomass fuels: reported apart, not in the total.
    BiomassMemo,
    /// No CO2 (water, on-site renewable electricity, a medium without a factor).
    None,
}

impl Co2Line {
    /// The spelling used in tables.
    pub fn as_str(self) -> &'static str {
        match self {
            Co2Line::Combustion => "combustion",
            Co2Line::PurchasedElectricity => "purchased_electricity",
            Co2Line::PurchasedHeat => "purchased_heat",
            Co2Line::Exports => "exports",
            Co2Line::Measured => "measured",
            Co2Line::BiomassMemo => "biomass_memo",
            Co2Line::None => "none",
        }
    }

    /// The line of a counter of `medium`; `exported` when it counts what the enterprise
    /// supplies out.
    pub fn of(medium: Medium, exported: bool) -> Co2Line {
        match medium {
            Medium::Electricity | Medium::Heat | Medium::Steam if exported => Co2Line::Exports,
            Medium::Electricity => Co2Line::PurchasedElectricity,
            Medium::Heat | Medium::Steam => Co2Line::PurchasedHeat,
            Medium::Co2 => Co2Line::Measured,
            Medium::Biomass => Co2Line::BiomassMemo,
            m if crate::accounts::is_fuel(m) => Co2Line::Combustion,
            _ => Co2Line::None,
        }
    }
}

/// The lines of the total, with their accounts column (biomass is a memo outside it).
pub const TOTAL_LINES: [(Co2Line, &str); 5] = [
    (Co2Line::Combustion, "co2_combustion_t"),
    (Co2Line::PurchasedElectricity, "co2_purchased_electricity_t"),
    (Co2Line::PurchasedHeat, "co2_purchased_heat_t"),
    (Co2Line::Exports, "co2_exports_t"),
    (Co2Line::Measured, "co2_measured_t"),
];

/// Per enterprise and period: the process CO2 and how it was computed, the months its method
/// needed data for and had none, the green electricity held, and what the non-fossil share
/// needs to convert it.
pub fn frame(reference: &Reference, kind: PeriodKind, from: NaiveDate, to: NaiveDate, method: ElectricityMethod, non_fossil: NonFossilMethod) -> PolarsResult<DataFrame> {
    let periods = Period::covering(kind, from, to);
    let mut cols: BTreeMap<&str, Vec<Option<f64>>> = BTreeMap::new();
    let (mut enterprise, mut period, mut method_col, mut evidence, mut missing, mut nf_method) = (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for (id, ent) in &reference.enterprises {
        let group_method = reference.process_factors.method_of(&ent.product_group);
        for p in &periods {
            let months = p.months();
            let rows: Vec<&process::ProcessRow> = reference.process.iter().filter(|r| &r.enterprise == id && months.contains(&r.month)).collect();
            let mut sum = None;
            let mut how = Vec::new();
            for r in &rows {
                if let Some((t, text)) = process::co2_of(r, &reference.process_factors) {
                    *sum.get_or_insert(0.0) += t;
                    how.push(format!("{}: {text} = {t:.6} t", r.month));
                }
            }
            let without: Vec<String> = match group_method {
                Some(_) => months.iter().filter(|m| !rows.iter().any(|r| r.month == **m)).map(|m| m.to_string()).collect(),
                None => Vec::new(),
            };
            // A group without process emissions has none; one with a method but no data has
            // an unknown amount, not zero.
            let process_t = match group_method {
                None => Some(0.0),
                Some(_) => sum,
            };
            let green_mwh: f64 = reference.green.iter().filter(|g| &g.enterprise == id && months.contains(&g.month)).map(|g| g.mwh).sum();
            let year = p.start.year();
            let kgce = reference.coefficients.kgce(Medium::Electricity, Unit::KWh, method, year, None, id).ok().map(|f| f.per_canonical);
            let grid_share = match non_fossil {
                NonFossilMethod::OwnAndGreen => Some(0.0),
                NonFossilMethod::WithGridShare => reference.coefficients.grid_non_fossil(year).map(|(r, _)| r.share),
            };
            enterprise.push(id.to_string());
            period.push(p.to_string());
            method_col.push(group_method.map_or("none", |g| g.method.as_str()));
            evidence.push(how.join("; "));
            missing.push(without.join(" "));
            nf_method.push(non_fossil.as_str());
            cols.entry("co2_process_t").or_default().push(process_t);
            cols.entry("green_kwh").or_default().push(Some(green_mwh * 1000.0));
            cols.entry("electricity_kgce_per_kwh").or_default().push(kgce);
            cols.entry("grid_non_fossil_share").or_default().push(grid_share);
        }
    }
    let mut columns = vec![
        Column::new("enterprise".into(), enterprise),
        Column::new("period".into(), period),
        Column::new("process_method".into(), method_col),
        Column::new("process_evidence".into(), evidence),
        Column::new("process_months_missing".into(), missing),
        Column::new("non_fossil_method".into(), nf_method),
    ];
    for name in ["co2_process_t", "green_kwh", "electricity_kgce_per_kwh", "grid_non_fossil_share"] {
        columns.push(Column::new(name.into(), cols.remove(name).unwrap_or_default()));
    }
    let height = columns[0].len();
    DataFrame::new(height, columns)
}
