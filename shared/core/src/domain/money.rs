//! Money in US dollars, kept exactly as whole micro-dollars (millionths of a dollar): a
//! budget, a price per million tokens, the cost of a call.

use std::fmt;
use std::iter::Sum;
use std::ops::Add;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// US dollars as micro-dollars. In JSON a number of dollars with at most 6 decimals
/// (`12.5`, `0.075`); shown as `$12.50`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Usd(u64);

/// Micro-dollars in a dollar.
const MICROS: u64 = 1_000_000;

/// The largest amount read from JSON: a billion dollars (exact in an `f64` at 6 decimals).
const MAX_DOLLARS: f64 = 1e9;

impl Usd {
    pub const ZERO: Usd = Usd(0);

    pub const fn from_micros(micros: u64) -> Self {
        Usd(micros)
    }

    /// Whole dollars and cents, e.g. `Usd::from_cents(1250)` is `$12.50`.
    pub const fn from_cents(cents: u64) -> Self {
        Usd(cents.saturating_mul(10_000))
    }

    pub const fn micros(self) -> u64 {
        self.0
    }

    pub const fn saturating_add(self, other: Usd) -> Usd {
        Usd(self.0.saturating_add(other.0))
    }

    /// A JSON number of dollars: finite, not negative, at most 6 decimals, at most a
    /// billion. The error says what is wrong, for a field-level message.
    pub fn from_json_number(n: &serde_json::Number) -> Result<Usd, String> {
        if let Some(whole) = n.as_u64() {
            return match whole.checked_mul(MICROS) {
                Some(micros) if whole as f64 <= MAX_DOLLARS => Ok(Usd(micros)),
                _ => Err("must be at most 1000000000 (dollars)".into()),
            };
        }
        let x = n.as_f64().ok_or("must be a number of dollars")?;
        Usd::from_dollars(x)
    }

    /// Dollars as a float, with the same rules as [`Usd::from_json_number`].
    pub fn from_dollars(x: f64) -> Result<Usd, String> {
        if !x.is_finite() || x < 0.0 {
            return Err("must be a number of dollars, 0 or more".into());
        }
        if x > MAX_DOLLARS {
            return Err("must be at most 1000000000 (dollars)".into());
        }
        let micros = (x * MICROS as f64).round();
        // Division is correctly rounded: an amount with at most 6 decimals is the nearest
        // double to micros/10^6, as its literal was; more decimals differ.
        if micros / MICROS as f64 != x {
            return Err("must have at most 6 decimals".into());
        }
        // In range: 0 <= micros <= 10^15, a whole number.
        Ok(Usd(micros as u64))
    }
}

impl fmt::Display for Usd {
    /// `$12.50`, `$0.075`, `$3.00`: at least two decimals, more only when needed.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (dollars, micros) = (self.0 / MICROS, self.0 % MICROS);
        let frac = format!("{micros:06}");
        let frac = frac.trim_end_matches('0');
        write!(f, "${dollars}.{frac:0<2}")
    }
}

impl Add for Usd {
    type Output = Usd;
    fn add(self, other: Usd) -> Usd {
        self.saturating_add(other)
    }
}

impl Sum for Usd {
    fn sum<I: Iterator<Item = Usd>>(iter: I) -> Usd {
        iter.fold(Usd::ZERO, Usd::saturating_add)
    }
}

impl Serialize for Usd {
    /// A whole number of dollars as an integer (`20`), else a decimal (`12.5`).
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if self.0.is_multiple_of(MICROS) {
            s.serialize_u64(self.0 / MICROS)
        } else {
            // Exact enough: at most 10^15 micros are read from JSON.
            s.serialize_f64(self.0 as f64 / MICROS as f64)
        }
    }
}

impl<'de> Deserialize<'de> for Usd {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let n = serde_json::Number::deserialize(d)?;
        Usd::from_json_number(&n).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // tests

    use super::*;

    fn parse(json: &str) -> Result<Usd, String> {
        let n: serde_json::Number = serde_json::from_str(json).unwrap();
        Usd::from_json_number(&n)
    }

    #[test]
    fn reads_dollars_with_up_to_six_decimals() {
        assert_eq!(parse("20").unwrap(), Usd::from_micros(20_000_000));
        assert_eq!(parse("12.5").unwrap(), Usd::from_cents(1250));
        assert_eq!(parse("0.075").unwrap(), Usd::from_micros(75_000));
        assert_eq!(parse("0.000001").unwrap(), Usd::from_micros(1));
        assert_eq!(parse("0.1").unwrap(), Usd::from_micros(100_000));
        assert_eq!(parse("0").unwrap(), Usd::ZERO);
    }

    #[test]
    fn refuses_negative_too_precise_and_huge_amounts() {
        assert!(parse("-1").unwrap_err().contains("0 or more"));
        assert!(parse("0.0000001").unwrap_err().contains("6 decimals"));
        assert!(parse("1.1234567").unwrap_err().contains("6 decimals"));
        assert!(parse("1e12").unwrap_err().contains("at most"));
        assert!(parse("99999999999999").unwrap_err().contains("at most"));
        assert!(serde_json::from_str::<Usd>("\"12\"").is_err());
    }

    #[test]
    fn shows_dollars_and_cents() {
        assert_eq!(Usd::from_cents(1250).to_string(), "$12.50");
        assert_eq!(Usd::from_micros(3_000_000).to_string(), "$3.00");
        assert_eq!(Usd::from_micros(75_000).to_string(), "$0.075");
        assert_eq!(Usd::from_micros(1).to_string(), "$0.000001");
        assert_eq!(Usd::ZERO.to_string(), "$0.00");
    }

    #[test]
    fn serialises_as_a_number_that_reads_back() {
        for usd in
            [Usd::from_cents(2000), Usd::from_cents(1250), Usd::from_micros(75_000), Usd::from_micros(1)]
        {
            let json = serde_json::to_string(&usd).unwrap();
            assert_eq!(serde_json::from_str::<Usd>(&json).unwrap(), usd, "{json}");
        }
        assert_eq!(serde_json::to_string(&Usd::from_cents(2000)).unwrap(), "20");
        assert_eq!(serde_json::to_string(&Usd::from_cents(1250)).unwrap(), "12.5");
    }

    #[test]
    fn adds_and_sums() {
        let total: Usd = [Usd::from_cents(1), Usd::from_cents(2)].into_iter().sum();
        assert_eq!(total, Usd::from_cents(3));
        assert_eq!(Usd::from_micros(u64::MAX) + Usd::from_micros(1), Usd::from_micros(u64::MAX));
    }
}
