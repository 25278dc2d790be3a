//! Dotted keys over the config's JSON form: lookup and editing, `--set KEY=VALUE` typed
//! by the schema, `${VAR}` expansion, and the settings added after artifacts existed
//! (`ADDED_LATER`), which stay out of stage views at the value that behaves as before.

use serde_json::{Map, Value};

use super::*;

/// Shared settings added after artifacts existed, with the value that behaves as before
/// them (a method's own are in its folder, `method::added_later`). At that value a setting
/// stays out of every stage's view and key; set otherwise, it enters the view of the
/// stages that read it (or its section).
pub const ADDED_LATER: &[(&str, AsBefore)] = &[
    ("source.unspaced", AsBefore::Flag(false)),
    ("target.unspaced", AsBefore::Flag(false)),
    ("teacher_ner.attention_dropout", AsBefore::Flag(true)),
    ("teacher_ner.frozen_dropout", AsBefore::Flag(true)),
    ("distill.attention_dropout", AsBefore::Flag(true)),
    ("distill.frozen_dropout", AsBefore::Flag(true)),
    ("teacher_ner.bf16", AsBefore::Flag(false)),
    ("distill.bf16", AsBefore::Flag(false)),
    ("teacher_ner.parallel_dropout", AsBefore::Flag(false)),
    ("distill.parallel_dropout", AsBefore::Flag(false)),
    ("teacher_ner.optimizer", AsBefore::Name("adamw")),
    ("distill.optimizer", AsBefore::Name("adamw")),
    ("eval.selection", AsBefore::Name("last")),
    ("eval.bf16", AsBefore::Flag(false)),
    ("scoring.bf16", AsBefore::Flag(false)),
    ("tokenize.label_past_bare_marker", AsBefore::Flag(false)),
    ("source.format", AsBefore::Absent),
    ("source.token_column", AsBefore::Absent),
    ("source.tag_column", AsBefore::Absent),
    ("source.tag_names", AsBefore::Absent),
    ("source.tag_map", AsBefore::Absent),
    ("target.format", AsBefore::Absent),
    ("target.token_column", AsBefore::Absent),
    ("target.tag_column", AsBefore::Absent),
    ("target.tag_names", AsBefore::Absent),
    ("target.tag_map", AsBefore::Absent),
];

/// Removes a dotted key from a view (and the sections it leaves empty).
pub(super) fn remove(root: &mut Value, key: &str) {
    let Some((parent, last)) = key.rsplit_once('.') else {
        root.as_object_mut().map(|m| m.remove(key));
        return;
    };
    let section = parent.split('.').try_fold(&mut *root, |v, part| v.as_object_mut()?.get_mut(part));
    if let Some(map) = section.and_then(Value::as_object_mut) {
        map.remove(last);
        if map.is_empty() {
            remove(root, parent);
        }
    }
}

pub(super) fn insert(root: &mut Value, key: &str, value: Value) {
    let mut node = root;
    let mut parts = key.split('.').peekable();
    while let Some(part) = parts.next() {
        let map = node.as_object_mut().expect("views are objects");
        if parts.peek().is_none() {
            map.insert(part.to_string(), value);
            return;
        }
        node = map.entry(part.to_string()).or_insert_with(|| Value::Object(Map::new()));
    }
}

/// Every settable key of a config, in dotted form.
pub fn leaf_keys(json: &Value) -> Vec<String> {
    fn walk(v: &Value, prefix: &str, out: &mut Vec<String>) {
        match v.as_object() {
            // An empty map (`target.tag_map`) is a key of its own.
            Some(map) if map.is_empty() && !prefix.is_empty() => out.push(prefix.to_string()),
            Some(map) => {
                for (k, child) in map {
                    let key = if prefix.is_empty() { k.clone() } else { format!("{prefix}.{k}") };
                    walk(child, &key, out);
                }
            }
            None => out.push(prefix.to_string()),
        }
    }
    let mut out = Vec::new();
    walk(json, "", &mut out);
    out
}

/// Applies one `KEY=VALUE`, parsing VALUE as the type the schema has at KEY; returns KEY.
pub(super) fn apply_override(json: &mut Value, assignment: &str) -> Result<String, ConfigError> {
    let (key, raw) =
        assignment.split_once('=').ok_or_else(|| ConfigError::BadAssignment { assignment: assignment.to_string() })?;
    let key = key.trim();
    let unknown = || ConfigError::UnknownKey { key: key.to_string(), valid: leaf_keys(json) };
    let existing = lookup(json, key).cloned().ok_or_else(unknown)?;
    if let Value::Object(mut map) = existing {
        // A map setting (`target.tag_map = { GPE_LOC = "LOC" }`) or a section, given as an
        // inline table: its entries are added; the schema checks them when the config is read.
        let table = toml::from_str::<toml::Table>(&format!("v = {raw}")).ok().and_then(|mut t| t.remove("v"));
        let Some(toml::Value::Table(entries)) = table else { return Err(unknown()) };
        for (k, v) in entries {
            map.insert(k, serde_json::to_value(v).expect("TOML values are JSON values"));
        }
        set(json, key, Value::Object(map));
        return Ok(key.to_string());
    }
    let bad = |message: &str| ConfigError::BadValue {
        key: key.to_string(),
        value: raw.to_string(),
        message: message.to_string(),
    };
    let value = match &existing {
        Value::String(_) => Value::String(raw.to_string()),
        Value::Bool(_) => Value::Bool(raw.parse().map_err(|_| bad("expected true or false"))?),
        // Counts and sizes are unsigned in the schema: say so here, not as a schema error.
        Value::Number(n) if n.is_u64() => {
            Value::from(raw.parse::<u64>().map_err(|_| bad("expected an integer of 0 or more"))?)
        }
        Value::Number(n) if n.is_i64() => Value::from(raw.parse::<i64>().map_err(|_| bad("expected an integer"))?),
        Value::Number(_) => match raw.parse::<f64>() {
            Ok(x) if x.is_finite() => Value::from(x),
            Ok(_) => return Err(bad("expected a finite number (not NaN or infinite)")),
            Err(_) => return Err(bad("expected a number")),
        },
        // Lists and unset optional values: read VALUE as a TOML literal, else as a string.
        _ => match toml::from_str::<toml::Table>(&format!("v = {raw}")) {
            Ok(mut table) => {
                serde_json::to_value(table.remove("v").expect("parsed v")).map_err(|e| bad(&e.to_string()))?
            }
            Err(_) if existing.is_null() => Value::String(raw.to_string()),
            Err(_) => return Err(bad("expected a TOML value such as [\"PER\", \"LOC\"]")),
        },
    };
    set(json, key, value);
    Ok(key.to_string())
}

/// Replaces the value at a dotted key that exists.
fn set(json: &mut Value, key: &str, value: Value) {
    let (parent, last) = key.rsplit_once('.').map_or(("", key), |(p, l)| (p, l));
    let target = if parent.is_empty() {
        Some(&mut *json)
    } else {
        parent.split('.').try_fold(&mut *json, |v, part| v.as_object_mut()?.get_mut(part))
    };
    target.and_then(Value::as_object_mut).expect("the key exists").insert(last.to_string(), value);
}

/// Replaces `${VAR}` in every string. A variable at the start of a value whose
/// content is a relative path is made absolute against the working directory, so
/// `MTMT_DATA=../shared/data` means the same wherever the config file lives.
pub(super) fn expand_env(json: &mut Value, key: &str, env: &dyn Fn(&str) -> Option<String>) -> Result<(), ConfigError> {
    match json {
        Value::String(s) if s.contains("${") => *s = expand_str(s, key, env)?,
        Value::Object(map) => {
            for (k, v) in map.iter_mut() {
                let child = if key.is_empty() { k.clone() } else { format!("{key}.{k}") };
                expand_env(v, &child, env)?;
            }
        }
        Value::Array(items) => {
            for v in items {
                expand_env(v, key, env)?;
            }
        }
        _ => {}
    }
    Ok(())
}

fn expand_str(s: &str, key: &str, env: &dyn Fn(&str) -> Option<String>) -> Result<String, ConfigError> {
    let mut out = String::new();
    let mut rest = s;
    while let Some(start) = rest.find("${") {
        let Some(len) = rest[start..].find('}') else { break };
        let var = &rest[start + 2..start + len];
        let mut value =
            env(var).ok_or_else(|| ConfigError::MissingEnv { key: key.to_string(), var: var.to_string() })?;
        if out.is_empty() && start == 0 && Path::new(&value).is_relative() {
            if let Ok(cwd) = std::env::current_dir() {
                value = cwd.join(value).to_string_lossy().into_owned();
            }
        }
        out.push_str(&rest[..start]);
        out.push_str(&value);
        rest = &rest[start + len + 1..];
    }
    out.push_str(rest);
    Ok(out)
}
