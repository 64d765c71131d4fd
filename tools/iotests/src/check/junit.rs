//! `--junit FILE`: the run as JUnit XML, one `<testsuite>` per matrix cell,
//! for CI systems that display test reports.

use std::fmt::Write as _;
use std::path::Path;

use super::runner::{Job, Outcome};
use super::verdict::Status;
use crate::error::Result;
use crate::snapfile::write_atomic;

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

/// The XML document for one run of `suite` (e.g. `iotests.qcow2-file`).
pub fn render(suite: &str, results: &[(&Job, &Outcome)]) -> String {
    let count = |st: Status| results.iter().filter(|(_, o)| o.verdict.status == st).count();
    let total: f64 = results.iter().filter_map(|(_, o)| o.elapsed).sum();
    let mut x = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let suite = escape(suite);
    let _ = writeln!(
        x,
        "<testsuites name=\"iotests\" tests=\"{}\" failures=\"{}\" skipped=\"{}\" time=\"{total:.1}\">",
        results.len(),
        count(Status::Fail),
        count(Status::NotRun)
    );
    let _ = writeln!(
        x,
        "  <testsuite name=\"{suite}\" tests=\"{}\" failures=\"{}\" errors=\"0\" skipped=\"{}\" time=\"{total:.1}\">",
        results.len(),
        count(Status::Fail),
        count(Status::NotRun)
    );
    for (job, o) in results {
        let v = &o.verdict;
        let _ = write!(
            x,
            "    <testcase classname=\"{suite}\" name=\"{}\" time=\"{:.1}\"",
            escape(&job.name),
            o.elapsed.unwrap_or(0.0)
        );
        match v.status {
            Status::Pass => x.push_str(" />\n"),
            Status::NotRun => {
                let _ = write!(x, ">\n      <skipped message=\"{}\" />\n    </testcase>\n", escape(&v.description));
            }
            Status::Fail => {
                let _ = write!(
                    x,
                    ">\n      <failure message=\"{}\">{}</failure>\n    </testcase>\n",
                    escape(&v.description),
                    escape(v.detail.as_deref().unwrap_or(""))
                );
            }
        }
    }
    x.push_str("  </testsuite>\n</testsuites>\n");
    x
}

/// Write the report to `path`.
pub fn write(path: &Path, suite: &str, results: &[(&Job, &Outcome)]) -> Result<()> {
    write_atomic(path, &render(suite, results))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::verdict::Verdict;

    fn outcome(status: Status, description: &str, detail: Option<&str>) -> Outcome {
        Outcome {
            verdict: Verdict {
                status,
                description: description.into(),
                detail: detail.map(String::from),
                detail_is_diff: false,
                casenotrun: None,
            },
            elapsed: Some(1.0),
            start: "00:00:00".into(),
            end: "00:00:01".into(),
        }
    }

    #[test]
    fn renders_all_statuses() {
        let job = |n: &str| Job { name: n.into(), module: n.into(), paths: vec![] };
        let (a, b, c) = (job("001"), job("002"), job("a<b"));
        let (oa, ob, oc) = (
            outcome(Status::Pass, "", None),
            outcome(Status::Fail, "output mismatch", Some("-x\n+y & \u{1b}[0m\n")),
            outcome(Status::NotRun, "not suitable", None),
        );
        let xml = render("iotests.qcow2-file", &[(&a, &oa), (&b, &ob), (&c, &oc)]);
        assert!(xml.contains("tests=\"3\" failures=\"1\" skipped=\"1\" time=\"3.0\""), "{xml}");
        assert!(xml.contains("<failure message=\"output mismatch\">-x\n+y &amp; [0m\n</failure>"), "{xml}");
        assert!(xml.contains("name=\"a&lt;b\""), "{xml}");
        assert!(xml.contains("<skipped message=\"not suitable\" />"), "{xml}");
    }
}
