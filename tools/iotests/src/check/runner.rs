//! The runner: each selected test of each cell as its own process of the
//! test binary, up to `-j N` at a time, in a poll loop that never blocks:
//! starting, reaping, timing, terminating (a state, not a blocking call),
//! and forwarding Ctrl-C / Ctrl-Z. It knows nothing about presentation: it
//! reports through [`Events`].
//!
//! Time limits are layered like nextest's slow-timeout / terminate-after:
//! the test gets its limit as `IOTESTS_TIMEOUT` and stops itself with a
//! diagnostic (its last log lines, the processes it killed); `SLOW` lines
//! are reported every slow period; only a test still running at limit +
//! grace is terminated by the runner: SIGTERM to its process group, SIGKILL
//! [`TERM_GRACE`](crate::proc::TERM_GRACE) later. A first Ctrl-C terminates
//! every test that way, a second one kills them at once. Ctrl-Z stops the
//! tests' process groups and pauses their stopwatches, then stops the
//! runner; `fg` continues both.

use std::os::fd::AsFd;
use std::path::PathBuf;
use std::process::Child;
use std::time::Duration;

use iotests::process::PidFd;

use super::conclude::{self, Outcome};
use super::config::{Job, RunConfig};
use super::spawn;
use super::verdict::Exit;
use crate::proc::{self, Stopwatch, TERM_GRACE};
use crate::scratch::TestDirs;

/// After SIGKILL, how long to wait for a process that cannot be reaped
/// (stuck in the kernel) before giving up on it.
const UNREAPABLE_AFTER: Duration = Duration::from_secs(30);

/// What the runner tells its reporter.
pub trait Events {
    /// A test started at wall-clock `start` (`HH:MM:SS`).
    fn started(&mut self, index: usize, job: &Job, start: &str);
    /// A test finished.
    fn finished(&mut self, index: usize, job: &Job, outcome: &Outcome);
    /// A test has been running for `elapsed` (once per slow period).
    fn slow(&mut self, _index: usize, _job: &Job, _elapsed: Duration) {}
    /// Called while tests run (about every 20 ms) with the running labels.
    fn tick(&mut self, _running: &[&str]) {}
}

/// Where a running test is in its life.
enum State {
    /// Running within its limit.
    Running,
    /// Being stopped for `reason`: SIGTERM sent `since` ago; SIGKILL sent
    /// when `killed`.
    Terminating { reason: Exit, since: Stopwatch, killed: bool },
}

struct Running {
    index: usize,
    child: Child,
    /// Readable when the test process has exited (see [`proc::nap`]).
    exited: Option<PidFd>,
    watch: Stopwatch,
    start: String,
    log: PathBuf,
    echo_pos: u64,
    dirs: TestDirs,
    limit: Option<Duration>,
    state: State,
    slow_reported: u32,
}

impl Running {
    fn terminate(&mut self, reason: Exit) {
        if matches!(self.state, State::Running) {
            proc::signal_group(self.child.id(), libc::SIGTERM);
            self.state = State::Terminating { reason, since: Stopwatch::start(), killed: false };
        }
    }

    fn kill(&mut self) {
        proc::signal_group(self.child.id(), libc::SIGKILL);
        if let State::Terminating { killed, .. } = &mut self.state {
            *killed = true;
        }
    }

    /// Advance the state machine; `Some(exit)` once the process is gone.
    fn poll(&mut self, cfg: &RunConfig) -> Option<Exit> {
        let pid = self.child.id();
        if proc::has_exited(pid) {
            // Stragglers of its group go too, before the leader is reaped.
            proc::signal_group(pid, libc::SIGKILL);
            let status = match self.child.try_wait() {
                Ok(Some(st)) => st,
                Ok(None) => return None,
                Err(e) => return Some(Exit::SpawnFailed(format!("waiting for it: {e}"))),
            };
            return Some(match std::mem::replace(&mut self.state, State::Running) {
                State::Terminating { reason, .. } => reason,
                State::Running => Exit::finished(status),
            });
        }
        match &mut self.state {
            State::Running => {
                if let Some(limit) = self.limit
                    && self.watch.elapsed() >= limit + cfg.grace
                {
                    self.terminate(Exit::Timeout(limit));
                }
                None
            }
            State::Terminating { since, killed, reason } => {
                if !*killed && since.elapsed() >= TERM_GRACE {
                    self.kill();
                    None
                } else if *killed && since.elapsed() >= TERM_GRACE + UNREAPABLE_AFTER {
                    Some(Exit::SpawnFailed(format!("{reason:?}; process {pid} could not be reaped after SIGKILL")))
                } else {
                    None
                }
            }
        }
    }
}

/// Forward a Ctrl-Z: stop the tests, pause their clocks, stop ourselves;
/// on `fg`, continue them with their clocks running again.
fn suspend(running: &mut [Running]) {
    for r in running.iter_mut() {
        proc::signal_group(r.child.id(), libc::SIGSTOP);
        r.watch.pause();
        if let State::Terminating { since, .. } = &mut r.state {
            since.pause();
        }
    }
    proc::stop_self();
    for r in running.iter_mut() {
        proc::signal_group(r.child.id(), libc::SIGCONT);
        r.watch.resume();
        if let State::Terminating { since, .. } = &mut r.state {
            since.resume();
        }
    }
}

/// Run `jobs`, starting them in `order` (indices into `jobs`, see
/// [`times::start_order`](super::times::start_order)); outcomes come back in
/// `jobs` order. Stops starting new tests when the user interrupts; those
/// left out are `not run`.
pub fn run(jobs: &[Job], order: &[usize], cfg: &RunConfig, events: &mut dyn Events) -> Vec<Outcome> {
    let mut book = conclude::PendingBook::default();
    let mut outcomes: Vec<Option<Outcome>> = vec![None; jobs.len()];
    let mut running: Vec<Running> = Vec::new();
    let mut next = 0;
    let slots = cfg.jobs.max(1);
    let mut seen_interrupts = 0;
    loop {
        if proc::take_stop_request() {
            suspend(&mut running);
        }
        let interrupts = proc::interrupts();
        if interrupts > seen_interrupts {
            seen_interrupts = interrupts;
            for r in &mut running {
                r.terminate(Exit::Interrupted);
                if interrupts >= 2 {
                    r.kill();
                }
            }
        }
        while running.len() < slots && next < order.len() && !proc::interrupted() {
            let index = order[next];
            let job = &jobs[index];
            let start = conclude::clock();
            events.started(index, job, &start);
            let limit = cfg.limit_for(&job.test);
            match spawn::spawn(job, cfg, limit) {
                Ok((child, log, dirs)) => running.push(Running {
                    index,
                    exited: PidFd::open(child.id() as i32).ok(),
                    child,
                    watch: Stopwatch::start(),
                    start,
                    log,
                    echo_pos: 0,
                    dirs,
                    limit,
                    state: State::Running,
                    slow_reported: 0,
                }),
                Err(exit) => {
                    let o = conclude::conclude(job, cfg, &exit, None, &start, None, &mut book);
                    events.finished(index, job, &o);
                    outcomes[index] = Some(o);
                }
            }
            next += 1;
        }
        if running.is_empty() {
            break;
        }
        let mut i = 0;
        while i < running.len() {
            let r = &mut running[i];
            if cfg.echo {
                r.echo_pos = spawn::echo(&r.log, r.echo_pos);
            }
            if let Some(slow) = cfg.slow
                && matches!(r.state, State::Running)
                && !slow.is_zero()
            {
                let periods = (r.watch.elapsed().as_secs_f64() / slow.as_secs_f64()) as u32;
                if periods > r.slow_reported {
                    r.slow_reported = periods;
                    events.slow(r.index, &jobs[r.index], slow * periods);
                }
            }
            match r.poll(cfg) {
                Some(exit) => {
                    let r = running.remove(i);
                    if cfg.echo {
                        spawn::echo(&r.log, r.echo_pos);
                    }
                    let elapsed = (r.watch.elapsed().as_secs_f64() * 10.0).round() / 10.0;
                    let job = &jobs[r.index];
                    let o = conclude::conclude(job, cfg, &exit, Some(elapsed), &r.start, Some(&r.dirs), &mut book);
                    events.finished(r.index, job, &o);
                    outcomes[r.index] = Some(o);
                }
                None => i += 1,
            }
        }
        let labels: Vec<&str> = running.iter().map(|r| jobs[r.index].label.as_str()).collect();
        events.tick(&labels);
        // Wake up as soon as a test process ends (or at the next tick for
        // deadlines, echo and the slow report): a 20 ms sleep cost every
        // short test up to a tick.
        let fds: Vec<_> = running.iter().filter_map(|r| r.exited.as_ref().map(|f| f.as_fd())).collect();
        if fds.len() == running.len() {
            proc::nap(&fds, proc::POLL);
        } else {
            std::thread::sleep(proc::POLL);
        }
    }
    // Tests never started because of an interrupt.
    outcomes
        .into_iter()
        .zip(jobs)
        .map(|(o, job)| {
            o.unwrap_or_else(|| conclude::conclude(job, cfg, &Exit::Interrupted, None, "--:--:--", None, &mut book))
        })
        .collect()
}
