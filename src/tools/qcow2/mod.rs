//! QEMU's `tests/qemu-iotests/qcow2.py`, in Rust.
//!
//! qcow2.py (Copyright (C) 2012 Red Hat, Inc., GPL-2.0-or-later; with
//! qcow2_format.py, Copyright (c) 2020 Virtuozzo International GmbH) dumps
//! and edits qcow2 headers for iotests: `dump-header`, `dump-header-exts`,
//! `set-header`, `add-header-ext`, `add-header-ext-stdio`, `del-header-ext`,
//! `set-feature-bit`, and JSON output with `-j`. [`qcow2_py`] does what
//! running the script does — same arguments, same stdout byte for byte,
//! same exit status, same changes to the image — without Python.
//!
//! Where the script would die of an exception (a file too short for a
//! header, a bitmap name that is not ASCII, writing back a bitmaps
//! extension, which upstream cannot do), the result is an
//! [`Error::ToolFailed`] with status 1 whose output is what was printed
//! before and the exception's text; changes the script would have made to
//! the file before failing are made too.
//!
//! Tests that import the module instead (upstream 044's `QcowHeader(fd)`)
//! use [`QcowHeader`].
//!
//! A ported test calls it as upstream test 303 runs the script:
//!
//! ```no_run
//! # fn main() -> iotests::Result<()> {
//! # let t = iotests::TestContext::new("303", iotests::env::TestEnv::from_process_env("qcow2"))?;
//! let disk = t.file_path("disk");
//! // subprocess.run(['./qcow2.py', disk, 'dump-header', '-j'])
//! t.qcow2_py(&[disk.as_str(), "dump-header", "-j"])?;
//! # Ok(()) }
//! ```

mod format;
mod header;
mod pyfile;
mod pyint;
#[cfg(test)]
mod tests;
mod write;

pub use header::QcowHeader;

use crate::context::TestContext;
use crate::error::{Error, Result};

use format::{AUTOCLEAR_FEATURES, COMPATIBLE_FEATURES, HEADER_FIELDS, Header, INCOMPATIBLE_FEATURES};
use pyfile::{PyFile, PyResult};
use pyint::PyInt;
use write::{BadValue, NewExt};

/// The program name qcow2.py's usage text shows (`sys.argv[0]` as the
/// shell tests run it: `$PYTHON qcow2.py …`).
///
/// ```
/// let out = iotests::tools::qcow2_py(&["-j"], None)?;
/// assert!(out.stdout.starts_with(&format!("Usage: {} ", iotests::tools::QCOW2_PY_ARGV0)));
/// # Ok::<(), iotests::Error>(())
/// ```
pub const QCOW2_PY_ARGV0: &str = "qcow2.py";

/// What a run of qcow2.py printed on stdout, and its exit status.
///
/// ```
/// let out = iotests::tools::qcow2_py(&[] as &[&str], None)?;
/// assert_eq!(out.status, 1);
/// assert!(out.stdout.starts_with("Usage: qcow2.py <file> <cmd>"));
/// # Ok::<(), iotests::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Qcow2PyOutput {
    /// Everything printed, verbatim.
    pub stdout: String,
    /// The exit status: 0, or 1 where the script calls `sys.exit(1)`
    /// (usage without enough arguments, an invalid number, field or group).
    pub status: i32,
}

/// Run qcow2.py with `args` (everything after the script's name), reading
/// `stdin` for `add-header-ext-stdio` (none reads as empty).
///
/// ```
/// # fn main() -> iotests::Result<()> {
/// # let dir = tempfile::tempdir().unwrap();
/// # let path = dir.path().join("x.qcow2");
/// # let s = std::process::Command::new("qemu-img").args(["create", "-f", "qcow2"]).arg(&path).arg("1M").output();
/// # if !matches!(s, Ok(ref o) if o.status.success()) { return Ok(()); }
/// let img = path.to_str().unwrap();
/// iotests::tools::qcow2_py(&[img, "add-header-ext-stdio", "0x12345678"], Some(b"hello"))?;
/// let out = iotests::tools::qcow2_py(&[img, "dump-header-exts"], None)?;
/// assert!(out.stdout.contains("magic                     0x12345678 (<unknown>)\n"));
/// assert!(out.stdout.contains("data                      'hello'\n"));
/// # Ok(()) }
/// ```
pub fn qcow2_py<S: AsRef<str>>(args: &[S], stdin: Option<&[u8]>) -> Result<Qcow2PyOutput> {
    let (stdout, result) = run(args, stdin);
    result.map(|status| Qcow2PyOutput { stdout: stdout.clone(), status }).map_err(|e| failed(args, stdout, e))
}

/// The error for a run that died of an exception.
fn failed<S: AsRef<str>>(args: &[S], mut output: String, exception: String) -> Error {
    let mut argv = vec![QCOW2_PY_ARGV0.to_string()];
    argv.extend(args.iter().map(|a| a.as_ref().to_string()));
    output.push_str(&exception);
    output.push('\n');
    Error::ToolFailed { tool: QCOW2_PY_ARGV0.into(), cmdline: argv.join(" "), status: 1, signal: None, output }
}

impl TestContext {
    /// `subprocess.run(['./qcow2.py', *args])` in a test: run
    /// [`qcow2_py`] and write what it prints into the log, verbatim (no
    /// filters, no added newline), as the script's inherited stdout does.
    /// A run that fails with an exception logs what it printed first and
    /// returns the error.
    ///
    /// ```no_run
    /// # fn main() -> iotests::Result<()> {
    /// # let t = iotests::TestContext::new("036", iotests::env::TestEnv::from_process_env("qcow2"))?;
    /// # let img = t.file_path("t.qcow2");
    /// t.qcow2_py(&[img.as_str(), "set-feature-bit", "incompatible", "63"])?;
    /// t.qcow2_py(&[img.as_str(), "dump-header-exts"])?;
    /// # Ok(()) }
    /// ```
    pub fn qcow2_py<S: AsRef<str>>(&self, args: &[S]) -> Result<Qcow2PyOutput> {
        self.qcow2_py_run(args, None)
    }

    /// `printf … | $PYTHON qcow2.py <args>`: [`qcow2_py`](Self::qcow2_py)
    /// with `stdin` as the script's standard input (for
    /// `add-header-ext-stdio`).
    ///
    /// ```no_run
    /// # fn main() -> iotests::Result<()> {
    /// # let t = iotests::TestContext::new("036", iotests::env::TestEnv::from_process_env("qcow2"))?;
    /// # let img = t.file_path("t.qcow2");
    /// t.qcow2_py_stdin(&[img.as_str(), "add-header-ext-stdio", "0x6803f857"], b"\x00\x3fTest feature")?;
    /// # Ok(()) }
    /// ```
    pub fn qcow2_py_stdin<S: AsRef<str>>(&self, args: &[S], stdin: &[u8]) -> Result<Qcow2PyOutput> {
        self.qcow2_py_run(args, Some(stdin))
    }

    fn qcow2_py_run<S: AsRef<str>>(&self, args: &[S], stdin: Option<&[u8]>) -> Result<Qcow2PyOutput> {
        let (stdout, result) = run(args, stdin);
        self.logger().write(&stdout);
        result.map(|status| Qcow2PyOutput { stdout: stdout.clone(), status }).map_err(|e| failed(args, stdout, e))
    }
}

/// The script's `if __name__ == '__main__'` block: what it printed, and
/// its exit status or the exception it died of.
fn run<S: AsRef<str>>(args: &[S], stdin: Option<&[u8]>) -> (String, PyResult<i32>) {
    let mut out = String::new();
    let result = main(args, stdin, &mut out);
    (out, result)
}

type Handler = fn(&mut Cmd<'_>) -> PyResult<i32>;

/// `cmds`: name, handler, number of arguments, description.
const CMDS: [(&str, Handler, usize, &str); 7] = [
    ("dump-header", cmd_dump_header, 0, "Dump image header and header extensions"),
    ("dump-header-exts", cmd_dump_header_exts, 0, "Dump image header extensions"),
    ("set-header", cmd_set_header, 2, "Set a field in the header"),
    ("add-header-ext", cmd_add_header_ext, 2, "Add a header extension"),
    ("add-header-ext-stdio", cmd_add_header_ext_stdio, 1, "Add a header extension, data from stdin"),
    ("del-header-ext", cmd_del_header_ext, 1, "Delete a header extension"),
    ("set-feature-bit", cmd_set_feature_bit, 2, "Set a feature bit"),
];

/// One command's world: the open image, its arguments, stdin, stdout.
struct Cmd<'a> {
    f: PyFile,
    args: Vec<&'a str>,
    stdin: &'a [u8],
    is_json: bool,
    out: &'a mut String,
}

impl Cmd<'_> {
    fn print(&mut self, text: &str) {
        self.out.push_str(text);
        self.out.push('\n');
    }
}

fn usage(out: &mut String) {
    out.push_str(&format!("Usage: {QCOW2_PY_ARGV0} <file> <cmd> [<arg>, ...] [<key>, ...]\n\nSupported commands:\n"));
    for (name, _, _, desc) in CMDS {
        out.push_str(&format!("    {name:<20} - {desc}\n"));
    }
    out.push_str(&format!("\nSupported keys:\n    {:<20} - {}\n", "-j", "Dump in JSON format"));
}

fn main<S: AsRef<str>>(args: &[S], stdin: Option<&[u8]>, out: &mut String) -> PyResult<i32> {
    let mut argv: Vec<&str> = args.iter().map(AsRef::as_ref).collect();
    // len(sys.argv) < 3, before '-j' is taken out.
    if argv.len() < 2 {
        usage(out);
        return Ok(1);
    }
    let is_json = argv.contains(&"-j");
    if let Some(at) = argv.iter().position(|a| *a == "-j") {
        argv.remove(at);
    }
    if argv.len() < 2 {
        return Err("IndexError: list index out of range (no command after removing -j)".into());
    }
    let (filename, cmd) = (argv[0], argv[1]);
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(filename)
        .map_err(|e| format!("OSError: opening '{filename}' for reading and writing: {e}"))?;
    let Some((_, handler, nargs, _)) = CMDS.iter().find(|c| c.0 == cmd) else {
        out.push_str(&format!("Unknown command '{cmd}'\n"));
        return Ok(0);
    };
    if argv.len() - 2 != *nargs {
        usage(out);
        return Ok(0);
    }
    let mut c = Cmd { f: PyFile::new(file), args: argv[2..].to_vec(), stdin: stdin.unwrap_or_default(), is_json, out };
    let status = handler(&mut c);
    // close() flushes what was written, also after an exception.
    let flushed = c.f.flush();
    let status = status?;
    flushed.map(|()| status)
}

fn cmd_dump_header(c: &mut Cmd<'_>) -> PyResult<i32> {
    let h = Header::read(&mut c.f)?;
    h.dump(c.out, c.is_json);
    c.out.push('\n');
    h.dump_extensions(c.out, c.is_json)?;
    Ok(0)
}

fn cmd_dump_header_exts(c: &mut Cmd<'_>) -> PyResult<i32> {
    let h = Header::read(&mut c.f)?;
    h.dump_extensions(c.out, c.is_json)?;
    Ok(0)
}

fn cmd_set_header(c: &mut Cmd<'_>) -> PyResult<i32> {
    let (name, text) = (c.args[0], c.args[1]);
    let Some(value) = PyInt::parse(text) else {
        c.print(&format!("'{text}' is not a valid number"));
        return Ok(1);
    };
    let Some(index) = HEADER_FIELDS.iter().position(|f| f.name == name) else {
        c.print(&format!("'{name}' is not a known header field"));
        return Ok(1);
    };
    let mut h = Header::read(&mut c.f)?;
    let fits = value.to_u64().filter(|&v| v <= HEADER_FIELDS[index].ty.max());
    let bad = match fits {
        Some(v) => {
            h.values[index] = v;
            None
        }
        None => Some(BadValue { index, value }),
    };
    h.update(&mut c.f, None, bad)?;
    Ok(0)
}

/// `int(magic, 0)`, or the script's complaint.
fn parse_magic(c: &mut Cmd<'_>, text: &str) -> Option<PyInt> {
    let magic = PyInt::parse(text);
    if magic.is_none() {
        c.print(&format!("'{text}' is not a valid magic number"));
    }
    magic
}

fn add_header_ext(c: &mut Cmd<'_>, magic: &str, data: &[u8]) -> PyResult<i32> {
    let Some(magic) = parse_magic(c, magic) else { return Ok(1) };
    let mut h = Header::read(&mut c.f)?;
    if let Some(at) = data.iter().position(|b| !b.is_ascii()) {
        return Err(format!(
            "UnicodeEncodeError: 'ascii' codec can't encode the byte {:#04x} in position {at}: ordinal not in range(128)",
            data[at]
        ));
    }
    h.update(&mut c.f, Some(NewExt { magic, data: data.to_vec() }), None)?;
    Ok(0)
}

fn cmd_add_header_ext(c: &mut Cmd<'_>) -> PyResult<i32> {
    let (magic, data) = (c.args[0], c.args[1]);
    add_header_ext(c, magic, data.as_bytes())
}

/// stdin is read as text: decoded as UTF-8 with surrogateescape (Python's
/// setting under the C and C.UTF-8 locales) and with no newline
/// translation, so any byte that is not ASCII fails the `encode('ascii')`.
fn cmd_add_header_ext_stdio(c: &mut Cmd<'_>) -> PyResult<i32> {
    let (magic, data) = (c.args[0], c.stdin);
    add_header_ext(c, magic, data)
}

fn cmd_del_header_ext(c: &mut Cmd<'_>) -> PyResult<i32> {
    let text = c.args[0];
    let Some(magic) = parse_magic(c, text) else { return Ok(1) };
    let mut h = Header::read(&mut c.f)?;
    // Upstream removes from the list it is iterating over, which skips the
    // extension after each one removed: kept as it is.
    let mut found = false;
    let mut i = 0;
    while i < h.extensions.len() {
        if magic.to_u64() == Some(h.extensions[i].magic.into()) {
            found = true;
            h.extensions.remove(i);
        }
        i += 1;
    }
    if !found {
        c.print("No such header extension");
        return Ok(0);
    }
    h.update(&mut c.f, None, None)?;
    Ok(0)
}

fn cmd_set_feature_bit(c: &mut Cmd<'_>) -> PyResult<i32> {
    let (group, text) = (c.args[0], c.args[1]);
    let bit = match PyInt::parse(text) {
        None => {
            c.print(&format!("'{text}' is not a valid bit number in range [0, 64)"));
            return Ok(1);
        }
        Some(n) => match n.to_u64().filter(|&b| b < 64) {
            Some(b) => b,
            None => {
                // The message shows the parsed number, not the text.
                let shown = n.to_decimal().ok_or(
                    "ValueError: Exceeds the limit (4300 digits) for integer string conversion; \
                     use sys.set_int_max_str_digits() to increase the limit",
                )?;
                c.print(&format!("'{shown}' is not a valid bit number in range [0, 64)"));
                return Ok(1);
            }
        },
    };
    let mut h = Header::read(&mut c.f)?;
    let index = match group {
        "incompatible" => INCOMPATIBLE_FEATURES,
        "compatible" => COMPATIBLE_FEATURES,
        "autoclear" => AUTOCLEAR_FEATURES,
        _ => {
            c.print(&format!("'{group}' is not a valid group, try 'incompatible', 'compatible', or 'autoclear'"));
            return Ok(1);
        }
    };
    h.values[index] |= 1 << bit;
    h.update(&mut c.f, None, None)?;
    Ok(0)
}
