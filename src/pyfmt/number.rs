//! Python's `int` and `float` as `json.loads` builds them from JSON number
//! text, with CPython's exact mixed comparisons (`2**53 + 1 != 2.0**53`)
//! and the few operations unittest's messages need.

use std::cmp::Ordering;

use serde_json::Value;

/// An `int` of any size: sign and decimal magnitude without leading zeros
/// (`"0"` for zero, which is never negative).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Int {
    neg: bool,
    mag: String,
}

/// A JSON number (or a bool, which Python treats as an int) as Python sees it.
#[derive(Clone, Debug)]
pub(crate) enum Num {
    Int(Int),
    Float(f64),
}

impl Int {
    /// Parses `-?[0-9]+`; `None` for anything else.
    fn parse(text: &str) -> Option<Int> {
        let (neg, digits) = match text.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, text),
        };
        if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let trimmed = digits.trim_start_matches('0');
        let mag = if trimmed.is_empty() { "0" } else { trimmed };
        Some(Int { neg: neg && mag != "0", mag: mag.to_string() })
    }

    fn small(n: u8) -> Int {
        Int { neg: false, mag: n.to_string() }
    }

    pub(crate) fn is_zero(&self) -> bool {
        self.mag == "0"
    }

    /// Python's `float(i)`: correctly rounded; `None` where Python raises
    /// `OverflowError`.
    fn to_f64(&self) -> Option<f64> {
        let f: f64 = self.mag.parse().ok()?;
        f.is_finite().then_some(if self.neg { -f } else { f })
    }

    /// `|self - other|`.
    fn abs_diff(&self, other: &Int) -> Int {
        let mag = if self.neg == other.neg {
            match cmp_mag(&self.mag, &other.mag) {
                Ordering::Less => sub_mag(&other.mag, &self.mag),
                _ => sub_mag(&self.mag, &other.mag),
            }
        } else {
            add_mag(&self.mag, &other.mag)
        };
        Int { neg: false, mag }
    }
}

impl std::fmt::Display for Int {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.neg {
            f.write_str("-")?;
        }
        f.write_str(&self.mag)
    }
}

impl Ord for Int {
    fn cmp(&self, other: &Int) -> Ordering {
        match (self.neg, other.neg) {
            (false, true) => Ordering::Greater,
            (true, false) => Ordering::Less,
            (false, false) => cmp_mag(&self.mag, &other.mag),
            (true, true) => cmp_mag(&other.mag, &self.mag),
        }
    }
}

impl PartialOrd for Int {
    fn partial_cmp(&self, other: &Int) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// Compares two magnitudes without leading zeros.
fn cmp_mag(a: &str, b: &str) -> Ordering {
    a.len().cmp(&b.len()).then_with(|| a.cmp(b))
}

fn add_mag(a: &str, b: &str) -> String {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let mut digits = Vec::with_capacity(a.len().max(b.len()) + 1);
    let mut carry = 0;
    for k in 0..a.len().max(b.len()) {
        let da = if k < a.len() { a[a.len() - 1 - k] - b'0' } else { 0 };
        let db = if k < b.len() { b[b.len() - 1 - k] - b'0' } else { 0 };
        let s = da + db + carry;
        digits.push(b'0' + s % 10);
        carry = s / 10;
    }
    if carry > 0 {
        digits.push(b'0' + carry);
    }
    finish_mag(digits)
}

/// `a - b` for magnitudes with `a >= b`.
fn sub_mag(a: &str, b: &str) -> String {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let mut digits = Vec::with_capacity(a.len());
    let mut borrow = 0;
    for k in 0..a.len() {
        let da = i16::from(a[a.len() - 1 - k] - b'0');
        let db = if k < b.len() { i16::from(b[b.len() - 1 - k] - b'0') } else { 0 };
        let mut d = da - db - borrow;
        borrow = i16::from(d < 0);
        if d < 0 {
            d += 10;
        }
        digits.push(b'0' + d as u8);
    }
    finish_mag(digits)
}

/// Little-endian ASCII digits to a magnitude without leading zeros.
fn finish_mag(mut digits: Vec<u8>) -> String {
    while digits.len() > 1 && digits.last() == Some(&b'0') {
        digits.pop();
    }
    digits.reverse();
    String::from_utf8(digits).unwrap_or_default()
}

/// The number a JSON value stands for in Python, if it is one: a number
/// whose text has no `.`, `e` or `E` is an `int`, any other a `float`;
/// `True` and `False` are the ints 1 and 0.
pub(crate) fn num(v: &Value) -> Option<Num> {
    match v {
        Value::Bool(b) => Some(Num::Int(Int::small(u8::from(*b)))),
        Value::Number(n) => {
            let text = n.to_string();
            if text.contains(['.', 'e', 'E']) {
                text.parse().ok().map(Num::Float)
            } else {
                Int::parse(&text).map(Num::Int)
            }
        }
        _ => None,
    }
}

/// The exact integer value of an integral, finite float.
fn integral_float(t: f64) -> Int {
    // `{:.0}` prints a float's exact decimal value, rounded to an integer;
    // `t` is already one.
    Int::parse(&format!("{t:.0}")).unwrap_or_else(|| Int::small(0))
}

/// CPython's `float_richcompare` for an int and a float: exact, however
/// large the int.
fn cmp_int_float(i: &Int, f: f64) -> Option<Ordering> {
    if f.is_nan() {
        return None;
    }
    if f.is_infinite() {
        return Some(if f > 0.0 { Ordering::Less } else { Ordering::Greater });
    }
    let t = f.trunc();
    Some(i.cmp(&integral_float(t)).then(if f > t {
        Ordering::Less
    } else if f < t {
        Ordering::Greater
    } else {
        Ordering::Equal
    }))
}

/// Python's ordering of two numbers; `None` when a NaN is involved.
pub(crate) fn partial_cmp(a: &Num, b: &Num) -> Option<Ordering> {
    match (a, b) {
        (Num::Int(x), Num::Int(y)) => Some(x.cmp(y)),
        (Num::Int(i), Num::Float(f)) => cmp_int_float(i, *f),
        (Num::Float(f), Num::Int(i)) => cmp_int_float(i, *f).map(Ordering::reverse),
        (Num::Float(x), Num::Float(y)) => x.partial_cmp(y),
    }
}

/// Python's `abs(a - b)`; `None` where Python raises `OverflowError`
/// (an int too large to convert to float).
pub(crate) fn abs_diff(a: &Num, b: &Num) -> Option<Num> {
    let float = |n: &Num| match n {
        Num::Int(i) => i.to_f64(),
        Num::Float(f) => Some(*f),
    };
    match (a, b) {
        (Num::Int(x), Num::Int(y)) => Some(Num::Int(x.abs_diff(y))),
        _ => Some(Num::Float((float(a)? - float(b)?).abs())),
    }
}

/// Python's `round(d, places) == 0` for a non-negative `d`: true when
/// `d <= 0.5 * 10**-places` (an exact tie rounds to even, i.e. to zero).
pub(crate) fn rounds_to_zero(d: &Num, places: i32) -> bool {
    // Beyond these, every finite float and every int json.loads accepts
    // (at most 4300 digits) lands on the same side as at the bound.
    let places = places.clamp(-5000, 5000);
    let digits = match d {
        Num::Int(i) => i.mag.clone(),
        Num::Float(f) if !f.is_finite() => return false,
        // A float's exact decimal expansion has at most 1074 fraction digits.
        Num::Float(f) => format!("{:.1100}", f.abs()),
    };
    let half_unit = if places >= 0 {
        format!("0.{}5", "0".repeat(places as usize))
    } else {
        format!("5{}", "0".repeat((-places - 1) as usize))
    };
    cmp_decimal(&digits, &half_unit) != Ordering::Greater
}

/// Compares two non-negative decimals `int[.frac]`.
fn cmp_decimal(a: &str, b: &str) -> Ordering {
    let split = |s: &'_ str| -> (String, String) {
        let (int, frac) = s.split_once('.').unwrap_or((s, ""));
        let int = int.trim_start_matches('0');
        (int.to_string(), frac.trim_end_matches('0').to_string())
    };
    let ((ai, af), (bi, bf)) = (split(a), split(b));
    cmp_mag(&ai, &bi).then_with(|| af.cmp(&bf))
}

/// Python's repr of a number.
pub(crate) fn repr(n: &Num) -> String {
    match n {
        Num::Int(i) => i.to_string(),
        Num::Float(f) => crate::json::py_float_repr(*f),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn int(s: &str) -> Int {
        Int::parse(s).unwrap()
    }

    #[test]
    fn int_arithmetic() {
        assert_eq!(int("-0").to_string(), "0");
        assert_eq!(int("007").to_string(), "7");
        assert_eq!(int("1000").abs_diff(&int("1")).to_string(), "999");
        assert_eq!(int("-5").abs_diff(&int("99999999999999999999999")).to_string(), "100000000000000000000004");
        assert_eq!(int("3").abs_diff(&int("12")).to_string(), "9");
        assert!(int("-10") < int("-9") && int("-1") < int("0") && int("10") > int("9"));
    }

    #[test]
    fn int_float_comparison_is_exact() {
        let big = Num::Int(int("9007199254740993"));
        assert_eq!(partial_cmp(&big, &Num::Float(9007199254740992.0)), Some(Ordering::Greater));
        assert_eq!(partial_cmp(&Num::Int(int("-3")), &Num::Float(-2.5)), Some(Ordering::Less));
        // The double nearest 1e300 is 1000000000000000052504760255204420248704468581...
        let googol_cubed = Num::Int(int(&format!("1{}", "0".repeat(300))));
        assert_eq!(partial_cmp(&Num::Float(1e300), &googol_cubed), Some(Ordering::Greater));
        assert_eq!(partial_cmp(&Num::Int(int("5")), &Num::Float(f64::INFINITY)), Some(Ordering::Less));
    }

    #[test]
    fn rounding_to_zero() {
        assert!(rounds_to_zero(&Num::Float(4.9e-8), 7));
        assert!(!rounds_to_zero(&Num::Float(5.1e-8), 7));
        assert!(rounds_to_zero(&Num::Float(0.5), 0));
        assert!(!rounds_to_zero(&Num::Float(0.5000001), 0));
        assert!(rounds_to_zero(&Num::Int(int("50")), -2));
        assert!(!rounds_to_zero(&Num::Int(int("51")), -2));
        assert!(!rounds_to_zero(&Num::Int(int("1")), 7));
    }
}
