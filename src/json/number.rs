//! Python's spelling of JSON numbers: `int` text and `repr(float)`.

use std::fmt::Write as _;

use serde_json::Number;

/// Python's `repr(f)` for a float: the shortest digits that round-trip,
/// positional for decimal exponents in `-4..16`, scientific otherwise.
///
/// ```
/// use iotests::json::py_float_repr;
/// assert_eq!(py_float_repr(2.0), "2.0");
/// assert_eq!(py_float_repr(1e16), "1e+16");
/// assert_eq!(py_float_repr(0.00001), "1e-05");
/// assert_eq!(py_float_repr(f64::NEG_INFINITY), "-inf");
/// ```
pub fn py_float_repr(f: f64) -> String {
    let mut out = String::new();
    write_float_repr(&mut out, f);
    out
}

/// [`py_float_repr`], appending to `out`.
fn write_float_repr(out: &mut String, f: f64) {
    if f.is_nan() {
        return out.push_str("nan");
    }
    if f.is_infinite() {
        return out.push_str(if f < 0.0 { "-inf" } else { "inf" });
    }
    if f.is_sign_negative() {
        out.push('-');
    }
    let (digits, exp) = shortest_digits(f.abs());
    if (-4..16).contains(&exp) {
        if exp >= 0 {
            let int_len = exp.unsigned_abs() as usize + 1;
            if digits.len() > int_len {
                out.push_str(&digits[..int_len]);
                out.push('.');
                out.push_str(&digits[int_len..]);
            } else {
                out.push_str(&digits);
                out.extend(std::iter::repeat_n('0', int_len - digits.len()));
                out.push_str(".0");
            }
        } else {
            out.push_str("0.");
            out.extend(std::iter::repeat_n('0', exp.unsigned_abs() as usize - 1));
            out.push_str(&digits);
        }
    } else {
        out.push_str(&digits[..1]);
        if digits.len() > 1 {
            out.push('.');
            out.push_str(&digits[1..]);
        }
        let exp_sign = if exp < 0 { '-' } else { '+' };
        let _ = write!(out, "e{exp_sign}{:02}", exp.unsigned_abs());
    }
}

/// The shortest decimal digits that round-trip to `f` (finite, not
/// negative) and the decimal exponent of the first one, chosen as Python
/// chooses them.
fn shortest_digits(f: f64) -> (String, i32) {
    // Rust's `{:e}` prints the shortest round-trip digits as `d.ddde[-]x`.
    let (digits, exp) = sci_digits(&format!("{f:e}"));
    // Among equally short candidates both take the one nearest to `f`, but
    // when `f` lies exactly halfway between two of them Rust takes the upper
    // one while Python (David Gay's dtoa) takes the one with an even last
    // digit. A tie needs an odd last digit on Rust's side, so only then is
    // the exact value worth expanding: no double has more than 767
    // significant decimal digits, so `{:.767e}` is exact.
    if digits.bytes().last().is_none_or(|d| d % 2 == 0) {
        return (digits, exp);
    }
    // A tie needs a neighbouring candidate of the same length that also
    // round-trips; checking that with two cheap parses spares the 767-digit
    // expansion for almost every float.
    if !neighbour_round_trips(&digits, exp, f) {
        return (digits, exp);
    }
    let (exact, exact_exp) = sci_digits(&format!("{f:.767e}"));
    let exact = exact.trim_end_matches('0');
    if exact_exp != exp || exact.len() != digits.len() + 1 || !exact.ends_with('5') {
        return (digits, exp);
    }
    let lower = &exact[..digits.len()];
    let (even, even_exp) = if lower.bytes().last().is_some_and(|d| d % 2 == 0) {
        (lower.to_owned(), exp)
    } else {
        increment_digits(lower, exp)
    };
    let even = even.trim_end_matches('0');
    let round_trips = format!("0.{even}e{}", even_exp + 1).parse::<f64>().is_ok_and(|g| g == f);
    if even.is_empty() || !round_trips {
        return (digits, exp);
    }
    (even.to_owned(), even_exp)
}

/// Whether `digits` × 10^`exp` with its last digit one lower or one higher
/// (without carry) still parses back to `f`.
fn neighbour_round_trips(digits: &str, exp: i32, f: f64) -> bool {
    let Some(last) = digits.bytes().last() else { return false };
    let head = &digits[..digits.len() - 1];
    [last.checked_sub(1), (last < b'9').then_some(last + 1)]
        .into_iter()
        .flatten()
        .filter(|d| d.is_ascii_digit())
        .any(|d| format!("0.{head}{}e{}", d as char, exp + 1).parse::<f64>().is_ok_and(|g| g == f))
}

/// Adds one unit in the last place to the significand `digits` × 10^`exp`.
pub(super) fn increment_digits(digits: &str, exp: i32) -> (String, i32) {
    let mut bytes = digits.as_bytes().to_vec();
    for b in bytes.iter_mut().rev() {
        if *b == b'9' {
            *b = b'0';
        } else {
            *b += 1;
            return (String::from_utf8_lossy(&bytes).into_owned(), exp);
        }
    }
    // All nines: 99 × 10^e + 1 unit = 1 × 10^(e+1).
    bytes.insert(0, b'1');
    bytes.pop();
    (String::from_utf8_lossy(&bytes).into_owned(), exp + 1)
}

/// Splits Rust's `{:e}` output for a non-negative float into its
/// significand digits and decimal exponent.
fn sci_digits(sci: &str) -> (String, i32) {
    let (mantissa, exp) = sci.split_once('e').unwrap_or((sci, "0"));
    (mantissa.chars().filter(char::is_ascii_digit).collect(), exp.parse().unwrap_or(0))
}

/// Appends the Python spelling of the object `json.loads` makes of `n`:
/// an `int` in its canonical decimal form, a float as `repr()` spells it, or
/// — with `json` — as `json.dumps` spells it (`NaN`, `Infinity`).
pub(super) fn write_number(out: &mut String, n: &Number, json: bool) {
    let text = n.as_str();
    // Fast paths for the numbers QMP is made of: the text already is
    // Python's spelling, and the general paths allocate.
    if canonical_int(text) {
        return out.push_str(text);
    }
    if write_short_decimal(out, text) {
        return;
    }
    if text.contains(['.', 'e', 'E']) {
        // Rust's parser rounds correctly like Python's `float()`, and also
        // turns out-of-range exponents into infinities or zeros.
        if let Ok(f) = text.parse::<f64>() {
            return match f {
                f if json && f.is_nan() => out.push_str("NaN"),
                f if json && f.is_infinite() => out.push_str(if f < 0.0 { "-Infinity" } else { "Infinity" }),
                f => write_float_repr(out, f),
            };
        }
    }
    // An `int` of any size: Python drops leading zeros and the sign of zero.
    let (negative, digits) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    match digits.trim_start_matches('0') {
        "" => out.push('0'),
        digits => {
            if negative {
                out.push('-');
            }
            out.push_str(digits);
        }
    }
}

/// Whether `text` is an integer already spelled as Python prints it: digits
/// with an optional `-`, no leading zero, not `-0`.
fn canonical_int(text: &str) -> bool {
    let digits = text.strip_prefix('-').unwrap_or(text).as_bytes();
    match digits {
        [b'0'] => digits.len() == text.len(),
        [b'1'..=b'9', rest @ ..] => rest.iter().all(u8::is_ascii_digit),
        _ => false,
    }
}

/// The most significant digits a decimal may have for `repr()` to give its
/// digits back: any two decimals of at most 15 significant digits round to
/// different doubles (`DBL_DIG`), so no other string of that length or
/// shorter round-trips, and the shortest round-trip `repr()` picks is the
/// text itself.
const EXACT_DIGITS: usize = 15;

/// `repr()` of a positional decimal such as `12.5` or `-0.0010` with at
/// most [`EXACT_DIGITS`] significant digits, in `repr()`'s positional range
/// (decimal exponent `-4..16`): the text with trailing fraction zeros
/// dropped (keeping one). Appends it and returns true if `text` is one.
fn write_short_decimal(out: &mut String, text: &str) -> bool {
    let (negative, unsigned) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    let Some((int, frac)) = unsigned.split_once('.') else { return false };
    let (int_b, frac_b) = (int.as_bytes(), frac.as_bytes());
    if int_b.is_empty() || frac_b.is_empty() || !int_b.iter().chain(frac_b).all(u8::is_ascii_digit) {
        return false;
    }
    let frac = frac.trim_end_matches('0');
    let fits = if int == "0" {
        // 0.000ddd: the first significant digit must be within 4 places.
        let zeros = frac.len() - frac.trim_start_matches('0').len();
        frac.is_empty() || (zeros < 4 && frac.len() - zeros <= EXACT_DIGITS)
    } else {
        int_b[0] != b'0' && int.len() + frac.len() <= EXACT_DIGITS
    };
    if !fits {
        return false;
    }
    if negative {
        out.push('-');
    }
    out.push_str(int);
    out.push('.');
    out.push_str(if frac.is_empty() { "0" } else { frac });
    true
}
