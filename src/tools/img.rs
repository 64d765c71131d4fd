//! qemu-img: iotests' `qemu_img*`, `img_info_log`, `image_size`,
//! `compare_images` and the probes that create throw-away images.

use serde_json::Value;

use super::pipe::{self, ErrTo, Out};
use super::{strings, tool_failed};
use crate::context::TestContext;
use crate::env::TestEnv;
use crate::error::{Error, Result};
use crate::filters::Filter;
use crate::process::{DEFAULT_TOOL_TIMEOUT, Output};

/// The options of iotests' `img_info_log(filename, filter_path=None,
/// use_image_opts=False, extra_args=(), check=True, drop_child_info=True)`.
///
/// ```
/// let o = iotests::tools::ImgInfoOpts { use_image_opts: true, ..Default::default() };
/// assert!(o.check && o.drop_child_info && o.filter_path.is_none());
/// ```
#[derive(Debug, Clone)]
pub struct ImgInfoOpts {
    /// The name that `filter_img_info` replaces with `TEST_IMG` (default:
    /// the file name).
    pub filter_path: Option<String>,
    /// `--image-opts` instead of `-f IMGFMT`.
    pub use_image_opts: bool,
    /// Inserted before the file name.
    pub extra_args: Vec<String>,
    /// Fail on a non-zero exit status.
    pub check: bool,
    /// Drop `Child node` sections.
    pub drop_child_info: bool,
}

impl Default for ImgInfoOpts {
    fn default() -> Self {
        ImgInfoOpts {
            filter_path: None,
            use_image_opts: false,
            extra_args: Vec::new(),
            check: true,
            drop_child_info: true,
        }
    }
}

/// Which options `qemu_img_create_prepare_args`' argparse parser knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Opt {
    O,
    F,
    Help,
    Unknown,
}

/// argparse's `_parse_optional` for the parser `{-h/--help, -o, -f}` with
/// `allow_abbrev=False`: `None` for a positional, else the option and its
/// attached value (`-oVALUE`, `-o=VALUE`).
fn parse_optional(arg: &str) -> Option<(Opt, Option<String>)> {
    let known = |s: &str| match s {
        "-o" => Some(Opt::O),
        "-f" => Some(Opt::F),
        "-h" | "--help" => Some(Opt::Help),
        _ => None,
    };
    if !arg.starts_with('-') {
        return None;
    }
    if let Some(o) = known(arg) {
        return Some((o, None));
    }
    if arg.chars().count() == 1 {
        return None;
    }
    if let Some((pre, post)) = arg.split_once('=')
        && let Some(o) = known(pre)
    {
        return Some((o, Some(post.to_string())));
    }
    // Single-dash options may carry their value attached (`-fqcow2`);
    // double-dash ones are not abbreviated (allow_abbrev=False).
    if !arg.starts_with("--") {
        let split = arg.char_indices().nth(2).map_or(arg.len(), |(i, _)| i);
        if let Some(o) = known(&arg[..split]) {
            return Some((o, Some(arg[split..].to_string())));
        }
    }
    let digits = |s: &str| s.chars().all(|c| c.is_ascii_digit());
    let body = &arg[1..];
    let negative_number = (!body.is_empty() && digits(body))
        || body.split_once('.').is_some_and(|(a, b)| digits(a) && !b.is_empty() && digits(b));
    if negative_number || arg.contains(' ') {
        return None;
    }
    Some((Opt::Unknown, None))
}

/// iotests' `qemu_img_create_prepare_args(args)` for the environment `env`:
/// for a `create` command, parse `-f` and (repeatable) `-o` the way
/// Python's `argparse.parse_known_args` does, then rebuild the command as
/// `create [-f FMT] [--object SECRET] -o IMGOPTS -o OPTS… REMAINING…`:
/// `IMGOPTS` first, only when `-f` is the test's format; for `-f luks`
/// without a `key-secret` in any `-o`, the default secret object and
/// `key-secret` option. Other commands pass through unchanged.
///
/// Errors where argparse would exit: `-o`/`-f` without a value, `-h`.
/// (Python ≥ 3.12 treats `--` slightly differently; this follows 3.11.)
///
/// ```
/// use iotests::env::{TestEnv, Vars};
/// use iotests::tools::qemu_img_create_prepare_args;
/// let vars: Vars = [("IMGFMT", "qcow2"), ("IMGOPTS", "compat=0.10")]
///     .map(|(k, v)| (k.to_string(), v.to_string())).into();
/// let env = TestEnv::from_vars(&vars, "raw");
/// let args = qemu_img_create_prepare_args(&env, &["create", "img", "-o", "cluster_size=4k", "-f", "qcow2", "1M"]);
/// assert_eq!(args.unwrap(), ["create", "-f", "qcow2", "-o", "compat=0.10", "-o", "cluster_size=4k", "img", "1M"]);
/// let args = qemu_img_create_prepare_args(&env, &["create", "-f", "luks", "img", "1M"]).unwrap();
/// assert_eq!(args[3..7], ["--object", "secret,id=keysec0,data=", "-o", "key-secret=keysec0"]);
/// ```
pub fn qemu_img_create_prepare_args<S: AsRef<str>>(env: &TestEnv, args: &[S]) -> Result<Vec<String>> {
    let args = strings(args);
    if args.first().map(String::as_str) != Some("create") {
        return Ok(args);
    }
    let args = &args[1..];
    // argparse's pattern: 'O' option, 'A' argument, '-' for the first `--`
    // (everything after it is an argument).
    let mut pattern = Vec::with_capacity(args.len());
    let mut opts = Vec::with_capacity(args.len());
    let mut after_dashes = false;
    for a in args {
        if after_dashes {
            pattern.push('A');
            opts.push(None);
        } else if a == "--" {
            after_dashes = true;
            pattern.push('-');
            opts.push(None);
        } else {
            let o = parse_optional(a);
            pattern.push(if o.is_some() { 'O' } else { 'A' });
            opts.push(o);
        }
    }
    let usage = |msg: String| Error::Usage(format!("qemu_img_create_prepare_args: {msg} (argparse would exit)"));

    let mut opts_list: Vec<String> = Vec::new();
    let mut fmt: Option<String> = None;
    let mut remaining: Vec<String> = Vec::new();
    let mut i = 0;
    while let Some(next) = (i..args.len()).find(|&j| pattern[j] == 'O') {
        remaining.extend_from_slice(&args[i..next]);
        i = next;
        let Some((opt, explicit)) = opts[i].clone() else { break };
        let value = match (opt, explicit) {
            (Opt::Unknown, _) => {
                remaining.push(args[i].clone());
                i += 1;
                continue;
            }
            (Opt::Help, _) => return Err(usage(format!("{} prints the help", args[i]))),
            (_, Some(v)) => {
                i += 1;
                v
            }
            (_, None) => {
                // nargs=None on an optional: argparse's pattern is '(A)' (the
                // '-*' parts are dropped for optionals), so the value must be
                // the very next string and not an option or the first `--`.
                if pattern.get(i + 1) != Some(&'A') {
                    return Err(usage(format!("argument {}: expected one argument", args[i])));
                }
                i += 2;
                args[i - 1].clone()
            }
        };
        match opt {
            Opt::O => opts_list.push(value),
            _ => fmt = Some(value),
        }
    }
    remaining.extend_from_slice(&args[i.min(args.len())..]);

    let mut result = vec!["create".to_string()];
    if let Some(f) = &fmt {
        result.extend(["-f".to_string(), f.clone()]);
    }
    if let Some(imgopts) = env.imgopts.as_deref().filter(|o| !o.is_empty())
        && fmt.as_deref() == Some(env.imgfmt.as_str())
    {
        opts_list.insert(0, imgopts.to_string());
    }
    if fmt.as_deref() == Some("luks") && opts_list.iter().all(|o| !o.contains("key-secret")) {
        result.extend(["--object".to_string(), env.luks_default_secret_object()]);
        opts_list.push(env.luks_default_key_secret_opt().to_string());
    }
    for o in opts_list {
        result.extend(["-o".to_string(), o]);
    }
    result.extend(remaining);
    Ok(result)
}

impl TestContext {
    /// iotests' `qemu_img(*args)`: run qemu-img (with `QEMU_IMG_OPTIONS`
    /// and, for `create`, [`qemu_img_create_prepare_args`]); a non-zero
    /// exit status is an [`Error::ToolFailed`] carrying the output.
    ///
    /// ```no_run
    /// # fn main() -> iotests::Result<()> {
    /// # let t = iotests::TestContext::new("x", iotests::env::TestEnv::from_process_env("qcow2"))?;
    /// let out = t.qemu_img(&["info", "-f", "qcow2", "/tmp/x.qcow2"])?;
    /// println!("{}", out.stdout);
    /// # Ok(()) }
    /// ```
    pub fn qemu_img<S: AsRef<str>>(&self, args: &[S]) -> Result<Output> {
        self.qemu_img_cmd(args).run()
    }

    /// iotests' `qemu_img_create_prepare_args(args)` with this test's
    /// environment.
    pub fn qemu_img_create_prepare_args<S: AsRef<str>>(&self, args: &[S]) -> Result<Vec<String>> {
        qemu_img_create_prepare_args(self.env(), args)
    }

    /// iotests' `qemu_img_create(*args)`: `qemu_img('create', *args)`.
    ///
    /// ```no_run
    /// # fn main() -> iotests::Result<()> {
    /// # let t = iotests::TestContext::new("x", iotests::env::TestEnv::from_process_env("qcow2"))?;
    /// let img = t.file_path("test.img");
    /// t.qemu_img_create(&iotests::args!["-f", t.imgfmt(), &img, 1 << 20])?;
    /// # Ok(()) }
    /// ```
    pub fn qemu_img_create<S: AsRef<str>>(&self, args: &[S]) -> Result<Output> {
        let mut v = vec!["create".to_string()];
        v.extend(strings(args));
        self.qemu_img(&v)
    }

    /// iotests' `qemu_img_json(*args)`: run qemu-img with stdout and stderr
    /// apart and parse stdout as JSON. A non-zero exit status is accepted
    /// when stdout still parses (`check` reports corruption that way); a
    /// signal never is.
    pub fn qemu_img_json<S: AsRef<str>>(&self, args: &[S]) -> Result<Value> {
        self.qemu_img_cmd(args).json()
    }

    /// iotests' `qemu_img_measure(*args)`: `measure --output json`.
    pub fn qemu_img_measure<S: AsRef<str>>(&self, args: &[S]) -> Result<Value> {
        self.qemu_img_json(&prefixed(&["measure", "--output", "json"], args))
    }

    /// iotests' `qemu_img_check(*args)`: `check --output json`.
    pub fn qemu_img_check<S: AsRef<str>>(&self, args: &[S]) -> Result<Value> {
        self.qemu_img_json(&prefixed(&["check", "--output", "json"], args))
    }

    /// iotests' `qemu_img_info(*args)`: `info --output json`.
    ///
    /// ```no_run
    /// # fn main() -> iotests::Result<()> {
    /// # let t = iotests::TestContext::new("x", iotests::env::TestEnv::from_process_env("qcow2"))?;
    /// let info = t.qemu_img_info(&["-f", "qcow2", "/tmp/x.qcow2"])?;
    /// assert_eq!(info["format"], "qcow2");
    /// # Ok(()) }
    /// ```
    pub fn qemu_img_info<S: AsRef<str>>(&self, args: &[S]) -> Result<Value> {
        self.qemu_img_json(&prefixed(&["info", "--output", "json"], args))
    }

    /// iotests' `qemu_img_map(*args)`: `map --output json`.
    pub fn qemu_img_map<S: AsRef<str>>(&self, args: &[S]) -> Result<Value> {
        self.qemu_img_json(&prefixed(&["map", "--output", "json"], args))
    }

    /// iotests' `qemu_img_log(*args)`: run qemu-img and log its output
    /// through `filter_testfiles`.
    pub fn qemu_img_log<S: AsRef<str>>(&self, args: &[S]) -> Result<Output> {
        self.qemu_img_cmd(args).log()
    }

    /// iotests' `img_info_log(filename)` with the default options.
    pub fn img_info_log(&self, filename: &str) -> Result<()> {
        self.img_info_log_with(filename, ImgInfoOpts::default())
    }

    /// iotests' `img_info_log(filename, filter_path=…, use_image_opts=…,
    /// extra_args=…, check=…, drop_child_info=…)`: `qemu-img info` logged
    /// through `filter_img_info`.
    ///
    /// ```no_run
    /// # fn main() -> iotests::Result<()> {
    /// # let t = iotests::TestContext::new("x", iotests::env::TestEnv::from_process_env("qcow2"))?;
    /// use iotests::tools::ImgInfoOpts;
    /// let img = t.file_path("test.img");
    /// t.img_info_log_with(&img, ImgInfoOpts { extra_args: vec!["-U".into()], ..Default::default() })?;
    /// # Ok(()) }
    /// ```
    pub fn img_info_log_with(&self, filename: &str, opts: ImgInfoOpts) -> Result<()> {
        let mut args = vec!["info".to_string()];
        if opts.use_image_opts {
            args.push("--image-opts".into());
        } else {
            args.extend(["-f".to_string(), self.imgfmt().to_string()]);
        }
        args.extend(opts.extra_args.iter().cloned());
        args.push(filename.to_string());
        let out = self.qemu_img_cmd(&args).check(opts.check).run()?;
        let filter_path = opts.filter_path.as_deref().filter(|p| !p.is_empty()).unwrap_or(filename);
        let filter = Filter::ImgInfo { filename: filter_path.to_string(), drop_child_info: opts.drop_child_info };
        self.log_with(out.stdout, &[filter]);
        Ok(())
    }

    /// iotests' (pre-8.0) `qemu_img_verbose(*args)`: run qemu-img with its
    /// output going where the test's goes (the log); the exit status.
    pub fn qemu_img_verbose<S: AsRef<str>>(&self, args: &[S]) -> Result<i32> {
        let mut argv = self.env().qemu_img_args()?;
        argv.extend(strings(args));
        let (rc, _) = pipe::run_plumbed(
            self.logger(),
            self.processes(),
            "qemu-img",
            &argv,
            Out::Log,
            ErrTo::Log,
            DEFAULT_TOOL_TIMEOUT,
        )?;
        Ok(rc)
    }

    /// iotests' (pre-8.0) `qemu_img_pipe_and_status(*args)`: combined
    /// output and exit status, without `create` preparation.
    pub fn qemu_img_pipe_and_status<S: AsRef<str>>(&self, args: &[S]) -> Result<(String, i32)> {
        let mut argv = self.env().qemu_img_args()?;
        argv.extend(strings(args));
        self.qemu_tool_pipe_and_status("qemu-img", &argv, true)
    }

    /// iotests' (pre-8.0) `qemu_img_pipe(*args)`: combined output, exit
    /// status ignored.
    pub fn qemu_img_pipe<S: AsRef<str>>(&self, args: &[S]) -> Result<String> {
        Ok(self.qemu_img_pipe_and_status(args)?.0)
    }

    /// iotests' `image_size(img)`: the virtual size of an `IMGFMT` image.
    pub fn image_size(&self, img: &str) -> Result<u64> {
        let info = self.qemu_img_info(&["-f", self.imgfmt(), img])?;
        let value = &info["virtual-size"];
        value.as_u64().ok_or_else(|| {
            Error::python(
                "TypeError",
                format!("Expected 'int' for 'virtual-size', got '{value}' of type '{}'", json_type(value)),
            )
        })
    }

    /// iotests' `compare_images(img1, img2)`: both in `IMGFMT`.
    pub fn compare_images(&self, img1: &str, img2: &str) -> Result<bool> {
        self.compare_images_with(img1, img2, self.imgfmt(), self.imgfmt())
    }

    /// iotests' `compare_images(img1, img2, fmt1, fmt2)`: whether
    /// `qemu-img compare` finds them identical (exit 0) or not (exit 1);
    /// any other status is an error.
    ///
    /// ```no_run
    /// # fn main() -> iotests::Result<()> {
    /// # let t = iotests::TestContext::new("x", iotests::env::TestEnv::from_process_env("qcow2"))?;
    /// assert!(t.compare_images_with("/tmp/a.qcow2", "/tmp/a.raw", "qcow2", "raw")?);
    /// # Ok(()) }
    /// ```
    pub fn compare_images_with(&self, img1: &str, img2: &str, fmt1: &str, fmt2: &str) -> Result<bool> {
        let out = self.qemu_img_cmd(&["compare", "-f", fmt1, "-F", fmt2, img1, img2]).check(false).run()?;
        match out.returncode {
            0 => Ok(true),
            1 => Ok(false),
            _ => Err(tool_failed("qemu-img", &out)),
        }
    }
}

fn prefixed<S: AsRef<str>>(head: &[&str], args: &[S]) -> Vec<String> {
    let mut v = strings(head);
    v.extend(strings(args));
    v
}

/// Python's type name of a JSON value, for `image_size`'s message.
fn json_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "NoneType",
        Value::Bool(_) => "bool",
        Value::Number(n) if n.is_f64() => "float",
        Value::Number(_) => "int",
        Value::String(_) => "str",
        Value::Array(_) => "list",
        Value::Object(_) => "dict",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(fmt: &str, imgopts: Option<&str>) -> TestEnv {
        let mut vars = crate::env::Vars::new();
        vars.insert("IMGFMT".into(), fmt.into());
        if let Some(o) = imgopts {
            vars.insert("IMGOPTS".into(), o.into());
        }
        vars.insert("QEMU_PROG".into(), "/nonexistent".into());
        TestEnv::from_vars(&vars, "raw")
    }

    fn prep(e: &TestEnv, a: &[&str]) -> Vec<String> {
        qemu_img_create_prepare_args(e, a).unwrap()
    }

    #[test]
    fn non_create_passes_through() {
        let e = env("qcow2", Some("x=y"));
        assert_eq!(prep(&e, &["info", "-f", "qcow2", "a"]), ["info", "-f", "qcow2", "a"]);
        assert!(prep(&e, &[]).is_empty());
    }

    #[test]
    fn attached_and_equals_values() {
        let e = env("raw", None);
        assert_eq!(
            prep(&e, &["create", "-fqcow2", "-o=a=b", "-oc=d", "x"]),
            ["create", "-f", "qcow2", "-o", "a=b", "-o", "c=d", "x"]
        );
    }

    #[test]
    fn unknown_options_keep_their_order() {
        let e = env("qcow2", Some("compat=1.1"));
        assert_eq!(
            prep(&e, &["create", "-F", "raw", "-b", "base", "-f", "qcow2", "img", "-1", "--", "-o", "x"]),
            ["create", "-f", "qcow2", "-o", "compat=1.1", "-F", "raw", "-b", "base", "img", "-1", "--", "-o", "x"]
        );
    }

    #[test]
    fn missing_value_is_an_error() {
        let e = env("raw", None);
        assert!(qemu_img_create_prepare_args(&e, &["create", "-o"]).is_err());
        assert!(qemu_img_create_prepare_args(&e, &["create", "-f", "--object", "x"]).is_err());
        assert!(qemu_img_create_prepare_args(&e, &["create", "-h"]).is_err());
    }

    #[test]
    fn luks_with_own_key_secret_is_untouched() {
        let e = env("luks", None);
        let a = prep(&e, &["create", "-f", "luks", "-o", "key-secret=s0", "img", "1M"]);
        assert_eq!(a, ["create", "-f", "luks", "-o", "iter-time=10", "-o", "key-secret=s0", "img", "1M"]);
    }
}
