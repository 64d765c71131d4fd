//! `check`'s single-dash long options (`-qcow2`, `-nbd`, `-nocache`, `-tap`)
//! rewritten to the long options clap parses, so `iotests check -qcow2 -nbd`
//! reads like `./check -qcow2 -nbd`.

use std::ffi::OsString;

use crate::envcmd::{FORMATS, PROTOCOLS};

/// Rewrite one argument, if it is one of check's single-dash spellings.
fn rewrite(arg: &str) -> Option<String> {
    let word = arg.strip_prefix('-').filter(|w| !w.starts_with('-'))?;
    if FORMATS.contains(&word) {
        Some(format!("--imgfmt={word}"))
    } else if PROTOCOLS.contains(&word) {
        Some(format!("--imgproto={word}"))
    } else {
        match word {
            "nocache" => Some("--cache=none".into()),
            "tap" => Some("--tap".into()),
            _ => None,
        }
    }
}

/// Rewrite a whole command line; nothing after `--` is touched.
pub fn normalize(args: impl IntoIterator<Item = OsString>) -> Vec<OsString> {
    let mut after_dashdash = false;
    args.into_iter()
        .map(|a| {
            if after_dashdash {
                return a;
            }
            if a == "--" {
                after_dashdash = true;
                return a;
            }
            match a.to_str().and_then(rewrite) {
                Some(r) => OsString::from(r),
                None => a,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rewrites_check_spellings_only() {
        let v: Vec<OsString> =
            ["iotests", "check", "-qcow2", "-nbd", "-nocache", "-tap", "-g", "rw", "-j4", "--", "-raw"]
                .iter()
                .map(OsString::from)
                .collect();
        let got = normalize(v);
        let want = [
            "iotests",
            "check",
            "--imgfmt=qcow2",
            "--imgproto=nbd",
            "--cache=none",
            "--tap",
            "-g",
            "rw",
            "-j4",
            "--",
            "-raw",
        ];
        assert_eq!(got, want.iter().map(OsString::from).collect::<Vec<_>>());
    }
}
