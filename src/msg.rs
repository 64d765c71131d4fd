//! [`Msg`], what iotests' `log()` takes: text or JSON.
//!
//! It sits below both the [log sink](crate::log), which renders messages,
//! and the [filters](crate::filters), which rewrite them, so that the
//! dependency runs one way: `log` uses `filters`, and neither `filters` nor
//! this module uses `log`. `iotests::Msg` and `iotests::log::Msg` re-export
//! it.

use serde_json::Value;

use crate::json;

/// A message for [`Log::log`](crate::Log::log): iotests' `Msg = Dict | List | str`.
#[derive(Debug, Clone, PartialEq)]
pub enum Msg {
    /// A string, logged as it is.
    Text(String),
    /// A JSON value built as a Python `dict`/`list`: logged with
    /// `sort_keys=True`.
    Json(Value),
    /// A JSON value built as an `OrderedDict` (`qmp_log`'s command, anything
    /// from [`json::ordered_qmp`]): logged in insertion order.
    Ordered(Value),
}

impl Msg {
    /// An `OrderedDict` message: keys stay in insertion order when logged.
    ///
    /// ```
    /// use iotests::Msg;
    /// let m = Msg::ordered(serde_json::json!({"execute": "quit", "arguments": {}}));
    /// assert_eq!(m.render(None), r#"{"execute": "quit", "arguments": {}}"#);
    /// ```
    pub fn ordered(value: Value) -> Msg {
        Msg::Ordered(value)
    }

    /// The text `log()` would print for this message (without the newline).
    ///
    /// ```
    /// use iotests::Msg;
    /// let m = Msg::from(serde_json::json!({"b": 1, "a": [1.0, null]}));
    /// assert_eq!(m.render(None), r#"{"a": [1.0, null], "b": 1}"#);
    /// ```
    pub fn render(&self, indent: Option<usize>) -> String {
        let mut out = String::new();
        self.render_into(&mut out, indent);
        out
    }

    /// [`render`](Self::render), appending to `out`.
    pub fn render_into(&self, out: &mut String, indent: Option<usize>) {
        match self {
            Msg::Text(s) => out.push_str(s),
            Msg::Json(v) => json::dump_into(out, v, true, indent),
            Msg::Ordered(v) => json::dump_into(out, v, false, indent),
        }
    }

    /// The JSON value, if this is a JSON message.
    pub fn as_json(&self) -> Option<&Value> {
        match self {
            Msg::Text(_) => None,
            Msg::Json(v) | Msg::Ordered(v) => Some(v),
        }
    }
}

impl From<&str> for Msg {
    fn from(s: &str) -> Msg {
        Msg::Text(s.to_string())
    }
}

impl From<String> for Msg {
    fn from(s: String) -> Msg {
        Msg::Text(s)
    }
}

impl From<&String> for Msg {
    fn from(s: &String) -> Msg {
        Msg::Text(s.clone())
    }
}

/// A JSON value logs like a Python dict or list: keys sorted.
impl From<Value> for Msg {
    fn from(v: Value) -> Msg {
        match v {
            Value::String(s) => Msg::Text(s),
            v => Msg::Json(v),
        }
    }
}

impl From<&Value> for Msg {
    fn from(v: &Value) -> Msg {
        Msg::from(v.clone())
    }
}
