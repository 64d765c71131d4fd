//! Python's `int(text, 0)` and `str(int)`, for the numbers qcow2.py takes on
//! its command line.
//!
//! qcow2.py parses magics, bit numbers and header values with `int(x, 0)`,
//! which accepts far more than Rust's `parse`: `0x`/`0o`/`0b` prefixes,
//! underscores between digits, surrounding (Unicode) whitespace, any Unicode
//! decimal digit, and integers of any size. What it accepts decides what the
//! tool prints (`'…' is not a valid number`), so the grammar is reproduced
//! exactly, after CPython's `PyLong_FromString` and
//! `_PyUnicode_TransformDecimalAndSpaceToASCII`.

/// CPython's `sys.get_int_max_str_digits()` default: decimal text longer
/// than this is a `ValueError` both ways.
const MAX_STR_DIGITS: usize = 4300;

/// The code points of the Unicode (14.0, Python 3.11's) decimal digits with
/// value 0; each starts a run of the ten digits 0–9.
const DIGIT_ZEROS: [u32; 66] = [
    0x30, 0x660, 0x6f0, 0x7c0, 0x966, 0x9e6, 0xa66, 0xae6, 0xb66, 0xbe6, 0xc66, 0xce6, 0xd66, 0xde6, 0xe50, 0xed0,
    0xf20, 0x1040, 0x1090, 0x17e0, 0x1810, 0x1946, 0x19d0, 0x1a80, 0x1a90, 0x1b50, 0x1bb0, 0x1c40, 0x1c50, 0xa620,
    0xa8d0, 0xa900, 0xa9d0, 0xa9f0, 0xaa50, 0xabf0, 0xff10, 0x104a0, 0x10d30, 0x11066, 0x110f0, 0x11136, 0x111d0,
    0x112f0, 0x11450, 0x114d0, 0x11650, 0x116c0, 0x11730, 0x118e0, 0x11950, 0x11c50, 0x11d50, 0x11da0, 0x16a60,
    0x16ac0, 0x16b50, 0x1d7ce, 0x1d7d8, 0x1d7e2, 0x1d7ec, 0x1d7f6, 0x1e140, 0x1e2f0, 0x1e950, 0x1fbf0,
];

/// Non-ASCII characters for which Python's `str.isspace()` is true.
fn is_unicode_space(c: char) -> bool {
    matches!(c as u32, 0x85 | 0xa0 | 0x1680 | 0x2000..=0x200a | 0x2028 | 0x2029 | 0x202f | 0x205f | 0x3000)
}

/// The value of a non-ASCII Unicode decimal digit.
fn unicode_decimal(c: char) -> Option<u8> {
    let cp = c as u32;
    let i = DIGIT_ZEROS.partition_point(|&z| z <= cp).checked_sub(1)?;
    let value = cp - DIGIT_ZEROS[i];
    (value < 10).then_some(value as u8)
}

/// A Python `int` of any size.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PyInt {
    negative: bool,
    /// Magnitude, base 2³², least significant limb first, no high zero limbs.
    limbs: Vec<u32>,
}

impl PyInt {
    /// A non-negative value.
    pub(crate) fn from_u64(v: u64) -> PyInt {
        let mut n = PyInt { negative: false, limbs: vec![v as u32, (v >> 32) as u32] };
        n.normalize();
        n
    }

    fn normalize(&mut self) {
        while self.limbs.last() == Some(&0) {
            self.limbs.pop();
        }
        if self.limbs.is_empty() {
            self.negative = false;
        }
    }

    /// Python's `int(text, 0)`; `None` where Python raises `ValueError`.
    pub(crate) fn parse(text: &str) -> Option<PyInt> {
        // CPython first maps non-ASCII whitespace to ' ' and non-ASCII
        // decimal digits to ASCII ones; anything else non-ASCII (and DEL)
        // ends the text with an invalid character.
        let mut ascii = Vec::with_capacity(text.len());
        for c in text.chars() {
            if (c as u32) < 127 {
                ascii.push(c as u8);
            } else if is_unicode_space(c) {
                ascii.push(b' ');
            } else if let Some(d) = unicode_decimal(c) {
                ascii.push(b'0' + d);
            } else {
                return None;
            }
        }
        parse_ascii(&ascii)
    }

    /// The value as a `u64`, if it is one.
    pub(crate) fn to_u64(&self) -> Option<u64> {
        if self.negative || self.limbs.len() > 2 {
            return None;
        }
        Some(self.limbs.iter().rev().fold(0u64, |acc, &l| (acc << 32) | u64::from(l)))
    }

    /// Whether the value is below zero.
    pub(crate) fn is_negative(&self) -> bool {
        self.negative
    }

    /// Python's `str(n)`; `None` where Python raises `ValueError` for more
    /// than 4300 digits.
    pub(crate) fn to_decimal(&self) -> Option<String> {
        // 2^14300 has 4305 digits: anything that long is over the limit,
        // and we need not convert it to know.
        if self.limbs.len() * 32 > 14300 {
            return None;
        }
        let mut limbs = self.limbs.clone();
        let mut chunks = Vec::new();
        while !limbs.is_empty() {
            let mut rem = 0u64;
            for l in limbs.iter_mut().rev() {
                let cur = (rem << 32) | u64::from(*l);
                *l = (cur / 1_000_000_000) as u32;
                rem = cur % 1_000_000_000;
            }
            chunks.push(rem as u32);
            while limbs.last() == Some(&0) {
                limbs.pop();
            }
        }
        let mut digits = match chunks.split_last() {
            None => "0".to_string(),
            Some((top, rest)) => {
                let mut s = top.to_string();
                for c in rest.iter().rev() {
                    s.push_str(&format!("{c:09}"));
                }
                s
            }
        };
        if digits.len() > MAX_STR_DIGITS {
            return None;
        }
        if self.negative {
            digits.insert(0, '-');
        }
        Some(digits)
    }

    /// `1 << n`.
    fn pow2(n: u32) -> PyInt {
        let n = n as usize;
        let mut limbs = vec![0; n / 32 + 1];
        limbs[n / 32] = 1 << (n % 32);
        PyInt { negative: false, limbs }
    }

    fn mul_add(&mut self, mul: u32, add: u32) {
        let mut carry = u64::from(add);
        for l in self.limbs.iter_mut() {
            let cur = u64::from(*l) * u64::from(mul) + carry;
            *l = cur as u32;
            carry = cur >> 32;
        }
        if carry != 0 {
            self.limbs.push(carry as u32);
        }
    }
}

/// Python's `str(1 << n)`; `None` where Python raises `ValueError` for
/// more than 4300 digits (n ≥ 14284).
pub(crate) fn pow2_decimal(n: u32) -> Option<String> {
    if n > 14300 {
        return None;
    }
    PyInt::pow2(n).to_decimal()
}

/// `PyLong_FromString(text, base=0)` on the ASCII-transformed text.
fn parse_ascii(s: &[u8]) -> Option<PyInt> {
    let is_space = |b: u8| matches!(b, b' ' | b'\t' | b'\n' | b'\x0b' | b'\x0c' | b'\r');
    let mut i = 0;
    while i < s.len() && is_space(s[i]) {
        i += 1;
    }
    let mut negative = false;
    if i < s.len() && (s[i] == b'+' || s[i] == b'-') {
        negative = s[i] == b'-';
        i += 1;
    }
    let at = |k: usize| s.get(k).copied().unwrap_or(0);
    let mut error_if_nonzero = false;
    let base: u32 = if at(i) != b'0' {
        10
    } else {
        match at(i + 1) {
            b'x' | b'X' => 16,
            b'o' | b'O' => 8,
            b'b' | b'B' => 2,
            // A C-style octal literal: invalid, unless it is zero.
            _ => {
                error_if_nonzero = true;
                10
            }
        }
    };
    if base != 10 {
        i += 2;
        // One underscore is allowed right after the prefix.
        if at(i) == b'_' {
            i += 1;
        }
    }
    if at(i) == b'_' {
        return None;
    }
    let mut digits = Vec::new();
    let mut prev_underscore = false;
    while i < s.len() {
        let b = s[i];
        if b == b'_' {
            if prev_underscore {
                return None;
            }
            prev_underscore = true;
        } else {
            match (b as char).to_digit(base) {
                Some(d) => digits.push(d as u8),
                None => break,
            }
            prev_underscore = false;
        }
        i += 1;
    }
    if prev_underscore || digits.is_empty() {
        return None;
    }
    while i < s.len() && is_space(s[i]) {
        i += 1;
    }
    if i != s.len() {
        return None;
    }
    let mut n = PyInt { negative, limbs: Vec::new() };
    if base.is_power_of_two() {
        // Place the bits directly: linear in the length of the text.
        let bits = base.trailing_zeros() as usize;
        n.limbs = vec![0; (digits.len() * bits).div_ceil(32)];
        for (k, &d) in digits.iter().rev().enumerate() {
            let pos = k * bits;
            let wide = u64::from(d) << (pos % 32);
            n.limbs[pos / 32] |= wide as u32;
            if let Some(hi) = n.limbs.get_mut(pos / 32 + 1) {
                *hi |= (wide >> 32) as u32;
            }
        }
    } else {
        if digits.len() > MAX_STR_DIGITS {
            return None;
        }
        for &d in &digits {
            n.mul_add(10, u32::from(d));
        }
    }
    n.normalize();
    if error_if_nonzero && !n.limbs.is_empty() {
        return None;
    }
    Some(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dec(s: &str) -> Option<String> {
        PyInt::parse(s).map(|n| n.to_decimal().unwrap())
    }

    /// Expected values are what Python 3.11's `int(s, 0)` returns.
    #[test]
    fn python_int_base_zero_grammar() {
        let ok = [
            ("0x_ff", "255"),
            ("0_0", "0"),
            ("00", "0"),
            (" 12 ", "12"),
            ("-0x10", "-16"),
            ("+0b101", "5"),
            ("0o17", "15"),
            ("\t7\n", "7"),
            ("0X1F", "31"),
            ("0B1", "1"),
            ("0O7", "7"),
            ("\u{a0}12\u{3000}", "12"),
            ("\u{663}", "3"),
            ("0x1_f", "31"),
            ("0x_1_f", "31"),
            ("-0", "0"),
            ("18446744073709551616", "18446744073709551616"),
            ("0x10000000000000000", "18446744073709551616"),
            ("-0xffffffffffffffffffffffff", "-79228162514264337593543950335"),
        ];
        for (s, want) in ok {
            assert_eq!(dec(s).as_deref(), Some(want), "{s:?}");
        }
        let bad =
            ["0_1", "01", "0x", "1__2", "_1", "1_", "- 5", "1\x1c", "0b", "0b2", "1 2", "", " ", "0xf_", "1\x7f", "é"];
        for s in bad {
            assert_eq!(dec(s), None, "{s:?}");
        }
    }

    #[test]
    fn decimal_text_over_4300_digits_is_a_value_error() {
        assert!(PyInt::parse(&"9".repeat(4300)).is_some());
        assert!(PyInt::parse(&"9".repeat(4301)).is_none());
        // Hexadecimal text has no limit, but printing it in decimal does.
        let big = PyInt::parse(&format!("0x{}", "f".repeat(4000))).unwrap();
        assert_eq!(big.to_decimal(), None);
        let edge = PyInt::parse(&format!("0x{}", "f".repeat(100))).unwrap();
        assert_eq!(edge.to_decimal().map(|s| s.len()), Some(121));
    }

    #[test]
    fn conversions_and_order() {
        assert_eq!(PyInt::parse("0xffffffffffffffff").unwrap().to_u64(), Some(u64::MAX));
        assert_eq!(PyInt::parse("0x10000000000000000").unwrap().to_u64(), None);
        assert_eq!(PyInt::parse("-1").unwrap().to_u64(), None);
        assert!(PyInt::parse("-1").unwrap().is_negative());
        assert_eq!(PyInt::from_u64(0).to_decimal().as_deref(), Some("0"));
        assert_eq!(pow2_decimal(70).as_deref(), Some("1180591620717411303424"));
        assert_eq!(pow2_decimal(0).as_deref(), Some("1"));
        assert_eq!(pow2_decimal(14300), None);
        assert_eq!(pow2_decimal(u32::MAX), None);
        assert_eq!(PyInt::parse("0x20").unwrap(), PyInt::from_u64(32));
    }
}
