//! The configuration file: `[inject-error…]` sections, parsed as Python's
//! `configparser` reads them.

use super::*;

/// Python's `configparser.RawConfigParser` reading of the rules file:
/// `[section]` headers, `key = value` / `key: value` options (keys
/// lower-cased, values stripped), `#` / `;` comment lines, indented
/// continuation lines.
pub(super) fn parse_ini(text: &str, filename: &str) -> Flow<Vec<(String, HashMap<String, String>)>> {
    let mut sections: Vec<(String, HashMap<String, String>)> = Vec::new();
    let mut last_key: Option<String> = None;
    for (n, raw) in text.lines().enumerate() {
        let lineno = n + 1;
        let stripped = raw.trim();
        if stripped.is_empty() || stripped.starts_with('#') || stripped.starts_with(';') {
            last_key = None;
            continue;
        }
        if raw.starts_with([' ', '\t'])
            && let (Some((_, opts)), Some(key)) = (sections.last_mut(), &last_key)
        {
            let v = opts.entry(key.clone()).or_default();
            v.push('\n');
            v.push_str(stripped);
            continue;
        }
        if let Some(rest) = stripped.strip_prefix('[')
            && let Some(end) = rest.find(']')
        {
            let name = rest[..end].to_string();
            if sections.iter().any(|(s, _)| *s == name) {
                return Err(exc(format!(
                    "configparser.DuplicateSectionError: While reading from '{filename}' [line {lineno:2}]: \
                     section '{name}' already exists"
                )));
            }
            sections.push((name, HashMap::new()));
            last_key = None;
            continue;
        }
        let Some((_, opts)) = sections.last_mut() else {
            return Err(exc(format!(
                "configparser.MissingSectionHeaderError: File contains no section headers.\nfile: '{filename}', \
                 line: {lineno}\n'{raw}'"
            )));
        };
        let Some(sep) = stripped.find(['=', ':']) else {
            return Err(exc(format!(
                "configparser.ParsingError: Source contains parsing errors: '{filename}'\n\t[line {lineno:2}]: '{raw}'"
            )));
        };
        let key = stripped[..sep].trim().to_lowercase();
        opts.insert(key.clone(), stripped[sep + 1..].trim().to_string());
        last_key = Some(key);
    }
    Ok(sections)
}

pub(super) fn err(msg: String) -> Exit {
    Exit::Error(msg)
}

pub(super) fn parse_inject_error(name: &str, options: &HashMap<String, String>) -> Flow<Rule> {
    let Some(event) = options.get("event") else {
        return Err(err(format!("missing \"event\" option in {name}")));
    };
    if !EVENTS.contains(&event.as_str()) {
        return Err(err(format!("invalid \"event\" option value \"{event}\" in {name}")));
    }
    let io = options.get("io").map_or("readwrite", String::as_str);
    if !["read", "write", "readwrite"].contains(&io) {
        return Err(err(format!("invalid \"io\" option value \"{io}\" in {name}")));
    }
    let when = options.get("when").map_or("before", String::as_str);
    let when = match when.trim().replace('_', "").parse::<i64>() {
        Ok(n) => n,
        Err(_) if when == "before" => 0,
        Err(_) if when == "after" => -1,
        Err(_) => return Err(err(format!("invalid \"when\" option value \"{when}\" in {name}"))),
    };
    Ok(Rule { name: name.to_string(), event: event.clone(), io: io.to_string(), when })
}

/// The rules of a configuration file's text.
///
/// ```
/// use iotests::tools::fault_injector::parse_rules;
/// let rules = parse_rules("[inject-error \"a\"]\nevent=data\nwhen=after\n[inject-error]\nevent = neg1\nio: read", "c")?;
/// assert_eq!((rules[0].name.as_str(), rules[0].event.as_str(), rules[0].io.as_str(), rules[0].when),
///            ("inject-error \"a\"", "data", "readwrite", -1));
/// assert_eq!((rules[1].event.as_str(), rules[1].io.as_str(), rules[1].when), ("neg1", "read", 0));
/// assert!(parse_rules("[other]\n", "c").unwrap_err().to_string().contains("invalid config section name: other"));
/// # Ok::<(), iotests::Error>(())
/// ```
pub fn parse_rules(text: &str, filename: &str) -> Result<Vec<Rule>> {
    parse_config(text, filename).map_err(|e| match e {
        Exit::Error(msg) => Error::Usage(msg),
        Exit::Code(c) => Error::Usage(format!("exit {c}")),
    })
}

pub(super) fn parse_config(text: &str, filename: &str) -> Flow<Vec<Rule>> {
    let mut rules = Vec::new();
    for (name, options) in parse_ini(text, filename)? {
        if name.starts_with("inject-error") {
            rules.push(parse_inject_error(&name, &options)?);
        } else {
            return Err(err(format!("invalid config section name: {name}")));
        }
    }
    Ok(rules)
}
