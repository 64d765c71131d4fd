//! `check`'s single-dash long options (`-qcow2`, `-nbd`, `-nocache`, `-tap`,
//! `-misalign`, `-makecheck`) rewritten to the long options clap parses, so
//! `iotests check -qcow2 -nbd` reads like `./check -qcow2 -nbd`. Upstream
//! options this command does not implement are refused with one line each,
//! before clap could misread them (`-gdb` as `-g db`).

use std::ffi::OsString;

use crate::envcmd::{FORMATS, PROTOCOLS};
use crate::error::Error;

/// Why an upstream `check` option is refused.
fn unsupported(word: &str) -> Option<&'static str> {
    Some(match word {
        "gdb" => {
            "-gdb is not supported: the toolkit does not start QEMU under gdbserver (GDB_OPTIONS); \
             debug a test process instead: IOTESTS_TIMEOUT=0 gdb --args <test binary> --exact <test> --nocapture"
        }
        "valgrind" => "-valgrind is not supported: the toolkit does not run QEMU under valgrind (VALGRIND_QEMU)",
        "p" => "-p is not supported: QEMU's own output is not copied into the test output; -d shows the log live",
        "s" => "-s is not an option of QEMU's check; see `iotests check --help`",
        _ => return None,
    })
}

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
            "misalign" => Some("--misalign".into()),
            "makecheck" => Some("--makecheck".into()),
            _ => None,
        }
    }
}

/// Rewrite a whole command line; nothing after `--` is touched. An
/// upstream option that is not implemented is an error.
pub fn normalize(args: impl IntoIterator<Item = OsString>) -> Result<Vec<OsString>, Error> {
    let mut after_dashdash = false;
    let mut out = Vec::new();
    for a in args {
        if after_dashdash {
            out.push(a);
            continue;
        }
        if a == "--" {
            after_dashdash = true;
            out.push(a);
            continue;
        }
        if let Some(why) = a.to_str().and_then(|s| s.strip_prefix('-')).and_then(unsupported) {
            return Err(Error::Unsupported(why.to_string()));
        }
        out.push(match a.to_str().and_then(rewrite) {
            Some(r) => OsString::from(r),
            None => a,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rewrites_check_spellings_only() {
        let v: Vec<OsString> =
            ["iotests", "check", "-qcow2", "-nbd", "-nocache", "-tap", "-misalign", "-g", "rw", "-j4", "--", "-raw"]
                .iter()
                .map(OsString::from)
                .collect();
        let got = normalize(v).unwrap();
        let want = [
            "iotests",
            "check",
            "--imgfmt=qcow2",
            "--imgproto=nbd",
            "--cache=none",
            "--tap",
            "--misalign",
            "-g",
            "rw",
            "-j4",
            "--",
            "-raw",
        ];
        assert_eq!(got, want.iter().map(OsString::from).collect::<Vec<_>>());
    }

    #[test]
    fn unimplemented_upstream_options_are_refused_not_misparsed() {
        for (arg, start) in
            [("-gdb", "-gdb is not supported"), ("-valgrind", "-valgrind"), ("-p", "-p is"), ("-s", "-s is")]
        {
            let e = normalize(["iotests", "check", arg].iter().map(OsString::from)).unwrap_err().to_string();
            assert!(e.starts_with(start) && !e.contains('\n'), "{arg}: {e}");
        }
        assert!(normalize(["iotests", "check", "--", "-gdb"].iter().map(OsString::from)).is_ok());
    }
}
