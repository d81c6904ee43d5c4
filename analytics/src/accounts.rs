//! Energy, water and carbon accounts per enterprise and period, from counter readings and the
//! reference data (docs/accounts.md). Each counter's period consumption comes from
//! [`crate::consumption`]; coefficients are looked up per meter; polars then sums the evidence
//! into the tables an analyst reads.

use std::collections::BTreeMap;

use anyhow::Context as _;
use chrono::{Datelike, NaiveDate};
use polars::prelude::*;
use readings::{EnterpriseId, Medium, MeterId, Quality, SiteId, Unit};

use crate::carbon::{Co2Line, TOTAL_LINES};
use crate::config::NonFossilMethod;
use crate::consumption::{counter_series, CounterLimits, PeriodUse};
use crate::load::CounterReadings;
use crate::period::{Period, PeriodKind};
use crate::reference::{Direction, ElectricityMethod, MeterRole, Reference};

/// What the accounts are computed for.
#[derive(Debug, Clone, Copy)]
pub struct AccountsSpec {
    pub kind: PeriodKind,
    /// Local dates `[from, to)`; periods overlapping them are reported whole.
    pub from: NaiveDate,
    pub to: NaiveDate,
    pub method: ElectricityMethod,
    pub gap_h: f64,
    /// What the non-fossil share counts.
    pub non_fossil: NonFossilMethod,
}

/// One counter over one period: the evidence behind every account figure.
#[derive(Debug, Clone, PartialEq)]
pub struct MeterPeriod {
    pub enterprise: String,
    pub period: String,
    /// The period's first local day (the edition of a standard in force is chosen by it).
    pub period_start: NaiveDate,
    /// The site the meter is at: meters of two sites may share a name.
    pub site: String,
    pub meter: String,
    pub medium: Medium,
    pub role: MeterRole,
    pub quantity: String,
    pub unit: String,
    /// In `unit`; exported energy is negative.
    pub consumption: f64,
    /// The counter's account of the period: hours covered, gaps, excluded intervals, events.
    pub usage: PeriodUse,
    /// Rows in the period without a usable value (timeouts, exceptions, out of range), by
    /// quality.
    pub unusable_by_quality: Vec<(Quality, u32)>,
    /// The meter's calibration was due before the period ended.
    pub calibration_expired: bool,
    pub kgce_per_unit: Option<f64>,
    pub tce: f64,
    pub kg_co2_per_unit: Option<f64>,
    /// In the total: fuels, purchased electricity and heat, exports (negative), measured CO2.
    pub co2_t: f64,
    /// The emission line the CO2 belongs to.
    pub co2_line: Co2Line,
    /// Biomass CO2, reported apart and not in `co2_t`.
    pub biomass_co2_t: f64,
    /// Where the coefficients came from, and any fallback.
    pub sources: String,
}

impl MeterPeriod {
    /// Whether any readings cover part of the period (a silent meter's consumption is unknown,
    /// not zero).
    pub fn has_data(&self) -> bool {
        self.usage.covered_h + self.usage.gap_h > 0.0
    }

    /// Rows in the period without a usable value, whatever the reason.
    pub fn unusable(&self) -> u32 {
        self.unusable_by_quality.iter().map(|(_, n)| n).sum()
    }
}

/// Fuels burnt on site, whose CO2 the accounts must include.
pub fn is_fuel(m: Medium) -> bool {
    matches!(m, Medium::Coal | Medium::Coke | Medium::Diesel | Medium::Gasoline | Medium::Lpg | Medium::FuelOil | Medium::NaturalGas)
}

/// Media whose consumption is energy (GB/T 2589: comprehensive energy consumption).
pub fn is_energy(m: Medium) -> bool {
    !matches!(m, Medium::Water | Medium::Co2 | Medium::CompressedAir)
}

/// Turns counters into per-meter, per-period evidence. A counter is its enterprise, site, meter
/// and quantity. Counters of meters that the register does not list at that site are left out
/// and named in the returned notes; a registered meter (of `enterprises`, or of all when empty)
/// with no readings gets rows with no data, so its silence shows in the coverage; a counter not
/// in its quantity's canonical unit (the loaders convert) and a missing coefficient are errors.
pub fn meter_periods(counters: &[CounterReadings], reference: &Reference, spec: AccountsSpec, enterprises: &[String]) -> anyhow::Result<(Vec<MeterPeriod>, Vec<String>)> {
    let mut silent = Vec::new();
    for info in reference.meters.values() {
        let (e, quantity) = (info.enterprise.as_str(), info.counter.as_str());
        if !enterprises.is_empty() && !enterprises.iter().any(|x| x == e) {
            continue;
        }
        if !counters.iter().any(|c| c.enterprise == e && c.site == info.site.as_str() && c.meter == info.meter.as_str() && c.quantity == quantity) {
            let unit = info.counter.canonical_unit().symbol().to_owned();
            silent.push(CounterReadings { enterprise: e.to_owned(), site: info.site.to_string(), meter: info.meter.to_string(), medium: info.medium, quantity: quantity.to_owned(), unit, points: Vec::new(), unusable: Vec::new() });
        }
    }
    let counters: Vec<&CounterReadings> = counters.iter().chain(&silent).collect();
    let mut out = Vec::new();
    let mut notes = Vec::new();
    let mut missing = Vec::new();
    let mut last_report = std::time::Instant::now();
    for (done, c) in counters.iter().enumerate() {
        if last_report.elapsed() >= std::time::Duration::from_secs(5) {
            tracing::info!(counters = done, of = counters.len(), "computing consumption");
            last_report = std::time::Instant::now();
        }
        let (Ok(enterprise), Ok(site), Ok(meter)) = (c.enterprise.parse::<EnterpriseId>(), c.site.parse::<SiteId>(), c.meter.parse::<MeterId>()) else {
            notes.push(format!("{}: not a valid enterprise, site or meter id; left out", c.series()));
            continue;
        };
        let (Some(ent), Some(info)) = (reference.enterprises.get(&enterprise), reference.meters.get(&(enterprise.clone(), site.clone(), meter.clone()))) else {
            notes.push(unregistered(c, reference));
            continue;
        };
        // One counter per meter is accounted (and exported electricity is netted off); an export
        // meter's own counter is what it supplies out.
        let export_register = c.medium == Medium::Electricity && c.quantity == "active_energy_export" && info.direction == Direction::Import;
        if c.quantity != info.counter.as_str() && !export_register {
            continue;
        }
        let exported = export_register || info.direction == Direction::Export;
        // On-site renewable electricity emits nothing; its use counts towards the non-fossil share.
        let onsite = matches!(info.role, MeterRole::Generation | MeterRole::SelfUse);
        let line = if onsite { Co2Line::None } else { Co2Line::of(c.medium, exported) };
        if c.medium != info.medium {
            notes.push(format!("meter {} of {} stores {} readings but the register says {}; left out", c.meter, c.enterprise, c.medium, info.medium));
            continue;
        }
        let (unit, factor) = crate::load::to_canonical(&c.quantity, &c.unit).map_err(|e| anyhow::anyhow!("series {}: {e}", c.series()))?;
        // The limits in the register are in the canonical unit; so must the values be.
        anyhow::ensure!(factor == 1.0, "series {}: values in {} where the accounts need {unit}; load them through analytics::load, which converts", c.series(), c.unit);
        let series = counter_series(&c.points, CounterLimits { rollover: info.rollover, max_rate: info.max_rate, resolution: info.resolution });
        let sign = if exported { -1.0 } else { 1.0 };
        for period in Period::covering(spec.kind, spec.from, spec.to) {
            let (from, to) = period.utc_bounds(ent.utc_offset);
            let u = series.period(from.timestamp_millis(), to.timestamp_millis(), spec.gap_h);
            let (from_ms, to_ms) = (from.timestamp_millis(), to.timestamp_millis());
            let mut unusable_by_quality: Vec<(Quality, u32)> = Vec::new();
            for (_, q) in c.unusable.iter().filter(|(t, _)| (from_ms..to_ms).contains(t)) {
                match unusable_by_quality.iter_mut().find(|(k, _)| k == q) {
                    Some((_, n)) => *n += 1,
                    None => unusable_by_quality.push((*q, 1)),
                }
            }
            let year = period.start.year();
            let consumption = sign * u.consumption;
            let mut sources = Vec::new();
            let kgce = if is_energy(c.medium) {
                match reference.coefficients.kgce(c.medium, unit, spec.method, year, info.variant.as_deref(), &enterprise) {
                    Ok(f) => {
                        sources.push(format!("kgce: {}", f.row.source));
                        Some(f.per_canonical)
                    }
                    Err(e) => {
                        missing.push(e);
                        None
                    }
                }
            } else {
                None
            };
            let co2 = match c.medium {
                _ if onsite => None,
                Medium::Electricity => match reference.coefficients.grid(ent.grid_region, year) {
                    Ok(f) => {
                        sources.push(format!("CO2: {}", f.row.source));
                        sources.extend(f.note);
                        Some(f.per_canonical)
                    }
                    Err(e) => {
                        missing.push(e);
                        None
                    }
                },
                // A direct CO2 meter measures CO2 itself, by mass.
                Medium::Co2 => match unit.factor_to(Unit::T) {
                    Ok(f) => Some(1000.0 * f),
                    Err(_) => {
                        missing.push(format!("meter {} measures CO2 in {unit}, not a mass", c.meter));
                        None
                    }
                },
                Medium::Heat | Medium::Steam => match reference.coefficients.heat(c.medium, unit) {
                    Some(Ok(f)) => {
                        sources.push(format!("CO2: {}", f.row.source));
                        Some(f.per_canonical)
                    }
                    // Steam counted by mass has no heat factor: its enthalpy is not known here.
                    Some(Err(e)) => {
                        sources.push(format!("CO2: none ({e})"));
                        None
                    }
                    None => {
                        sources.push(format!("CO2: none for {} (no [[heat]] factor in {})", c.medium, reference.coefficients.emission_file));
                        None
                    }
                },
                Medium::Biomass => match reference.coefficients.biomass(c.medium, unit) {
                    Some(Ok(f)) => {
                        sources.push(format!("CO2 (biomass, memo): {}", f.row.source));
                        Some(f.per_canonical)
                    }
                    Some(Err(e)) => {
                        missing.push(e);
                        None
                    }
                    None => {
                        missing.push(format!("no [[biomass]] CO2 factor for biomass in {}", reference.coefficients.emission_file));
                        None
                    }
                },
                m => match reference.coefficients.fuel(m, unit) {
                    Some(Ok(f)) => {
                        sources.push(format!("CO2: {}", f.row.source));
                        Some(f.per_canonical)
                    }
                    Some(Err(e)) => {
                        missing.push(e);
                        None
                    }
                    // A fuel burnt on site emits: its factor must be in the table. Purchased
                    // heat and steam (indirect emissions) count only if a row is added.
                    None if is_fuel(m) => {
                        missing.push(format!("no CO2 emission factor for {m} in {}", reference.coefficients.emission_file));
                        None
                    }
                    None => {
                        sources.push(format!("CO2: none for {m} (no factor in the table)"));
                        None
                    }
                },
            };
            let co2_all = co2.map_or(0.0, |k| consumption * k / 1000.0);
            let biomass = line == Co2Line::BiomassMemo;
            out.push(MeterPeriod {
                enterprise: c.enterprise.clone(),
                period: period.to_string(),
                period_start: period.start,
                site: c.site.clone(),
                meter: c.meter.clone(),
                medium: c.medium,
                role: info.role,
                quantity: c.quantity.clone(),
                unit: c.unit.clone(),
                consumption,
                usage: u,
                unusable_by_quality,
                calibration_expired: info.calibration_due < period.end,
                kgce_per_unit: kgce,
                tce: kgce.map_or(0.0, |k| consumption * k / 1000.0),
                kg_co2_per_unit: co2,
                co2_t: if biomass { 0.0 } else { co2_all },
                co2_line: line,
                biomass_co2_t: if biomass { co2_all } else { 0.0 },
                sources: sources.join("; "),
            });
        }
    }
    missing.sort();
    missing.dedup();
    anyhow::ensure!(missing.is_empty(), "the coefficient tables lack what these readings need:\n  {}", missing.join("\n  "));
    Ok((out, notes))
}

/// Why a counter in the store is not accounted: its meter is not in the register, or only at
/// other sites.
fn unregistered(c: &CounterReadings, reference: &Reference) -> String {
    let elsewhere: Vec<&str> = reference.meters.values().filter(|m| m.enterprise.as_str() == c.enterprise && m.meter.as_str() == c.meter).map(|m| m.site.as_str()).collect();
    let registered = if elsewhere.is_empty() { "not in the meter register".to_owned() } else { format!("registered only at site {}", elsewhere.join(", ")) };
    format!("meter {} of {} at site {} is in the store but {registered}; its {} readings are left out", c.meter, c.enterprise, c.site, c.points.len())
}

/// The evidence as a frame, one row per counter and period.
pub fn meter_frame(rows: &[MeterPeriod]) -> PolarsResult<DataFrame> {
    let s = |f: &dyn Fn(&MeterPeriod) -> String| rows.iter().map(f).collect::<Vec<String>>();
    let f = |g: &dyn Fn(&MeterPeriod) -> f64| rows.iter().map(g).collect::<Vec<f64>>();
    let u = |g: &dyn Fn(&MeterPeriod) -> u32| rows.iter().map(g).collect::<Vec<u32>>();
    df!(
        "enterprise" => s(&|r| r.enterprise.clone()),
        "period" => s(&|r| r.period.clone()),
        "site" => s(&|r| r.site.clone()),
        "meter" => s(&|r| r.meter.clone()),
        "medium" => s(&|r| r.medium.to_string()),
        "role" => s(&|r| r.role.to_string()),
        "quantity" => s(&|r| r.quantity.clone()),
        "unit" => s(&|r| r.unit.clone()),
        "consumption" => f(&|r| r.consumption),
        "covered_h" => f(&|r| r.usage.covered_h),
        "gap_h" => f(&|r| r.usage.gap_h),
        "excluded_h" => f(&|r| r.usage.excluded_h),
        "uncovered_h" => f(&|r| r.usage.uncovered_h),
        "rollovers" => u(&|r| r.usage.rollovers),
        "resets" => u(&|r| r.usage.resets),
        "implausible" => u(&|r| r.usage.implausible),
        "glitches" => u(&|r| r.usage.glitches),
        "readings" => u(&|r| r.usage.readings),
        "unusable" => u(&|r| r.unusable()),
        "calibration_expired" => rows.iter().map(|r| r.calibration_expired).collect::<Vec<bool>>(),
        "kgce_per_unit" => rows.iter().map(|r| r.kgce_per_unit).collect::<Vec<Option<f64>>>(),
        "tce" => f(&|r| r.tce),
        "kg_co2_per_unit" => rows.iter().map(|r| r.kg_co2_per_unit).collect::<Vec<Option<f64>>>(),
        "co2_t" => f(&|r| r.co2_t),
        "co2_line" => s(&|r| r.co2_line.as_str().to_owned()),
        "biomass_co2_t" => f(&|r| r.biomass_co2_t),
        "sources" => s(&|r| r.sources.clone()),
        "has_data" => rows.iter().map(MeterPeriod::has_data).collect::<Vec<bool>>(),
    )
}

/// Consumption per enterprise, period and medium: boundary total in physical units, tce and CO2,
/// and the share the area and device sub-meters explain (metering coverage).
pub fn by_medium(meters: &DataFrame) -> PolarsResult<DataFrame> {
    let role = |r: &str| col("role").eq(lit(r));
    meters
        .clone()
        .lazy()
        .group_by([col("enterprise"), col("period"), col("medium"), col("unit")])
        .agg([
            col("consumption").filter(role("boundary")).sum().alias("boundary"),
            col("consumption").filter(role("area")).sum().alias("area_submetered"),
            col("consumption").filter(role("device")).sum().alias("device_submetered"),
            col("tce").filter(role("boundary")).sum().alias("tce"),
            col("co2_t").filter(role("boundary")).sum().alias("co2_t"),
        ])
        .with_columns([
            (col("area_submetered") / col("boundary")).alias("area_coverage"),
            (col("device_submetered") / col("boundary")).alias("device_coverage"),
        ])
        .sort(["enterprise", "period", "medium"], SortMultipleOptions::default())
        .collect()
}

/// Production per enterprise and period: the group's product (for unit-product indicators) and
/// the output value of every product.
pub fn production_frame(reference: &Reference, kind: PeriodKind, from: NaiveDate, to: NaiveDate) -> PolarsResult<DataFrame> {
    let periods = Period::covering(kind, from, to);
    let mut sums: BTreeMap<(String, String), (f64, String, f64)> = BTreeMap::new();
    for row in &reference.production {
        let first = row.month.first_day();
        let Some(period) = periods.iter().find(|p| p.start <= first && first < p.end) else { continue };
        let Some(ent) = reference.enterprises.get(&row.enterprise) else { continue };
        let period = period.to_string();
        let e = sums.entry((row.enterprise.to_string(), period)).or_insert((0.0, String::new(), 0.0));
        if row.product == ent.product_group {
            e.0 += row.quantity;
            e.1 = row.unit.clone();
        }
        e.2 += row.output_value;
    }
    df!(
        "enterprise" => sums.keys().map(|k| k.0.clone()).collect::<Vec<_>>(),
        "period" => sums.keys().map(|k| k.1.clone()).collect::<Vec<_>>(),
        "production" => sums.values().map(|v| (!v.1.is_empty()).then_some(v.0)).collect::<Vec<Option<f64>>>(),
        "product_unit" => sums.values().map(|v| v.1.clone()).collect::<Vec<_>>(),
        "output_value_10k_cny" => sums.values().map(|v| v.2).collect::<Vec<f64>>(),
    )
}

/// The accounts and intensity indicators per enterprise and period, with CO2 by emission line
/// (docs/carbon.md) and the non-fossil share; `carbon` is [`crate::carbon::frame`] of the same
/// periods.
pub fn accounts(meters: &DataFrame, production: &DataFrame, carbon: &DataFrame, reference: &Reference) -> PolarsResult<DataFrame> {
    let boundary = col("role").eq(lit("boundary"));
    let names = df!(
        "enterprise" => reference.enterprises.keys().map(|k| k.to_string()).collect::<Vec<_>>(),
        "name" => reference.enterprises.values().map(|e| e.name.clone()).collect::<Vec<_>>(),
        "product_group" => reference.enterprises.values().map(|e| e.product_group.clone()).collect::<Vec<_>>(),
    )?;
    let per_unit = |num: Expr, den: &str| when(col(den).gt(lit(0.0))).then(num / col(den)).otherwise(lit(NULL).cast(DataType::Float64));
    let line = |l: Co2Line| boundary.clone().and(col("co2_line").eq(lit(l.as_str())));
    // A sum over no counter with data is unknown, not zero: a plant whose water meter is silent
    // must not rank best for water.
    let energy = Medium::ALL.iter().filter(|m| !is_energy(**m)).fold(boundary.clone(), |acc, m| acc.and(col("medium").neq(lit(m.as_str()))));
    let mut sums = vec![
        ("energy_tce", "tce", energy),
        ("electricity_net_kwh", "consumption", boundary.clone().and(col("medium").eq(lit("electricity")))),
        ("water_m3", "consumption", boundary.clone().and(col("medium").eq(lit("water")))),
        ("co2_metered_t", "co2_t", boundary.clone()),
        ("co2_biomass_memo_t", "biomass_co2_t", line(Co2Line::BiomassMemo)),
        ("grid_electricity_kwh", "consumption", line(Co2Line::PurchasedElectricity)),
        ("onsite_generation_kwh", "consumption", col("role").eq(lit("generation"))),
        ("onsite_self_use_kwh", "consumption", col("role").eq(lit("self_use"))),
    ];
    for (l, name) in TOTAL_LINES {
        sums.push((name, "co2_t", line(l)));
    }
    let mut aggs = Vec::new();
    let mut known = Vec::new();
    for (name, value, cond) in sums {
        aggs.push(col(value).filter(cond.clone()).sum().alias(name));
        aggs.push(col("has_data").filter(cond).cast(DataType::UInt32).sum().alias(format!("{name}_counters")));
        known.push(when(col(format!("{name}_counters")).gt(lit(0))).then(col(name)).otherwise(lit(NULL).cast(DataType::Float64)).alias(name));
    }
    // Energy that counts as non-fossil, tce: on-site renewable electricity used, biomass burnt.
    aggs.push(col("tce").filter(col("role").eq(lit("self_use"))).sum().alias("self_use_tce"));
    aggs.push(col("tce").filter(boundary.clone().and(col("medium").eq(lit("biomass")))).sum().alias("biomass_tce"));
    let zero = |name: &str| col(name).fill_null(lit(0.0));
    // Green electricity counts up to the grid electricity bought in the period, never more.
    let green_counted = when(zero("green_kwh").lt(zero("grid_electricity_kwh"))).then(zero("green_kwh")).otherwise(zero("grid_electricity_kwh"));
    meters
        .clone()
        .lazy()
        .group_by([col("enterprise"), col("period")])
        .agg(aggs)
        .with_columns(known)
        .join(names.lazy(), [col("enterprise")], [col("enterprise")], JoinArgs::new(JoinType::Left))
        .join(production.clone().lazy(), [col("enterprise"), col("period")], [col("enterprise"), col("period")], JoinArgs::new(JoinType::Left))
        .join(carbon.clone().lazy(), [col("enterprise"), col("period")], [col("enterprise"), col("period")], JoinArgs::new(JoinType::Left))
        .with_columns([
            // The total (GB/T 32150-2015): combustion + process + purchased electricity and heat
            // - exports (+ CO2 measured directly); biomass stays outside. Unknown while no
            // counter had data.
            when(col("co2_metered_t").is_null()).then(lit(NULL).cast(DataType::Float64)).otherwise(col("co2_metered_t") + zero("co2_process_t")).alias("co2_t"),
            green_counted.clone().alias("green_kwh_counted"),
            (zero("self_use_tce")
                + zero("biomass_tce")
                + green_counted.clone() * zero("electricity_kgce_per_kwh") / lit(1000.0)
                + (zero("grid_electricity_kwh") - green_counted) * zero("grid_non_fossil_share") * zero("electricity_kgce_per_kwh") / lit(1000.0))
            .alias("non_fossil_tce"),
            (col("energy_tce") + zero("self_use_tce")).alias("energy_use_tce"),
        ])
        .with_columns([
            per_unit(col("energy_tce") * lit(1000.0), "production").alias("kgce_per_unit"),
            per_unit(col("energy_tce"), "output_value_10k_cny").alias("tce_per_10k_cny"),
            per_unit(col("water_m3"), "production").alias("water_m3_per_unit"),
            per_unit(col("co2_t"), "production").alias("co2_t_per_unit"),
            per_unit(col("co2_process_t"), "production").alias("co2_process_t_per_unit"),
            per_unit(col("co2_t"), "output_value_10k_cny").alias("co2_t_per_10k_cny"),
            per_unit(col("non_fossil_tce"), "energy_use_tce").alias("non_fossil_share"),
        ])
        .select([
            col("enterprise"),
            col("name"),
            col("product_group"),
            col("period"),
            col("energy_tce"),
            col("electricity_net_kwh"),
            col("water_m3"),
            col("co2_t"),
            col("co2_combustion_t"),
            col("co2_process_t"),
            col("co2_purchased_electricity_t"),
            col("co2_purchased_heat_t"),
            col("co2_exports_t"),
            col("co2_measured_t"),
            col("co2_biomass_memo_t"),
            col("process_method"),
            col("process_months_missing"),
            col("process_evidence"),
            col("production"),
            col("product_unit"),
            col("output_value_10k_cny"),
            col("kgce_per_unit"),
            col("tce_per_10k_cny"),
            col("water_m3_per_unit"),
            col("co2_t_per_unit"),
            col("co2_process_t_per_unit"),
            col("co2_t_per_10k_cny"),
            col("grid_electricity_kwh"),
            col("onsite_generation_kwh"),
            col("onsite_self_use_kwh"),
            col("green_kwh"),
            col("green_kwh_counted"),
            col("energy_use_tce"),
            col("non_fossil_tce"),
            col("non_fossil_share"),
            col("non_fossil_method"),
        ])
        .sort(["enterprise", "period"], SortMultipleOptions::default())
        .collect()
}

/// Every table of one accounts run.
pub struct Tables {
    /// One row per counter and period: the evidence.
    pub meters: DataFrame,
    pub media: DataFrame,
    pub accounts: DataFrame,
    pub quality: DataFrame,
    pub findings: DataFrame,
    pub exclusions: DataFrame,
    /// GB 17167 equipping rates per enterprise, period, medium and level (empty without a
    /// metering-points file).
    pub equipping: DataFrame,
    /// The findings as found, for grading a subset of the media.
    pub finding_list: Vec<crate::quality::Finding>,
}

impl Tables {
    /// Computes every table; the notes name counters left out.
    pub fn compute(counters: &[CounterReadings], reference: &Reference, spec: AccountsSpec, enterprises: &[String]) -> anyhow::Result<(Tables, Vec<String>)> {
        let (rows, notes) = meter_periods(counters, reference, spec, enterprises)?;
        let meters = meter_frame(&rows)?;
        let media = by_medium(&meters)?;
        let production = production_frame(reference, spec.kind, spec.from, spec.to)?;
        let carbon = crate::carbon::frame(reference, spec.kind, spec.from, spec.to, spec.method, spec.non_fossil)?;
        let accounts = accounts(&meters, &production, &carbon, reference)?;
        let periods = rows.iter().map(|r| (r.enterprise.as_str(), r.period.as_str(), r.period_start));
        let rates = crate::equipping::rates(periods, reference, &reference.quality);
        let mut finding_list = crate::quality::findings(&rows, reference, &reference.quality);
        finding_list.extend(crate::equipping::findings(&rates));
        let quality = crate::quality::graded(crate::quality::evidence(&meters)?, &finding_list, &reference.quality)?;
        let findings = crate::quality::findings_frame(&finding_list)?;
        let exclusions = crate::quality::exclusions_frame(&rows)?;
        let equipping = crate::equipping::frame(&rates)?;
        Ok((Tables { meters, media, accounts, quality, findings, exclusions, equipping, finding_list }, notes))
    }

    /// Writes each table as `DIR/{prefix}NAME.parquet` and `.csv`.
    pub fn write(&mut self, dir: &std::path::Path, prefix: &str) -> anyhow::Result<()> {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        let tables = [
            ("meters", &mut self.meters),
            ("media", &mut self.media),
            ("accounts", &mut self.accounts),
            ("quality", &mut self.quality),
            ("findings", &mut self.findings),
            ("exclusions", &mut self.exclusions),
            ("equipping", &mut self.equipping),
        ];
        for (name, df) in tables {
            write_table(dir, &format!("{prefix}{name}"), df)?;
        }
        Ok(())
    }
}

/// Writes `df` as `DIR/NAME.parquet` and `DIR/NAME.csv`.
pub fn write_table(dir: &std::path::Path, name: &str, df: &mut DataFrame) -> anyhow::Result<()> {
    let parquet = dir.join(format!("{name}.parquet"));
    let file = std::fs::File::create(&parquet).with_context(|| format!("creating {}", parquet.display()))?;
    ParquetWriter::new(file).finish(df).map_err(|e| anyhow::anyhow!("writing {}: {e}", parquet.display()))?;
    let csv = dir.join(format!("{name}.csv"));
    let mut file = std::fs::File::create(&csv).with_context(|| format!("creating {}", csv.display()))?;
    CsvWriter::new(&mut file).finish(df).map_err(|e| anyhow::anyhow!("writing {}: {e}", csv.display()))?;
    Ok(())
}
