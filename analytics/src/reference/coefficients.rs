//! Conversion coefficients to coal equivalent (GB/T 2589-2020) and CO2 emission factors, each row
//! with its source, read from TOML files under `config/coefficients/`.

use std::path::Path;

use readings::config_file::{parse_toml, ConfigError};
use readings::{EnterpriseId, Medium, Unit};
use serde::Deserialize;

use super::enterprises::GridRegion;

/// How electricity is converted to coal equivalent (GB/T 2589-2020).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum ElectricityMethod {
    /// 当量值: the heat content of electricity, 0.1229 kgce/kWh.
    Equivalent,
    /// 等价值: the coal burnt to generate it, that year's thermal-power coal rate.
    Equal,
}

impl ElectricityMethod {
    /// The spelling used in files and tables.
    pub fn as_str(self) -> &'static str {
        match self {
            ElectricityMethod::Equivalent => "equivalent",
            ElectricityMethod::Equal => "equal",
        }
    }
}

/// One row of the coal-equivalent table.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnergyRow {
    pub medium: Medium,
    pub unit: Unit,
    pub kgce_per_unit: f64,
    /// Electricity only: which method the row belongs to.
    pub method: Option<ElectricityMethod>,
    /// For the equal-value method: the data year.
    pub year: Option<i32>,
    /// A class within the medium (steam pressure, a gas's calorific value), chosen per meter.
    pub variant: Option<String>,
    /// A value measured for one enterprise (its own gas calorific value), preferred for it.
    pub enterprise: Option<EnterpriseId>,
    pub source: String,
    /// Not yet confirmed against the standard's own text.
    #[serde(default)]
    pub check: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EnergyFile {
    coefficient: Vec<EnergyRow>,
}

/// One published grid average emission factor.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GridRow {
    pub year: i32,
    pub region: GridRegion,
    pub kg_co2_per_kwh: f64,
    pub source: String,
    #[serde(default)]
    pub check: bool,
}

/// One fuel's emission factor.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FuelRow {
    pub medium: Medium,
    pub unit: Unit,
    pub kg_co2_per_unit: f64,
    pub source: String,
    #[serde(default)]
    pub check: bool,
}

/// The share of non-fossil generation in the grid's supply, for the non-fossil method that
/// credits grid electricity with it.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GridNonFossilRow {
    pub year: i32,
    /// 0 to 1.
    pub share: f64,
    pub source: String,
    #[serde(default)]
    pub check: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EmissionFile {
    grid: Vec<GridRow>,
    #[serde(default)]
    fuel: Vec<FuelRow>,
    /// Purchased (and exported) heat and steam, per unit of heat.
    #[serde(default)]
    heat: Vec<FuelRow>,
    /// Biomass fuels: their CO2 is a memo item, outside the total.
    #[serde(default)]
    biomass: Vec<FuelRow>,
    #[serde(default)]
    grid_non_fossil: Vec<GridNonFossilRow>,
}

/// The coefficient tables the accounts use.
#[derive(Debug, Clone, PartialEq)]
pub struct Coefficients {
    pub energy: Vec<EnergyRow>,
    pub grid: Vec<GridRow>,
    pub fuel: Vec<FuelRow>,
    pub heat: Vec<FuelRow>,
    pub biomass: Vec<FuelRow>,
    pub grid_non_fossil: Vec<GridNonFossilRow>,
    /// Where each table came from, for the method notes.
    pub energy_file: String,
    pub emission_file: String,
}

/// A factor into the canonical unit of a reading, and the row it came from.
#[derive(Debug, Clone, PartialEq)]
pub struct Factor<'a, R> {
    /// Per canonical unit (kWh, m3, t, GJ) of the medium.
    pub per_canonical: f64,
    pub row: &'a R,
    /// Why a fallback row was used, if one was.
    pub note: Option<String>,
}

impl Coefficients {
    /// Reads and checks both tables.
    pub fn load(energy: &Path, emission: &Path) -> Result<Coefficients, Vec<ConfigError>> {
        let mut errors = Vec::new();
        let read = |path: &Path, errors: &mut Vec<ConfigError>| match std::fs::read_to_string(path) {
            Ok(t) => Some(t),
            Err(e) => {
                errors.push(ConfigError::new(&path.display().to_string(), "", format!("cannot read the file: {e}")));
                None
            }
        };
        let (ef, xf) = (energy.display().to_string(), emission.display().to_string());
        let energy_rows = read(energy, &mut errors).and_then(|t| parse_toml::<EnergyFile>(&ef, &t).map_err(|e| errors.push(e)).ok());
        let emission_rows = read(emission, &mut errors).and_then(|t| parse_toml::<EmissionFile>(&xf, &t).map_err(|e| errors.push(e)).ok());
        let (Some(energy_rows), Some(emission_rows)) = (energy_rows, emission_rows) else { return Err(errors) };
        for (i, r) in energy_rows.coefficient.iter().enumerate() {
            let key = |k: &str| format!("coefficient[{i}].{k}");
            if !(r.kgce_per_unit.is_finite() && r.kgce_per_unit > 0.0) {
                errors.push(ConfigError::new(&ef, key("kgce_per_unit"), format!("is {}; it must be more than zero", r.kgce_per_unit)));
            }
            match (r.medium, r.method, r.year) {
                (Medium::Electricity, None, _) => errors.push(ConfigError::new(&ef, key("method"), "electricity rows need method = \"equivalent\" or \"equal\"")),
                (Medium::Electricity, Some(ElectricityMethod::Equal), None) => errors.push(ConfigError::new(&ef, key("year"), "an equal-value row needs the data year of its coal rate")),
                (m, Some(_), _) if m != Medium::Electricity => errors.push(ConfigError::new(&ef, key("method"), "only electricity rows have a method")),
                _ => {}
            }
            if r.source.trim().is_empty() {
                errors.push(ConfigError::new(&ef, key("source"), "is empty; every coefficient needs its source"));
            }
            let same = energy_rows.coefficient[..i]
                .iter()
                .position(|o| o.medium == r.medium && o.unit.dimension() == r.unit.dimension() && o.method == r.method && o.year == r.year && o.variant == r.variant && o.enterprise == r.enterprise);
            if let Some(j) = same {
                errors.push(ConfigError::new(&ef, key("medium"), format!("repeats coefficient[{j}] (same medium, method, year, variant and enterprise)")));
            }
        }
        for (i, r) in emission_rows.grid.iter().enumerate() {
            if !(r.kg_co2_per_kwh.is_finite() && r.kg_co2_per_kwh > 0.0 && r.kg_co2_per_kwh < 2.0) {
                errors.push(ConfigError::new(&xf, format!("grid[{i}].kg_co2_per_kwh"), format!("is {}; a grid factor lies between 0 and 2 kgCO2/kWh", r.kg_co2_per_kwh)));
            }
            if let Some(j) = emission_rows.grid[..i].iter().position(|o| o.year == r.year && o.region == r.region) {
                errors.push(ConfigError::new(&xf, format!("grid[{i}].region"), format!("repeats grid[{j}] ({} {})", r.year, r.region)));
            }
        }
        for (table, rows) in [("fuel", &emission_rows.fuel), ("heat", &emission_rows.heat), ("biomass", &emission_rows.biomass)] {
            for (i, r) in rows.iter().enumerate() {
                if !(r.kg_co2_per_unit.is_finite() && r.kg_co2_per_unit > 0.0) {
                    errors.push(ConfigError::new(&xf, format!("{table}[{i}].kg_co2_per_unit"), format!("is {}; it must be more than zero", r.kg_co2_per_unit)));
                }
                if r.source.trim().is_empty() {
                    errors.push(ConfigError::new(&xf, format!("{table}[{i}].source"), "is empty; every factor needs its source"));
                }
                let expected = match table {
                    "heat" => matches!(r.medium, Medium::Heat | Medium::Steam),
                    "biomass" => r.medium == Medium::Biomass,
                    _ => crate::accounts::is_fuel(r.medium),
                };
                if !expected {
                    let what = match table {
                        "heat" => "heat or steam",
                        "biomass" => "biomass",
                        _ => "a fossil fuel (coal, coke, diesel, gasoline, lpg, fuel_oil, natural_gas)",
                    };
                    errors.push(ConfigError::new(&xf, format!("{table}[{i}].medium"), format!("{} does not belong in [[{table}]]; it takes {what}", r.medium)));
                }
            }
        }
        for (i, r) in emission_rows.grid_non_fossil.iter().enumerate() {
            if !(0.0..=1.0).contains(&r.share) {
                errors.push(ConfigError::new(&xf, format!("grid_non_fossil[{i}].share"), format!("is {}; give a share from 0 to 1", r.share)));
            }
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        Ok(Coefficients {
            energy: energy_rows.coefficient,
            grid: emission_rows.grid,
            fuel: emission_rows.fuel,
            heat: emission_rows.heat,
            biomass: emission_rows.biomass,
            grid_non_fossil: emission_rows.grid_non_fossil,
            energy_file: ef,
            emission_file: xf,
        })
    }

    /// kgce per `canonical` unit (the unit the store keeps the meter's counter in) of `medium`,
    /// for a meter of `enterprise` with `variant`.
    #[allow(clippy::too_many_arguments)]
    pub fn kgce(&self, medium: Medium, canonical: Unit, method: ElectricityMethod, year: i32, variant: Option<&str>, enterprise: &EnterpriseId) -> Result<Factor<'_, EnergyRow>, String> {
        let candidates = self.energy.iter().filter(|r| {
            r.medium == medium
                && r.unit.dimension() == canonical.dimension()
                && r.variant.as_deref() == variant
                && r.enterprise.as_ref().is_none_or(|e| e == enterprise)
                && (medium != Medium::Electricity || (r.method == Some(method) && (method == ElectricityMethod::Equivalent || r.year == Some(year))))
        });
        // An enterprise's own value wins over the general one.
        let row = candidates.max_by_key(|r| r.enterprise.is_some()).ok_or_else(|| {
            let what = match (medium, method) {
                (Medium::Electricity, ElectricityMethod::Equal) => format!("electricity by the equal-value method for {year}"),
                _ => format!("{medium} in {canonical}{}", variant.map(|v| format!(" ({v})")).unwrap_or_default()),
            };
            format!("no coal-equivalent coefficient for {what} in {}", self.energy_file)
        })?;
        let per_canonical = row.kgce_per_unit * canonical.factor_to(row.unit).map_err(|e| e.to_string())?;
        Ok(Factor { per_canonical, row, note: None })
    }

    /// kgCO2 per kWh of grid electricity in `region` for data `year`: that year's regional
    /// factor, else the latest earlier (or, failing that, any) year's, said in the note.
    pub fn grid(&self, region: GridRegion, year: i32) -> Result<Factor<'_, GridRow>, String> {
        let of_region = || self.grid.iter().filter(|r| r.region == region);
        let row = of_region()
            .find(|r| r.year == year)
            .map(|r| (r, None))
            .or_else(|| {
                let fallback = of_region().filter(|r| r.year < year).max_by_key(|r| r.year).or_else(|| of_region().max_by_key(|r| r.year))?;
                Some((fallback, Some(format!("no {region} grid factor for {year}; used {}'s", fallback.year))))
            })
            .ok_or_else(|| format!("no grid emission factor for region {region} in {}", self.emission_file))?;
        Ok(Factor { per_canonical: row.0.kg_co2_per_kwh, row: row.0, note: row.1 })
    }

    /// kgCO2 per `canonical` unit of a fuel, if the table has the fuel; an error if it has it in
    /// another dimension (a factor per kg for a fuel metered by volume).
    pub fn fuel(&self, medium: Medium, canonical: Unit) -> Option<Result<Factor<'_, FuelRow>, String>> {
        Self::per_unit(&self.fuel, medium, canonical)
    }

    /// kgCO2 per `canonical` unit of purchased or exported heat or steam, as [`Self::fuel`].
    pub fn heat(&self, medium: Medium, canonical: Unit) -> Option<Result<Factor<'_, FuelRow>, String>> {
        Self::per_unit(&self.heat, medium, canonical)
    }

    /// kgCO2 per `canonical` unit of a biomass fuel (a memo item), as [`Self::fuel`].
    pub fn biomass(&self, medium: Medium, canonical: Unit) -> Option<Result<Factor<'_, FuelRow>, String>> {
        Self::per_unit(&self.biomass, medium, canonical)
    }

    /// The non-fossil share of grid supply for data `year`, else the latest earlier (or any)
    /// year's, said in the note.
    pub fn grid_non_fossil(&self, year: i32) -> Option<(&GridNonFossilRow, Option<String>)> {
        if let Some(r) = self.grid_non_fossil.iter().find(|r| r.year == year) {
            return Some((r, None));
        }
        let r = self.grid_non_fossil.iter().filter(|r| r.year < year).max_by_key(|r| r.year).or_else(|| self.grid_non_fossil.iter().max_by_key(|r| r.year))?;
        Some((r, Some(format!("no grid non-fossil share for {year}; used {}'s", r.year))))
    }

    fn per_unit(table: &[FuelRow], medium: Medium, canonical: Unit) -> Option<Result<Factor<'_, FuelRow>, String>> {
        let rows: Vec<&FuelRow> = table.iter().filter(|r| r.medium == medium).collect();
        let row = *rows.iter().find(|r| r.unit.dimension() == canonical.dimension()).or(rows.first())?;
        Some(
            canonical
                .factor_to(row.unit)
                .map_err(|_| format!("the {medium} emission factor is per {} but the meters measure it in {canonical}", row.unit))
                .map(|f| Factor { per_canonical: row.kg_co2_per_unit * f, row, note: None }),
        )
    }
}
