//! Which tests to run: `check`'s `-g`, `-x`, `--start-from` and test names,
//! exactly as upstream's `findtests.py` selects, plus module names, glob
//! patterns and `--shard K/N`.

use std::collections::BTreeMap;

use crate::error::{Error, Result};
use crate::listing::TestDef;

/// What to run: `check`'s `-g`, `-x`, `--start-from` and test names.
#[derive(Debug, Clone, Default)]
pub struct Selection {
    /// `-g`: include the tests of these groups.
    pub groups: Vec<String>,
    /// `-x`: exclude the tests of these groups.
    pub exclude: Vec<String>,
    /// Test names (or module names, or glob patterns over names).
    pub tests: Vec<String>,
    /// `--start-from`: drop the sorted tests before this one.
    pub start_from: Option<String>,
}

/// Split `-g a,b` style values, dropping empty items.
pub fn split_groups(values: &[String]) -> Vec<String> {
    values.iter().flat_map(|v| v.split(',')).map(str::trim).filter(|s| !s.is_empty()).map(String::from).collect()
}

/// Resolve one test argument like `findtests.parse_test_name`: `1` → `001`;
/// a name, a module name or a glob pattern over names.
fn resolve<'a>(all: &'a [TestDef], arg: &str) -> Result<Vec<&'a TestDef>> {
    if arg.contains('/') {
        return Err(Error::Selection(format!(
            "Paths are unsupported for test selection, requiring \"{arg}\" is wrong"
        )));
    }
    let name = match arg.parse::<u32>() {
        Ok(n) if arg.bytes().all(|b| b.is_ascii_digit()) => format!("{n:03}"),
        _ => arg.to_string(),
    };
    if let Some(t) = all.iter().find(|t| t.name == name).or_else(|| all.iter().find(|t| t.module() == name)) {
        return Ok(vec![t]);
    }
    if name.contains(['*', '?', '[']) {
        let pat = glob::Pattern::new(&name).map_err(|e| Error::Selection(format!("bad pattern \"{name}\": {e}")))?;
        let found: Vec<_> = all.iter().filter(|t| pat.matches(&t.name)).collect();
        if !found.is_empty() {
            return Ok(found);
        }
    }
    Err(Error::Selection(format!("Test \"{name}\" is not found")))
}

/// `findtests.find_tests`: groups (minus excluded ones and `disabled`), or
/// named tests, or everything minus excluded groups; named tests are always
/// added; sorted; then `--start-from`. Selecting nothing is an error.
pub fn select<'a>(all: &'a [TestDef], sel: &Selection) -> Result<Vec<&'a TestDef>> {
    let in_any = |t: &TestDef, groups: &[String]| t.groups.iter().any(|g| groups.contains(g));
    let mut exclude = sel.exclude.clone();
    if !sel.groups.iter().chain(&sel.exclude).any(|g| g == "disabled") {
        exclude.push("disabled".into());
    }
    let mut res: BTreeMap<&str, &TestDef> = BTreeMap::new();
    if !sel.groups.is_empty() {
        res.extend(all.iter().filter(|t| in_any(t, &sel.groups)).map(|t| (t.name.as_str(), t)));
    } else if !sel.tests.is_empty() {
        if !sel.exclude.is_empty() {
            return Err(Error::Selection("Can't exclude from individually specified tests.".into()));
        }
    } else {
        res.extend(all.iter().map(|t| (t.name.as_str(), t)));
    }
    res.retain(|_, t| !in_any(t, &exclude));
    for arg in &sel.tests {
        res.extend(resolve(all, arg)?.into_iter().map(|t| (t.name.as_str(), t)));
    }
    let mut seq: Vec<&TestDef> = res.into_values().collect();
    if let Some(from) = &sel.start_from {
        let first = resolve(all, from)?;
        let start = first.first().and_then(|f| seq.iter().position(|t| t.name == f.name));
        let start = start.ok_or_else(|| Error::Selection(format!("Test \"{from}\" is not selected")))?;
        seq.drain(..start);
    }
    if seq.is_empty() {
        return Err(Error::Selection("No tests selected".into()));
    }
    Ok(seq)
}

/// A `--shard K/N`: the K-th (1-based) of N round-robin slices.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    /// Which slice, 1-based.
    pub k: usize,
    /// How many slices.
    pub n: usize,
}

impl std::str::FromStr for Shard {
    type Err = Error;

    fn from_str(s: &str) -> Result<Shard> {
        let bad = || Error::Shard(s.to_string());
        let (k, n) = s.split_once('/').ok_or_else(bad)?;
        let (k, n) = (k.trim().parse::<usize>().map_err(|_| bad())?, n.trim().parse::<usize>().map_err(|_| bad())?);
        if k == 0 || k > n { Err(bad()) } else { Ok(Shard { k, n }) }
    }
}

impl Shard {
    /// Keep this shard's tests: sorted by name, the i-th goes to shard
    /// `i % N + 1`, so shards are disjoint, complete and stable.
    pub fn apply<'a>(&self, mut tests: Vec<&'a TestDef>) -> Vec<&'a TestDef> {
        tests.sort_by(|a, b| a.name.cmp(&b.name));
        tests.into_iter().enumerate().filter(|(i, _)| i % self.n == self.k - 1).map(|(_, t)| t).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn def(name: &str, groups: &[&str]) -> TestDef {
        TestDef {
            name: name.into(),
            test: format!("m{name}::f"),
            kind: "script".into(),
            groups: groups.iter().map(|g| g.to_string()).collect(),
            supported_fmts: vec![],
            timeout: None,
        }
    }

    fn names(v: &[&TestDef]) -> Vec<String> {
        v.iter().map(|t| t.name.clone()).collect()
    }

    #[test]
    fn selection_follows_findtests() {
        let all = vec![
            def("001", &["rw", "auto"]),
            def("002", &["rw", "quick"]),
            def("003", &["quick", "disabled"]),
            def("io-x", &["auto"]),
            def("io-y", &[]),
        ];
        let sel = |g: &[&str], x: &[&str], t: &[&str]| Selection {
            groups: g.iter().map(|s| s.to_string()).collect(),
            exclude: x.iter().map(|s| s.to_string()).collect(),
            tests: t.iter().map(|s| s.to_string()).collect(),
            start_from: None,
        };
        assert_eq!(names(&select(&all, &sel(&[], &[], &[])).unwrap()), ["001", "002", "io-x", "io-y"]);
        assert_eq!(names(&select(&all, &sel(&["quick"], &[], &[])).unwrap()), ["002"]);
        assert_eq!(names(&select(&all, &sel(&["quick", "disabled"], &[], &[])).unwrap()), ["002", "003"]);
        assert_eq!(names(&select(&all, &sel(&["rw"], &["quick"], &["io-y"])).unwrap()), ["001", "io-y"]);
        assert_eq!(names(&select(&all, &sel(&[], &["auto"], &[])).unwrap()), ["002", "io-y"]);
        // Named tests are never excluded, `3` means `003`, module names and globs work.
        assert_eq!(names(&select(&all, &sel(&[], &[], &["3", "mio-x"])).unwrap()), ["003", "io-x"]);
        assert_eq!(names(&select(&all, &sel(&[], &[], &["io-*"])).unwrap()), ["io-x", "io-y"]);
        let err = |s: Selection| select(&all, &s).unwrap_err().to_string();
        assert_eq!(err(sel(&[], &["rw"], &["001"])), "Can't exclude from individually specified tests.");
        assert_eq!(err(sel(&[], &[], &["999"])), "Test \"999\" is not found");
        assert_eq!(err(sel(&["nosuch"], &[], &[])), "No tests selected");
        assert!(err(sel(&[], &[], &["tests/io-x"])).contains("Paths are unsupported"));
        let mut s = sel(&[], &[], &[]);
        s.start_from = Some("io-x".into());
        assert_eq!(names(&select(&all, &s).unwrap()), ["io-x", "io-y"]);
    }

    #[test]
    fn shards_are_disjoint_and_complete() {
        let all: Vec<TestDef> = (0..17).map(|i| def(&format!("{i:03}"), &[])).collect();
        let refs: Vec<&TestDef> = all.iter().collect();
        let mut seen = Vec::new();
        for k in 1..=4 {
            let shard: Shard = format!("{k}/4").parse().unwrap();
            seen.extend(names(&shard.apply(refs.clone())));
        }
        seen.sort();
        assert_eq!(seen, names(&refs));
        assert!("0/3".parse::<Shard>().is_err());
        assert!("4/3".parse::<Shard>().is_err());
        assert!("x".parse::<Shard>().is_err());
    }

    #[test]
    fn groups_split_on_commas() {
        assert_eq!(split_groups(&["rw,quick".into(), " auto ,".into()]), ["rw", "quick", "auto"]);
    }
}
