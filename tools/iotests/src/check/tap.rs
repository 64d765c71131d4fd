//! TAP version 13 result lines, with diagnostics where TAP consumers look
//! for them: a YAML block below a `not ok` line (message, the diff or the
//! output's end), comments for cases not run and notes. Everything goes to
//! stdout, after the `TAP version` line.

use super::verdict::{Status, Verdict};

/// A YAML double-quoted scalar (JSON's escaping is valid YAML).
fn quoted(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| "\"\"".into())
}

/// The lines of a YAML literal block (`|2-`: explicit indentation, so a
/// first line starting with spaces is kept) indented by `indent`, with
/// characters YAML cannot carry dropped.
fn block(text: &str, indent: &str) -> String {
    let clean: String = text.chars().filter(|c| *c == '\n' || *c == '\t' || !c.is_control()).collect();
    clean.lines().map(|l| format!("{indent}{l}\n")).collect()
}

/// The lines for test number `n`.
pub fn result(n: usize, label: &str, v: &Verdict) -> String {
    let mut s = match v.status {
        Status::Pass => format!("ok {n} {label}\n"),
        Status::Fail => format!("not ok {n} {label} # {}\n", v.description),
        Status::NotRun => format!("ok {n} {label} # SKIP {}\n", v.description),
        Status::Xfail => format!("not ok {n} {label} # TODO {}\n", v.description),
    };
    if v.status == Status::Fail {
        s.push_str("  ---\n");
        s.push_str(&format!("  message: {}\n", quoted(&v.description)));
        s.push_str(&format!("  severity: {}\n", if v.error { "error" } else { "fail" }));
        if let Some(d) = &v.detail {
            s.push_str(if v.detail_is_diff { "  diff: |2-\n" } else { "  output: |2-\n" });
            s.push_str(&block(d, "    "));
        }
        s.push_str("  ...\n");
    }
    if let Some(c) = &v.casenotrun {
        s.extend(c.lines().map(|l| format!("# {l}\n")));
    }
    s.extend(v.notes.iter().map(|l| format!("# note: {l}\n")));
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn verdict(status: Status, description: &str, detail: Option<&str>) -> Verdict {
        Verdict {
            status,
            description: description.into(),
            detail: detail.map(String::from),
            detail_is_diff: true,
            casenotrun: None,
            error: false,
            notes: vec![],
        }
    }

    #[test]
    fn failures_carry_a_yaml_block() {
        assert_eq!(result(1, "001", &verdict(Status::Pass, "", None)), "ok 1 001\n");
        assert_eq!(result(2, "003", &verdict(Status::NotRun, "not suitable", None)), "ok 2 003 # SKIP not suitable\n");
        let r = result(3, "004", &verdict(Status::Fail, "output mismatch (see \"x\")", Some("-a\n+b\u{1b}[0m\n")));
        assert_eq!(
            r,
            "not ok 3 004 # output mismatch (see \"x\")\n  ---\n  message: \"output mismatch (see \\\"x\\\")\"\n  severity: fail\n  diff: |2-\n    -a\n    +b[0m\n  ...\n"
        );
    }
}
