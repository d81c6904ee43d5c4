//! Identifiers of enterprises, sites and meters.
//!
//! They become Parquet values and InfluxDB tags, so they are restricted to characters that need
//! no escaping anywhere: ASCII letters, digits, `.`, `_` and `-`.

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Why an identifier was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    #[error("is empty")]
    Empty,
    #[error("is {0} characters long; at most 64 are allowed")]
    TooLong(usize),
    #[error("contains {0:?}; only ASCII letters, digits, '.', '_' and '-' are allowed")]
    BadChar(char),
    #[error(
        "looks like an 18-character unified social credit code but {0:?} is not in its alphabet \
         (digits and A-Z without I, O, S, V, Z)"
    )]
    UsccChar(char),
    #[error(
        "looks like an 18-character unified social credit code but its check character is {found:?}; \
         GB 32100-2015 gives {expected:?} for the first 17"
    )]
    UsccCheck { found: char, expected: char },
}

fn check_token(s: &str) -> Result<(), IdError> {
    if s.is_empty() {
        return Err(IdError::Empty);
    }
    if s.len() > 64 {
        return Err(IdError::TooLong(s.len()));
    }
    match s.chars().find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))) {
        Some(c) => Err(IdError::BadChar(c)),
        None => Ok(()),
    }
}

const USCC_ALPHABET: &[u8; 31] = b"0123456789ABCDEFGHJKLMNPQRTUWXY";
const USCC_WEIGHTS: [u32; 17] = [1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28];

/// The check character GB 32100-2015 assigns to the first 17 characters of a unified social
/// credit code, or the first character outside its alphabet.
pub fn uscc_check_char(first17: &str) -> Result<char, IdError> {
    let mut sum = 0u32;
    for (c, w) in first17.chars().zip(USCC_WEIGHTS) {
        let v = USCC_ALPHABET.iter().position(|&a| a as char == c).ok_or(IdError::UsccChar(c))?;
        sum += v as u32 * w;
    }
    let check = (31 - sum % 31) % 31;
    Ok(USCC_ALPHABET[check as usize] as char)
}

/// An enterprise: its unified social credit code where known (checksum verified), else a local id.
///
/// Ids are shared (`Arc<str>`) because every reading carries three of them.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EnterpriseId(Arc<str>);

impl EnterpriseId {
    /// True when the id is a (verified) unified social credit code.
    pub fn is_uscc(&self) -> bool {
        looks_like_uscc(&self.0)
    }
    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

fn looks_like_uscc(s: &str) -> bool {
    s.len() == 18 && s.chars().all(|c| c.is_ascii_digit() || c.is_ascii_uppercase())
}

impl FromStr for EnterpriseId {
    type Err = IdError;
    fn from_str(s: &str) -> Result<Self, IdError> {
        check_token(s)?;
        if looks_like_uscc(s) {
            let expected = uscc_check_char(&s[..17])?;
            let found = s.chars().nth(17).unwrap_or_default();
            if !USCC_ALPHABET.contains(&(found as u8)) {
                return Err(IdError::UsccChar(found));
            }
            if found != expected {
                return Err(IdError::UsccCheck { found, expected });
            }
        }
        Ok(Self(Arc::from(s)))
    }
}

macro_rules! token_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(Arc<str>);

        impl $name {
            /// The id as text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl FromStr for $name {
            type Err = IdError;
            fn from_str(s: &str) -> Result<Self, IdError> {
                check_token(s)?;
                Ok(Self(Arc::from(s)))
            }
        }
    };
}

token_id!(
    /// A site (plant, workshop, building) of an enterprise.
    SiteId
);
token_id!(
    /// One instrument; unique within a site.
    MeterId
);

macro_rules! id_common {
    ($($name:ident),*) => {$(
        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(&self.0)
            }
        }
        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                s.parse().map_err(|e: IdError| serde::de::Error::custom(format!("{s:?} {e}")))
            }
        }
    )*};
}
id_common!(EnterpriseId, SiteId, MeterId);

#[cfg(test)]
mod tests {
    use super::*;

    // By hand: 9*1 + 1*3 + 3*9 + 5*27 + 1*26 + M(21)*20 + 1*8 + Y(30)*30 + 4*28 = 1640,
    // 1640 mod 31 = 28, 31 - 28 = 3 -> '3'.
    #[test]
    fn uscc_check_character_by_hand() {
        assert_eq!(uscc_check_char("91350100M000100Y4").unwrap(), '3');
        assert!("91350100M000100Y43".parse::<EnterpriseId>().unwrap().is_uscc());
    }

    #[test]
    fn uscc_wrong_check_character_is_named() {
        let err = "91350100M000100Y47".parse::<EnterpriseId>().unwrap_err();
        assert_eq!(err, IdError::UsccCheck { found: '7', expected: '3' });
    }

    #[test]
    fn uscc_letters_outside_alphabet() {
        let err = "9135010OM000100Y43".parse::<EnterpriseId>().unwrap_err();
        assert_eq!(err, IdError::UsccChar('O'));
    }

    #[test]
    fn local_ids_and_bad_characters() {
        assert!("plant-7".parse::<EnterpriseId>().is_ok());
        assert_eq!("a b".parse::<MeterId>().unwrap_err(), IdError::BadChar(' '));
        assert_eq!("".parse::<SiteId>().unwrap_err(), IdError::Empty);
        assert_eq!("x".repeat(65).parse::<SiteId>().unwrap_err(), IdError::TooLong(65));
    }
}
