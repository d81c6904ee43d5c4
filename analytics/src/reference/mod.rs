//! Reference data the accounts are computed with, as files under `config/` (documented in
//! docs/reference-data.md): enterprises, meters, production, and the coefficient tables. Each
//! file is validated once; every problem names the file, the line and column or key, and what is
//! wrong.

pub mod coefficients;
pub mod csv_rows;
pub mod enterprises;
pub mod meters;
pub mod production;

use std::collections::BTreeMap;

use readings::config_file::ConfigErrors;
use readings::EnterpriseId;

pub use coefficients::{Coefficients, ElectricityMethod};
pub use enterprises::{Enterprise, GridRegion};
pub use meters::{MeterInfo, MeterRole, Register};
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
}

impl Reference {
    /// Loads and checks every file `config` names; all problems at once.
    pub fn load(config: &AnalyticsConfig) -> Result<Reference, ConfigErrors> {
        let mut errors = Vec::new();
        let coefficients = Coefficients::load(&config.energy_coefficients, &config.emission_factors).map_err(|e| errors.extend(e)).ok();
        let quality = QualityRules::load(&config.data_quality).map_err(|e| errors.extend(e)).ok();
        let enterprises = enterprises::load(&config.enterprises, config.utc_offset).map_err(|e| errors.extend(e)).ok();
        let (meters, production) = match &enterprises {
            Some(ents) => (
                meters::load(&config.meters, ents).map_err(|e| errors.extend(e)).ok(),
                production::load(&config.production, ents).map_err(|e| errors.extend(e)).ok(),
            ),
            None => (None, None),
        };
        match (enterprises, meters, production, coefficients, quality) {
            (Some(enterprises), Some(meters), Some(production), Some(coefficients), Some(quality)) if errors.is_empty() => {
                Ok(Reference { enterprises, meters, production, coefficients, quality })
            }
            _ => Err(ConfigErrors(errors)),
        }
    }
}
