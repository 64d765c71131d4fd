//! `--junit FILE`: the run as JUnit XML, one `<testsuite>` per matrix cell,
//! for CI systems that display test reports. Assertion failures (output
//! mismatch, a failed check) are `<failure>`s; timeouts, crashes and tests
//! that could not start are `<error>`s; every test case carries the end of
//! its log as `<system-out>`.

use std::fmt::Write as _;
use std::path::Path;

use super::conclude::Outcome;
use super::config::Job;
use super::verdict::Status;
use crate::error::Result;
use crate::snapfile::write_atomic;

/// How much of a log goes into `<system-out>` (its end).
const SYSTEM_OUT_LIMIT: usize = 64 * 1024;

/// Escape text for XML attributes and character data, dropping characters
/// XML 1.0 cannot carry (control characters from test output).
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\t' | '\n' | '\r' => out.push(c),
            c if (c as u32) < 0x20 || c == '\u{fffe}' || c == '\u{ffff}' => {}
            c => out.push(c),
        }
    }
    out
}

/// The last `limit` bytes of `text`, cut at a line start.
fn tail(text: &str, limit: usize) -> String {
    if text.len() <= limit {
        return text.to_string();
    }
    let mut start = text.len() - limit;
    while !text.is_char_boundary(start) {
        start += 1;
    }
    let start = text[start..].find('\n').map_or(start, |i| start + i + 1);
    format!("[... {} bytes omitted ...]\n{}", start, &text[start..])
}

/// The XML document for a run: `suites` are `(suite name, results)`, e.g.
/// `("iotests.qcow2-file", …)`.
pub fn render(suites: &[(String, Vec<(&Job, &Outcome)>)]) -> String {
    let all: Vec<&(&Job, &Outcome)> = suites.iter().flat_map(|(_, r)| r).collect();
    let count = |rs: &[&(&Job, &Outcome)], f: &dyn Fn(&Outcome) -> bool| rs.iter().filter(|(_, o)| f(o)).count();
    let fails = |o: &Outcome| o.verdict.status == Status::Fail && !o.verdict.error;
    let errors = |o: &Outcome| o.verdict.status == Status::Fail && o.verdict.error;
    let skips = |o: &Outcome| matches!(o.verdict.status, Status::NotRun | Status::Xfail);
    let time = |rs: &[&(&Job, &Outcome)]| rs.iter().filter_map(|(_, o)| o.elapsed).sum::<f64>();
    let mut x = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(
        x,
        "<testsuites name=\"iotests\" tests=\"{}\" failures=\"{}\" errors=\"{}\" skipped=\"{}\" time=\"{:.1}\">",
        all.len(),
        count(&all, &fails),
        count(&all, &errors),
        count(&all, &skips),
        time(&all)
    );
    for (suite, results) in suites {
        let rs: Vec<&(&Job, &Outcome)> = results.iter().collect();
        let suite = escape(suite);
        let _ = writeln!(
            x,
            "  <testsuite name=\"{suite}\" tests=\"{}\" failures=\"{}\" errors=\"{}\" skipped=\"{}\" time=\"{:.1}\">",
            rs.len(),
            count(&rs, &fails),
            count(&rs, &errors),
            count(&rs, &skips),
            time(&rs)
        );
        for (job, o) in results {
            let v = &o.verdict;
            let _ = writeln!(
                x,
                "    <testcase classname=\"{suite}\" name=\"{}\" time=\"{:.1}\">",
                escape(&job.test.name),
                o.elapsed.unwrap_or(0.0)
            );
            let body = escape(v.detail.as_deref().unwrap_or(""));
            let message = escape(&v.description);
            let _ = match v.status {
                Status::Pass => Ok(()),
                Status::NotRun | Status::Xfail => writeln!(x, "      <skipped message=\"{message}\" />"),
                Status::Fail if v.error => writeln!(x, "      <error message=\"{message}\">{body}</error>"),
                Status::Fail => writeln!(x, "      <failure message=\"{message}\">{body}</failure>"),
            };
            let log = std::fs::read(&o.log).map(|b| String::from_utf8_lossy(&b).into_owned()).unwrap_or_default();
            if !log.is_empty() {
                let _ = writeln!(x, "      <system-out>{}</system-out>", escape(&tail(&log, SYSTEM_OUT_LIMIT)));
            }
            x.push_str("    </testcase>\n");
        }
        x.push_str("  </testsuite>\n");
    }
    x.push_str("</testsuites>\n");
    x
}

/// Write the report to `path`.
pub fn write(path: &Path, suites: &[(String, Vec<(&Job, &Outcome)>)]) -> Result<()> {
    write_atomic(path, &render(suites))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::verdict::Verdict;
    use crate::listing::TestDef;

    fn outcome(status: Status, description: &str, detail: Option<&str>, error: bool, log: &Path) -> Outcome {
        Outcome {
            verdict: Verdict {
                status,
                description: description.into(),
                detail: detail.map(String::from),
                detail_is_diff: false,
                casenotrun: None,
                error,
                notes: vec![],
            },
            elapsed: Some(1.0),
            start: "00:00:00".into(),
            end: "00:00:01".into(),
            log: log.to_path_buf(),
            reference: String::new(),
            actual: None,
        }
    }

    fn job(n: &str) -> Job {
        let test = TestDef {
            name: n.into(),
            test: format!("m::{n}"),
            kind: "script".into(),
            groups: vec![],
            supported_fmts: vec![],
            timeout: None,
        };
        Job { test, cell: 0, label: n.into() }
    }

    #[test]
    fn renders_all_statuses() {
        let d = tempfile::tempdir().unwrap();
        let log = d.path().join("x.log");
        std::fs::write(&log, "log line <1>\n").unwrap();
        let (a, b, c, e) = (job("001"), job("002"), job("a<b"), job("004"));
        let (oa, ob, oc, oe) = (
            outcome(Status::Pass, "", None, false, &log),
            outcome(Status::Fail, "output mismatch", Some("-x\n+y & \u{1b}[0m\n"), false, &log),
            outcome(Status::NotRun, "not suitable", None, false, &d.path().join("none")),
            outcome(Status::Fail, "timeout", Some("tail"), true, &log),
        );
        let xml = render(&[("iotests.qcow2-file".into(), vec![(&a, &oa), (&b, &ob), (&c, &oc), (&e, &oe)])]);
        assert!(xml.contains("tests=\"4\" failures=\"1\" errors=\"1\" skipped=\"1\" time=\"4.0\""), "{xml}");
        assert!(xml.contains("<failure message=\"output mismatch\">-x\n+y &amp; [0m\n</failure>"), "{xml}");
        assert!(xml.contains("<error message=\"timeout\">tail</error>"), "{xml}");
        assert!(xml.contains("name=\"a&lt;b\""), "{xml}");
        assert!(xml.contains("<skipped message=\"not suitable\" />"), "{xml}");
        assert!(xml.contains("<system-out>log line &lt;1&gt;\n</system-out>"), "{xml}");
        assert_eq!(tail("aaa\nbbb\nccc\n", 6), "[... 8 bytes omitted ...]\nccc\n");
    }
}
