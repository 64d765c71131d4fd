//! The reporter: `check`'s output (header, one line per test, diffs and the
//! summary), TAP, or `-makecheck`'s terse lines, fed by the runner's
//! [`Events`].

use std::io::Write;
use std::time::Duration;

use super::conclude::Outcome;
use super::config::Job;
use super::runner::Events;
use super::tap;
use super::times::Times;
use super::verdict::{Status, Verdict, fmt_secs};
use crate::diff;

/// Output style.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// `check`'s human-readable lines.
    Human,
    /// TAP version 13, as `check -tap`, diagnostics in YAML blocks.
    Tap,
    /// Old `check -makecheck`: one `TEST iotest-FMT: NAME` line per test,
    /// details only for failures.
    Makecheck,
}

/// Presentation settings.
#[derive(Debug, Clone)]
pub struct Style {
    /// Human, TAP or makecheck.
    pub mode: Mode,
    /// ANSI colors for statuses and diffs.
    pub color: bool,
    /// Transient progress lines (a terminal that can erase lines).
    pub progress: bool,
    /// How many tests run at once.
    pub jobs: usize,
}

/// Writes what the runner reports.
pub struct Reporter<'a> {
    out: Box<dyn Write + 'a>,
    style: Style,
    times: Vec<&'a Times>,
    cell_fmts: Vec<String>,
    width: usize,
    status_shown: bool,
    last_running: Vec<String>,
    done: usize,
    total: usize,
}

/// One result line in `testrunner.test_print_one_line`'s format.
#[allow(clippy::too_many_arguments)]
pub fn line(
    name: &str,
    width: usize,
    status: &str,
    color: bool,
    start: &str,
    end: Option<&str>,
    thistime: Option<f64>,
    lasttime: Option<f64>,
    description: &str,
) -> String {
    let (col, col_end) = match (color, status) {
        (true, "pass") => ("\x1b[32m", "\x1b[0m"),
        (true, "fail") => ("\x1b[1m\x1b[31m", "\x1b[0m"),
        (true, "not run") => ("\x1b[33m", "\x1b[0m"),
        _ => ("", ""),
    };
    let lasttime = lasttime.filter(|t| *t > 0.0).map(|t| format!(" (last: {t:.1}s)")).unwrap_or_default();
    let thistime = thistime.filter(|t| *t > 0.0).map(|t| format!("{t:.1}s")).unwrap_or_else(|| "...".into());
    let end = end.map(|e| format!("[{e}]")).unwrap_or_default();
    format!("{name:width$} {col}{status:10}{col_end} [{start}] {end:13}{thistime:5} {lasttime:14} {description}")
        .trim_end()
        .to_string()
}

/// `1 iotest`, `2 iotests`.
pub fn count(n: usize, what: &str) -> String {
    if n == 1 { format!("1 {what}") } else { format!("{n} {what}s") }
}

impl<'a> Reporter<'a> {
    /// A reporter writing to `out`; `times` and `cell_fmts` are per cell.
    pub fn new(
        out: Box<dyn Write + 'a>,
        style: Style,
        times: Vec<&'a Times>,
        cell_fmts: Vec<String>,
        jobs: &[Job],
    ) -> Reporter<'a> {
        // check: the longest name plus two.
        let width = jobs.iter().map(|j| j.label.len()).max().unwrap_or(6) + 2;
        Reporter {
            out,
            style,
            times,
            cell_fmts,
            width,
            status_shown: false,
            last_running: Vec::new(),
            done: 0,
            total: jobs.len(),
        }
    }

    /// The environment header (and TAP's plan). Nothing precedes `TAP
    /// version` in TAP mode; makecheck prints no header.
    pub fn begin(&mut self, header: &str) {
        let _ = match self.style.mode {
            Mode::Human => write!(self.out, "{header}"),
            Mode::Tap => write!(self.out, "TAP version 13\n{header}1..{}\n", self.total),
            Mode::Makecheck => Ok(()),
        };
        let _ = self.out.flush();
    }

    fn clear_status(&mut self) {
        if self.status_shown {
            let _ = write!(self.out, "\r\x1b[K");
            self.status_shown = false;
        }
    }

    fn show_running(&mut self, running: &[&str]) {
        if running.is_empty() {
            return;
        }
        let mut s = format!("[{}/{} done] running: {}", self.done, self.total, running.join(" "));
        // Keep it on one line of a classic terminal so `\r` can erase it.
        if s.chars().count() > 79 {
            s = s.chars().take(76).collect::<String>() + "...";
        }
        let _ = write!(self.out, "{s}");
        let _ = self.out.flush();
        self.status_shown = true;
    }

    fn last_time(&self, job: &Job) -> Option<f64> {
        self.times.get(job.cell).and_then(|t| t.get(&job.test.name))
    }

    /// Print any text; for the summary's extras (grid, hints).
    pub fn text(&mut self, text: &str) {
        self.clear_status();
        let _ = write!(self.out, "{text}");
        let _ = self.out.flush();
    }

    /// `Not run:`, `Some cases not run in:`, `Failures:` and the final count,
    /// as `check` prints them (TAP has only its plan and lines; makecheck
    /// only failures).
    pub fn summary(&mut self, results: &[(&Job, &Outcome)]) {
        self.clear_status();
        let names = |st: Status| -> Vec<&str> {
            results.iter().filter(|(_, o)| o.verdict.status == st).map(|(j, _)| j.label.as_str()).collect()
        };
        let (notrun, failed) = (names(Status::NotRun), names(Status::Fail));
        match self.style.mode {
            Mode::Tap => return,
            Mode::Makecheck => {
                if !failed.is_empty() {
                    let _ = writeln!(self.out, "Failures: {}", failed.join(" "));
                }
                return;
            }
            Mode::Human => {}
        }
        let casenotrun: Vec<&str> =
            results.iter().filter(|(_, o)| o.verdict.casenotrun.is_some()).map(|(j, _)| j.label.as_str()).collect();
        let n_run = results.len() - notrun.len();
        if !notrun.is_empty() {
            let _ = writeln!(self.out, "Not run: {}", notrun.join(" "));
        }
        if !casenotrun.is_empty() {
            let _ = writeln!(self.out, "Some cases not run in: {}", casenotrun.join(" "));
        }
        let xfail = names(Status::Xfail);
        if !xfail.is_empty() {
            let _ = writeln!(self.out, "Expected failures: {}", xfail.join(" "));
        }
        let _ = if failed.is_empty() {
            match n_run {
                1 => writeln!(self.out, "Passed 1 iotest"),
                n => writeln!(self.out, "Passed all {n} iotests"),
            }
        } else {
            writeln!(self.out, "Failures: {}", failed.join(" "))
                .and_then(|_| writeln!(self.out, "Failed {} of {}", failed.len(), count(n_run, "iotest")))
        };
        let _ = self.out.flush();
    }

    fn human_finished(&mut self, job: &Job, o: &Outcome) {
        let v = &o.verdict;
        let last = self.last_time(job);
        let mut l = line(
            &job.label,
            self.width,
            v.status.as_str(),
            self.style.color,
            &o.start,
            Some(&o.end),
            o.elapsed,
            last,
            &v.description,
        );
        if !self.style.progress {
            // No live status line: say how far the run is on the line itself.
            l.push_str(&format!("  ({}/{})", self.done, self.total));
        }
        let _ = writeln!(self.out, "{l}");
        self.details(v);
    }

    fn details(&mut self, v: &Verdict) {
        if let Some(c) = &v.casenotrun {
            let _ = write!(self.out, "{c}");
            if !c.ends_with('\n') {
                let _ = writeln!(self.out);
            }
        }
        if let Some(d) = &v.detail {
            let d = if v.detail_is_diff && self.style.color { diff::colorize(d) } else { d.clone() };
            let _ = write!(self.out, "{d}");
        }
        for n in &v.notes {
            let _ = writeln!(self.out, "    note: {n}");
        }
    }
}

impl Events for Reporter<'_> {
    fn started(&mut self, _index: usize, job: &Job, start: &str) {
        match self.style.mode {
            Mode::Tap => {
                let fmt = self.cell_fmts.get(job.cell).cloned().unwrap_or_default();
                let _ = writeln!(self.out, "# running {fmt} {}", job.label);
            }
            // With one job at a time, check's own `...` line is the progress.
            Mode::Human if self.style.progress && self.style.jobs == 1 => {
                self.clear_status();
                let last = self.last_time(job);
                let l = line(&job.label, self.width, "...", false, start, None, None, last, "");
                let _ = write!(self.out, "{l}");
                self.status_shown = true;
            }
            Mode::Human | Mode::Makecheck => {}
        }
        let _ = self.out.flush();
    }

    fn finished(&mut self, _index: usize, job: &Job, o: &Outcome) {
        self.done += 1;
        self.clear_status();
        let v = &o.verdict;
        match self.style.mode {
            Mode::Tap => {
                let _ = write!(self.out, "{}", tap::result(self.done, &job.label, v));
            }
            Mode::Makecheck => {
                let fmt = self.cell_fmts.get(job.cell).cloned().unwrap_or_default();
                let suffix = match v.status {
                    Status::Pass => String::new(),
                    Status::Fail => " [fail]".into(),
                    Status::NotRun => " [not run]".into(),
                    Status::Xfail => " [xfail]".into(),
                };
                let _ = writeln!(self.out, "  TEST    iotest-{fmt}: {}{suffix}", job.label);
                if v.status == Status::Fail {
                    let _ = writeln!(self.out, "{}", v.description);
                    self.details(v);
                }
            }
            Mode::Human => self.human_finished(job, o),
        }
        if self.style.progress && self.style.mode == Mode::Human && self.style.jobs > 1 {
            self.last_running.retain(|n| *n != job.label);
            let names = self.last_running.clone();
            self.show_running(&names.iter().map(String::as_str).collect::<Vec<_>>());
        }
        let _ = self.out.flush();
    }

    fn slow(&mut self, _index: usize, job: &Job, elapsed: Duration) {
        self.clear_status();
        let _ = match self.style.mode {
            Mode::Tap => writeln!(self.out, "# SLOW {} has been running for {}s", job.label, fmt_secs(elapsed)),
            _ => writeln!(self.out, "{:>10} [> {:>5}s] {}", "SLOW", fmt_secs(elapsed), job.label),
        };
        let _ = self.out.flush();
    }

    fn tick(&mut self, running: &[&str]) {
        if !(self.style.progress && self.style.mode == Mode::Human && self.style.jobs > 1) {
            return;
        }
        if running.iter().copied().eq(self.last_running.iter().map(String::as_str)) {
            return;
        }
        self.last_running = running.iter().map(|s| s.to_string()).collect();
        self.clear_status();
        self.show_running(running);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_format_matches_testrunner() {
        // f'{test:{w}} {status:10} [{start}] {endtime:13}{thistime:5} {lasttime:14} {description}'
        assert_eq!(
            line("001", 5, "pass", false, "10:00:00", Some("10:00:02"), Some(1.5), Some(1.4), ""),
            "001   pass       [10:00:00] [10:00:02]   1.5s   (last: 1.4s)"
        );
        assert_eq!(
            line("iothreads-x", 13, "not run", false, "10:00:00", Some("10:00:00"), None, None, "not suitable"),
            "iothreads-x   not run    [10:00:00] [10:00:00]   ...                  not suitable"
        );
        assert!(line("x", 3, "fail", true, "a", None, None, None, "").contains("\x1b[1m\x1b[31mfail      \x1b[0m"));
        assert_eq!((count(1, "iotest"), count(2, "iotest")), ("1 iotest".to_string(), "2 iotests".to_string()));
    }
}
