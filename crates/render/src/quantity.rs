//! Kubernetes resource quantities (`6Gi`, `512Mi`, `1G`, `100k`, `1.5Gi`, `1e9`) read as
//! exact byte counts, and byte counts written in a form `mysqld` accepts.
//!
//! The two notations disagree: in Kubernetes `G` means 10^9 and `Gi` 2^30, while `mysqld`
//! reads `G` as 2^30 and rejects `Gi`. So a quantity is parsed with Kubernetes meaning and
//! written back either with a 1024-based `K`/`M`/`G` suffix when that is exact, or as a
//! plain byte count. `6Gi` becomes `6G`; `1.5Gi` becomes `1536M`. (Values already in
//! mysqld's own syntax, like `1G`, never reach this module: see `conf_value`.)

use std::fmt;

/// Why a string is not a usable size.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QuantityError {
    #[error("`{0}` is empty; write a size such as `6Gi`, `512Mi` or `1073741824`")]
    Empty(String),
    #[error(
        "`{0}` is not a Kubernetes quantity; write digits with an optional suffix Ki, Mi, Gi, Ti, Pi, Ei (1024-based) or k, M, G, T, P, E (1000-based), e.g. `6Gi`"
    )]
    Syntax(String),
    #[error("`{0}` is negative; a size must be zero or more")]
    Negative(String),
    #[error("`{0}` is too large for a byte count")]
    TooLarge(String),
}

/// An exact number of bytes, as parsed from a quantity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Bytes(pub u64);

const KIB: u64 = 1024;
const MIB: u64 = 1024 * KIB;
const GIB: u64 = 1024 * MIB;

impl Bytes {
    /// The `mysqld` spelling: the largest 1024-based suffix (`G`, `M`, `K`) that divides
    /// exactly, else plain bytes. `T` is avoided because MySQL 5.7 does not accept it.
    pub fn to_mysqld(self) -> String {
        let n = self.0;
        if n == 0 {
            return "0".to_string();
        }
        for (unit, suffix) in [(GIB, "G"), (MIB, "M"), (KIB, "K")] {
            if n.is_multiple_of(unit) {
                return format!("{}{suffix}", n / unit);
            }
        }
        n.to_string()
    }

    /// Presslabs' rounding for computed defaults: whole GiB from 1 GiB up, else whole MiB
    /// (rounded down), so adopted clusters get byte-identical `my.cnf` values.
    pub fn humanize_presslabs(self) -> String {
        if self.0 < GIB {
            format!("{}M", self.0 / MIB)
        } else {
            format!("{}G", self.0 / GIB)
        }
    }
}

impl fmt::Display for Bytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// Parses a Kubernetes quantity into bytes. Fractions are rounded up to a whole byte,
/// as Kubernetes' `Quantity.Value()` does.
pub fn parse_quantity(input: &str) -> Result<Bytes, QuantityError> {
    let s = input.trim();
    if s.is_empty() {
        return Err(QuantityError::Empty(input.to_string()));
    }
    let syntax = || QuantityError::Syntax(input.to_string());
    let too_large = || QuantityError::TooLarge(input.to_string());

    let (negative, rest) = match s.as_bytes()[0] {
        b'-' => (true, &s[1..]),
        b'+' => (false, &s[1..]),
        _ => (false, s),
    };
    let number_end = rest
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(rest.len());
    let (number, suffix) = rest.split_at(number_end);
    let (int_part, frac_part) = match number.split_once('.') {
        Some((i, f)) => (i, f),
        None => (number, ""),
    };
    if (int_part.is_empty() && frac_part.is_empty()) || frac_part.contains('.') {
        return Err(syntax());
    }

    // value = mantissa * 2^bin_exp * 10^dec_exp / 10^frac_len
    let (bin_exp, mut dec_exp): (u32, i64) = match suffix {
        "" => (0, 0),
        "Ki" => (10, 0),
        "Mi" => (20, 0),
        "Gi" => (30, 0),
        "Ti" => (40, 0),
        "Pi" => (50, 0),
        "Ei" => (60, 0),
        "m" => (0, -3),
        "k" => (0, 3),
        "M" => (0, 6),
        "G" => (0, 9),
        "T" => (0, 12),
        "P" => (0, 15),
        "E" => (0, 18),
        other => {
            let exp = other
                .strip_prefix('e')
                .or_else(|| other.strip_prefix('E'))
                .ok_or_else(syntax)?;
            let digits = exp.strip_prefix(['+', '-']).unwrap_or(exp);
            if digits.is_empty() || !digits.chars().all(|c| c.is_ascii_digit()) {
                return Err(syntax());
            }
            (0, exp.parse::<i64>().map_err(|_| too_large())?)
        }
    };
    if negative && (int_part.chars().chain(frac_part.chars())).any(|c| c != '0') {
        return Err(QuantityError::Negative(input.to_string()));
    }

    let digits: String = format!("{int_part}{frac_part}");
    let digits = digits.trim_start_matches('0');
    if digits.len() > 30 {
        return Err(too_large());
    }
    let mut mantissa: u128 = if digits.is_empty() {
        0
    } else {
        digits.parse().map_err(|_| syntax())?
    };
    dec_exp -= frac_part.len() as i64;
    if mantissa == 0 {
        return Ok(Bytes(0));
    }
    mantissa = mantissa
        .checked_shl(bin_exp)
        .filter(|m| m >> bin_exp == mantissa)
        .ok_or_else(too_large)?;
    let value = if dec_exp >= 0 {
        let factor = 10u128
            .checked_pow(u32::try_from(dec_exp).map_err(|_| too_large())?)
            .ok_or_else(too_large)?;
        mantissa.checked_mul(factor).ok_or_else(too_large)?
    } else {
        let neg = u32::try_from(-dec_exp).map_err(|_| too_large())?;
        match 10u128.checked_pow(neg) {
            Some(divisor) => mantissa.div_ceil(divisor),
            // the divisor exceeds any mantissa: a positive fraction of a byte rounds up to 1
            None => 1,
        }
    };
    u64::try_from(value).map(Bytes).map_err(|_| too_large())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b(s: &str) -> u64 {
        parse_quantity(s).unwrap().0
    }

    #[test]
    fn binary_suffixes_are_powers_of_1024() {
        assert_eq!(b("1Ki"), 1024);
        assert_eq!(b("512Mi"), 512 * 1024 * 1024);
        assert_eq!(b("6Gi"), 6 * 1024 * 1024 * 1024);
        assert_eq!(b("1Ti"), 1u64 << 40);
        assert_eq!(b("2Pi"), 2u64 << 50);
        assert_eq!(b("1Ei"), 1u64 << 60);
    }

    #[test]
    fn decimal_suffixes_are_powers_of_1000() {
        assert_eq!(b("100k"), 100_000);
        assert_eq!(b("1M"), 1_000_000);
        assert_eq!(b("1G"), 1_000_000_000);
        assert_eq!(b("3T"), 3_000_000_000_000);
        assert_eq!(b("1P"), 10u64.pow(15));
        assert_eq!(b("1E"), 10u64.pow(18));
        assert_eq!(b("1073741824"), 1 << 30);
        assert_eq!(b("0"), 0);
    }

    #[test]
    fn fractions_and_exponents() {
        assert_eq!(b("1.5Gi"), 3 << 29);
        assert_eq!(b("0.5Ki"), 512);
        assert_eq!(b("1e9"), 1_000_000_000);
        assert_eq!(b("1E3"), 1000);
        assert_eq!(b("12e-1"), 2, "1.2 bytes rounds up");
        assert_eq!(b("1500m"), 2, "1.5 bytes rounds up");
        assert_eq!(b(".5k"), 500);
        assert_eq!(b("+4Mi"), 4 << 20);
        assert_eq!(b(" 4Mi "), 4 << 20);
        assert_eq!(b("1e-400"), 1);
    }

    #[test]
    fn rejects_what_kubernetes_rejects() {
        for bad in [
            "", "Gi", "6GiB", "6gi", "6 Gi", "1.2.3", "abc", "6K", "1e", "1e+", "0x10", ".",
        ] {
            assert!(parse_quantity(bad).is_err(), "{bad:?} should be rejected");
        }
        assert!(matches!(
            parse_quantity("-1Gi"),
            Err(QuantityError::Negative(_))
        ));
        assert_eq!(b("-0"), 0);
        assert!(matches!(
            parse_quantity("20Ei"),
            Err(QuantityError::TooLarge(_))
        ));
        assert!(matches!(
            parse_quantity("1e30"),
            Err(QuantityError::TooLarge(_))
        ));
        assert!(matches!(
            parse_quantity("1e99999999999999999999"),
            Err(QuantityError::TooLarge(_))
        ));
    }

    #[test]
    fn errors_name_the_value_and_the_fix() {
        let msg = parse_quantity("6GiB").unwrap_err().to_string();
        assert!(msg.contains("`6GiB`") && msg.contains("Gi"), "{msg}");
    }

    #[test]
    fn mysqld_spelling_uses_exact_1024_suffixes() {
        assert_eq!(Bytes(6 << 30).to_mysqld(), "6G");
        assert_eq!(Bytes(512 << 20).to_mysqld(), "512M");
        assert_eq!(Bytes(1536 << 20).to_mysqld(), "1536M");
        assert_eq!(Bytes(3 << 10).to_mysqld(), "3K");
        assert_eq!(Bytes(1_000_000_000).to_mysqld(), "1000000000");
        assert_eq!(Bytes(100_000).to_mysqld(), "100000");
        assert_eq!(Bytes(0).to_mysqld(), "0");
        assert_eq!(Bytes(2u64 << 40).to_mysqld(), "2048G");
    }

    #[test]
    fn presslabs_humanize_rounds_down_to_m_or_g() {
        assert_eq!(Bytes(12 << 30).humanize_presslabs(), "12G");
        assert_eq!(Bytes((3 << 30) / 2).humanize_presslabs(), "1G");
        assert_eq!(Bytes(128 << 20).humanize_presslabs(), "128M");
        assert_eq!(Bytes((1 << 30) - 1).humanize_presslabs(), "1023M");
    }
}
