//! Python's codecs that upstream tests call: `base64.b64encode` (149
//! passes LUKS passwords as base64 secrets), `bytes.fromhex` (tests/vvfat
//! turns `qemu-io read -v` dumps back into bytes) and `int(str)` (pid files,
//! size strings, dictpath indices), with Python's results and error texts.
//!
//! ```
//! use iotests::codecs;
//! assert_eq!(codecs::b64encode(b"123456"), "MTIzNDU2");   // base64.b64encode(b'123456').decode('ascii')
//! assert_eq!(codecs::fromhex("48 69")?, b"Hi");             // bytes.fromhex('48 69')
//! # Ok::<(), iotests::Error>(())
//! ```

use crate::error::{Error, Result};

/// `int(text)` (base 10): surrounding whitespace and `_` between digits
/// allowed; Python's `ValueError` with the repr of `text` otherwise.
///
/// ```
/// use iotests::codecs::int;
/// assert_eq!(int(" 42\n")?, 42);
/// assert_eq!(int("-1_000")?, -1000);
/// assert_eq!(int("4K").unwrap_err().to_string(), "ValueError: invalid literal for int() with base 10: '4K'");
/// # Ok::<(), iotests::Error>(())
/// ```
pub fn int(text: &str) -> Result<i64> {
    let t = text.trim();
    let digits = t.strip_prefix(['+', '-']).unwrap_or(t);
    let well_formed = digits.split('_').all(|run| !run.is_empty() && run.bytes().all(|b| b.is_ascii_digit()));
    well_formed.then(|| t.replace('_', "").parse().ok()).flatten().ok_or_else(|| {
        Error::python(
            "ValueError",
            format!("invalid literal for int() with base 10: {}", crate::json::py_str_repr(text)),
        )
    })
}

const B64_ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// `base64.b64encode(b).decode('ascii')`: the standard alphabet, `=`
/// padding, no line breaks.
///
/// ```
/// assert_eq!(iotests::codecs::b64encode(b"slot1"), "c2xvdDE=");
/// assert_eq!(iotests::codecs::b64encode(b""), "");
/// ```
pub fn b64encode(b: &[u8]) -> String {
    let mut out = String::with_capacity(b.len().div_ceil(3) * 4);
    for chunk in b.chunks(3) {
        let n = chunk.iter().enumerate().fold(0u32, |n, (i, &c)| n | u32::from(c) << (16 - 8 * i));
        for i in 0..4 {
            // A chunk of k bytes gives k + 1 characters, then padding.
            out.push(if i <= chunk.len() { char::from(B64_ALPHABET[(n >> (18 - 6 * i) & 63) as usize]) } else { '=' });
        }
    }
    out
}

/// Python's `Py_ISSPACE`: what `bytes.fromhex` skips between bytes.
fn is_py_space(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\n' | b'\x0b' | b'\x0c' | b'\r')
}

/// `bytes.fromhex(s)`: pairs of hex digits, with whitespace allowed
/// between (not within) pairs; Python 3.11's `ValueError` naming the
/// position of the first bad character (the end of the string for a
/// missing second digit).
///
/// ```
/// assert_eq!(iotests::codecs::fromhex("ab cd")?, [0xab, 0xcd]);
/// let e = iotests::codecs::fromhex("abc").unwrap_err();
/// assert_eq!(e.to_string(), "ValueError: non-hexadecimal number found in fromhex() arg at position 3");
/// # Ok::<(), iotests::Error>(())
/// ```
pub fn fromhex(s: &str) -> Result<Vec<u8>> {
    let bytes = s.as_bytes();
    let bad = |pos: usize| {
        Error::python("ValueError", format!("non-hexadecimal number found in fromhex() arg at position {pos}"))
    };
    let digit = |pos: usize| bytes.get(pos).and_then(|&c| char::from(c).to_digit(16)).ok_or_else(|| bad(pos));
    let mut out = Vec::with_capacity(bytes.len() / 2);
    let mut pos = 0;
    while pos < bytes.len() {
        if is_py_space(bytes[pos]) {
            pos += 1;
            continue;
        }
        let top = digit(pos)?;
        let bot = digit(pos + 1)?;
        out.push((top * 16 + bot) as u8);
        pos += 2;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn b64encode_pads_as_python() {
        // base64.b64encode(x).decode('ascii') in Python 3.11
        for (input, want) in [
            (&b"1"[..], "MQ=="),
            (b"12", "MTI="),
            (b"123", "MTIz"),
            (b"123456", "MTIzNDU2"),
            (b"\xff\xfe\xfd\x00", "//79AA=="),
        ] {
            assert_eq!(b64encode(input), want, "{input:?}");
        }
    }

    #[test]
    fn fromhex_errors_name_python_positions() {
        // bytes.fromhex(x) in Python 3.11
        assert_eq!(fromhex("ab\x0bcd\n").unwrap(), [0xab, 0xcd]);
        assert_eq!(fromhex(" 0A ").unwrap(), [0x0a]);
        for (input, pos) in [("a", 1), ("0g", 1), ("abc", 3), ("a b", 1), ("zz", 0)] {
            let e = fromhex(input).unwrap_err().to_string();
            assert_eq!(e, format!("ValueError: non-hexadecimal number found in fromhex() arg at position {pos}"));
        }
    }
}
