//! What `/proc` says about a process: when it started, its state, its
//! command line — to recognise a daemon we did not start ourselves.

/// Now, in clock ticks since boot (the unit of `/proc/<pid>/stat`'s
/// `starttime`), rounded down a little to be safe.
pub(crate) fn boot_ticks() -> Option<u64> {
    let uptime = std::fs::read_to_string("/proc/uptime").ok()?;
    let secs: f64 = uptime.split_whitespace().next()?.parse().ok()?;
    Some(((secs - 0.05).max(0.0) * clock_ticks_per_second()) as u64)
}

fn clock_ticks_per_second() -> f64 {
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if hz > 0 { hz as f64 } else { 100.0 }
}

/// `starttime` and state of a process, from `/proc/<pid>/stat`.
pub(crate) fn stat(pid: i32) -> Option<(u64, char)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may contain spaces and parentheses: split after the
    // last ')'.
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let state = fields.first()?.chars().next()?;
    // starttime is field 22 overall, the 20th after the name.
    Some((fields.get(19)?.parse().ok()?, state))
}

/// The command line of a process, split at its NULs.
pub(crate) fn cmdline(pid: i32) -> Option<Vec<String>> {
    let raw = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
    let mut parts: Vec<String> = raw.split(|&b| b == 0).map(|p| String::from_utf8_lossy(p).into_owned()).collect();
    if parts.last().is_some_and(String::is_empty) {
        parts.pop();
    }
    Some(parts)
}

/// Whether `state` (from [`stat`]) is a process that has ended.
pub(crate) fn is_dead(state: char) -> bool {
    matches!(state, 'Z' | 'X' | 'x')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_stat_is_readable() {
        let me = std::process::id() as i32;
        let (start, state) = stat(me).unwrap();
        assert!(start <= boot_ticks().unwrap() + 100);
        assert!(!is_dead(state));
        assert!(!cmdline(me).unwrap().is_empty());
        assert_eq!(stat(-1), None);
    }
}
