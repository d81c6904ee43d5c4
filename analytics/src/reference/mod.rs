//! Reference data the accounts are computed with, as files under `config/` (documented in
//! docs/reference-data.md): enterprises, meters, production, and the coefficient tables. Each
//! file is validated once; every problem names the file, the line and column or key, and what is
//! wrong.

pub mod coefficients;
pub mod csv_rows;
pub mod enterprises;
pub mod green;
pub mod meters;
pub mod metering_points;
pub mod process;
pub mod production;

use std::collections::BTreeMap;

use readings::config_file::ConfigErrors;
use readings::EnterpriseId;

pub use coefficients::{Coefficients, ElectricityMethod};
pub use enterprises::{Enterprise, GridRegion, Practices};
pub use green::{GreenKind, GreenRow};
pub use meters::{Direction, MeterInfo, MeterRole, Register, Renewable};
pub use metering_points::{MeteringPoint, PointLevel};
pub use process::{ProcessFactors, ProcessRow};
pub use production::ProductionRow;

use crate::config::AnalyticsConfig;
use crate::quality::QualityRules;

/// Everything the accounts need besides the readings.
#[derive(Debug, Clone)]
pub struct Reference {
    pub enterprises: BTreeMap<EnterpriseId, Enterprise>,
    pub meters: Register,
    pub production: Vec<ProductionRow>,
    pub coefficients: Coefficients,
    pub quality: QualityRules,
    /// Process-emission methods per product group (empty when the config names no file).
    pub process_factors: ProcessFactors,
    /// Activity data for the process emissions.
    pub process: Vec<ProcessRow>,
    /// Green electricity certificates and green power bought.
    pub green: Vec<GreenRow>,
    /// The flows each enterprise must meter (empty when the config names no file).
    pub points: Vec<MeteringPoint>,
}

impl Reference {
    /// Loads and checks every file `config` names; all problems at once.
    pub fn load(config: &AnalyticsConfig) -> Result<Reference, ConfigErrors> {
        let mut errors = Vec::new();
        let coefficients = Coefficients::load(&config.energy_coefficients, &config.emission_factors).map_err(|e| errors.extend(e)).ok();
        let quality = QualityRules::load(&config.data_quality).map_err(|e| errors.extend(e)).ok();
        let enterprises = enterprises::load(&config.enterprises, config.utc_offset).map_err(|e| errors.extend(e)).ok();
        let process_factors = match &config.process_emissions {
            Some(p) => ProcessFactors::load(p).map_err(|e| errors.extend(e)).ok(),
            None => Some(ProcessFactors::default()),
        };
        let (meters, production, process, green) = match &enterprises {
            Some(ents) => (
                meters::load(&config.meters, ents).map_err(|e| errors.extend(e)).ok(),
                production::load(&config.production, ents).map_err(|e| errors.extend(e)).ok(),
                match (&config.process_inputs, &process_factors) {
                    (Some(p), Some(f)) => process::load(p, ents, f).map_err(|e| errors.extend(e)).ok(),
                    (Some(_), None) => None,
                    (None, _) => Some(Vec::new()),
                },
                match &config.green_electricity {
                    Some(p) => green::load(p, ents).map_err(|e| errors.extend(e)).ok(),
                    None => Some(Vec::new()),
                },
            ),
            None => (None, None, None, None),
        };
        let points = match (&config.metering_points, &enterprises, &meters) {
            (None, _, _) => Some(Vec::new()),
            (Some(p), Some(ents), Some(register)) => metering_points::load(p, ents, register).map_err(|e| errors.extend(e)).ok(),
            (Some(_), _, _) => None,
        };
        match (enterprises, meters, production, coefficients, quality, process_factors, process, green, points) {
            (Some(enterprises), Some(meters), Some(production), Some(coefficients), Some(quality), Some(process_factors), Some(process), Some(green), Some(points)) if errors.is_empty() => {
                Ok(Reference { enterprises, meters, production, coefficients, quality, process_factors, process, green, points })
            }
            _ => Err(ConfigErrors(errors)),
        }
    }
}
