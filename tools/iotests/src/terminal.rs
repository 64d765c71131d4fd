//! The terminal for `iotests review`: single-key answers (no Enter) and a
//! pager for diffs taller than the screen.

use std::io::{Read, Write};
use std::process::{Command, Stdio};

/// Where review's answers come from.
pub trait Keys {
    /// The next key pressed, `None` at end of input.
    fn key(&mut self) -> Option<char>;
}

/// Keys from a byte slice (for tests, and for piped input).
impl Keys for &[u8] {
    fn key(&mut self) -> Option<char> {
        let (&b, rest) = self.split_first()?;
        *self = rest;
        Some(b as char)
    }
}

/// Single keys from the terminal on stdin: canonical mode, echo and signal
/// keys are off while a key is read (Ctrl-C arrives as `\x03`, so the
/// terminal is always restored), and restored right after.
pub struct TerminalKeys;

impl Keys for TerminalKeys {
    fn key(&mut self) -> Option<char> {
        let fd = libc::STDIN_FILENO;
        // SAFETY: tcgetattr/tcsetattr only read and write the termios we
        // pass; the original settings are restored before returning.
        unsafe {
            let mut saved: libc::termios = std::mem::zeroed();
            if libc::tcgetattr(fd, &mut saved) != 0 {
                return read_byte();
            }
            let mut raw = saved;
            raw.c_lflag &= !(libc::ICANON | libc::ECHO | libc::ISIG);
            raw.c_cc[libc::VMIN] = 1;
            raw.c_cc[libc::VTIME] = 0;
            libc::tcsetattr(fd, libc::TCSANOW, &raw);
            let k = read_byte();
            libc::tcsetattr(fd, libc::TCSANOW, &saved);
            k
        }
    }
}

fn read_byte() -> Option<char> {
    let mut b = [0u8; 1];
    match std::io::stdin().read(&mut b) {
        Ok(1) => Some(b[0] as char),
        _ => None,
    }
}

/// The terminal's height in rows, if stdout is one.
pub fn rows() -> Option<usize> {
    // SAFETY: TIOCGWINSZ writes a winsize into the struct we pass.
    unsafe {
        let mut ws: libc::winsize = std::mem::zeroed();
        (libc::ioctl(libc::STDOUT_FILENO, libc::TIOCGWINSZ, &mut ws) == 0 && ws.ws_row > 0)
            .then_some(ws.ws_row as usize)
    }
}

/// Show `text` through `$PAGER` (default `less -R`), waiting for it to
/// exit — the one wait without a limit, as the person reading decides.
/// Returns false if no pager could be started.
pub fn page(text: &str) -> bool {
    let pager = std::env::var("PAGER").ok().filter(|p| !p.trim().is_empty()).unwrap_or_else(|| "less -R".into());
    let mut words = pager.split_whitespace();
    let Some(program) = words.next() else { return false };
    let Ok(mut child) = Command::new(program).args(words).stdin(Stdio::piped()).spawn() else { return false };
    if let Some(mut stdin) = child.stdin.take() {
        // A pager quit early closes its input: not an error.
        let _ = stdin.write_all(text.as_bytes());
    }
    child.wait().is_ok()
}
