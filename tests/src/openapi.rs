//! GitHub's published REST API description (npm `@octokit/openapi`, installed by `make npm`)
//! as the judge of what Herald sends GitHub: every request the fake GitHub receives is checked
//! against it — the operation (method and path template), its path and query parameters (types,
//! required ones, no undeclared ones) and the JSON body (the request schema: types, required
//! fields, enums, no undeclared fields where the schema says so). The fake's list answers are the
//! description's own examples. No one here wrote either.

use serde_json::Value;
use std::path::PathBuf;
use std::sync::OnceLock;

/// Which description: github.com's, or GitHub Enterprise Server's (under `/api/v3`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavor {
    DotCom,
    Enterprise,
}

/// The GHES release whose description judges `/api/v3` requests.
pub const GHES_VERSION: &str = "3.19";

fn file(flavor: Flavor) -> PathBuf {
    let name = match flavor {
        Flavor::DotCom => "api.github.com.json".to_owned(),
        Flavor::Enterprise => format!("ghes-{GHES_VERSION}.json"),
    };
    crate::workspace().join(".npm-packages/node_modules/@octokit/openapi/generated").join(name)
}

/// The description, read once per test process. Panics (the test fails loudly) when `make npm`
/// has not installed it.
pub fn spec(flavor: Flavor) -> &'static Value {
    static DOTCOM: OnceLock<Value> = OnceLock::new();
    static GHES: OnceLock<Value> = OnceLock::new();
    let cell = if flavor == Flavor::DotCom { &DOTCOM } else { &GHES };
    cell.get_or_init(|| {
        let path = file(flavor);
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| {
            panic!("{}: {e}; run `make npm` (GitHub's OpenAPI, npm @octokit/openapi)", path.display())
        });
        serde_json::from_str(&text).expect("GitHub's OpenAPI is JSON")
    })
}

/// `value` with its `$ref` followed (within the description).
fn resolve<'a>(spec: &'a Value, value: &'a Value) -> &'a Value {
    match value.get("$ref").and_then(Value::as_str) {
        Some(r) => resolve(spec, spec.pointer(r.trim_start_matches('#')).unwrap_or(&Value::Null)),
        None => value,
    }
}

/// An example from `components/examples` (its `value`), as kept in
/// `tests/support/github-openapi-examples.json`: the fakes answer with GitHub's own examples
/// without the 400 MB description, so `make demo` runs on a fresh clone. Both descriptions carry
/// the same examples; [`installed_example`] reads the description itself, and
/// tests/tests/openapi.rs checks the two agree.
pub fn example(_flavor: Flavor, name: &str) -> Value {
    static KEPT: OnceLock<Value> = OnceLock::new();
    let kept = KEPT.get_or_init(|| {
        let path = crate::workspace().join("tests/support/github-openapi-examples.json");
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        serde_json::from_str(&text).expect("the kept examples are JSON")
    });
    let found = &kept["examples"][name];
    assert!(!found.is_null(), "no GitHub example {name:?} kept in tests/support/github-openapi-examples.json");
    found.clone()
}

/// An example as the installed description has it (`make npm`).
pub fn installed_example(flavor: Flavor, name: &str) -> Value {
    spec(flavor)["components"]["examples"][name]["value"].clone()
}

/// A path template that fits: the template, its literal segments, its parameters' values.
type Match<'a> = (&'a str, usize, Vec<(String, String)>);

/// The operation a request is: its path template, or why it is none GitHub describes.
pub fn check(flavor: Flavor, method: &str, path: &str, query: &str, body: &Value) -> Result<String, String> {
    let spec = spec(flavor);
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let paths = spec["paths"].as_object().ok_or("the description has no paths")?;
    // The matching template with the most literal segments (`/pulls/{n}/files` over `/{a}/{b}`).
    let mut best: Option<Match> = None;
    for template in paths.keys() {
        let parts: Vec<&str> = template.trim_start_matches('/').split('/').collect();
        if parts.len() != segments.len() {
            continue;
        }
        let mut literal = 0;
        let mut params = Vec::new();
        let fits = parts.iter().zip(&segments).all(|(part, seg)| {
            if let Some(name) = part.strip_prefix('{').and_then(|p| p.strip_suffix('}')) {
                params.push((name.to_owned(), decode(seg)));
                !seg.is_empty()
            } else {
                literal += 1;
                part == seg
            }
        });
        if fits && best.as_ref().is_none_or(|(_, l, _)| literal > *l) {
            best = Some((template, literal, params));
        }
    }
    let (template, _, path_params) = best.ok_or_else(|| format!("{method} {path}: no such path in GitHub's API"))?;
    let operation = &spec["paths"][template][method.to_ascii_lowercase()];
    if operation.is_null() {
        return Err(format!("{method} {template}: GitHub's API has no such operation"));
    }
    let mut declared = Vec::new();
    for parameter in operation["parameters"].as_array().into_iter().flatten() {
        let parameter = resolve(spec, parameter);
        let (name, place) =
            (parameter["name"].as_str().unwrap_or_default(), parameter["in"].as_str().unwrap_or_default());
        let schema = resolve(spec, &parameter["schema"]);
        let value = match place {
            "path" => path_params.iter().find(|(n, _)| n == name).map(|(_, v)| v.clone()),
            "query" => {
                declared.push(name.to_owned());
                form_urlencoded::parse(query.as_bytes()).find(|(k, _)| k == name).map(|(_, v)| v.into_owned())
            }
            _ => continue,
        };
        match value {
            None if parameter["required"] == Value::Bool(true) => {
                return Err(format!("{method} {template}: the required {place} parameter {name} is missing"))
            }
            None => {}
            Some(v) => {
                scalar(spec, schema, &v).map_err(|e| format!("{method} {template}: {place} parameter {name}: {e}"))?
            }
        }
    }
    for (key, _) in form_urlencoded::parse(query.as_bytes()) {
        if !declared.iter().any(|d| *d == key) {
            return Err(format!(
                "{method} {template}: query parameter {key} is not one GitHub describes ({declared:?})"
            ));
        }
    }
    let request_body = resolve(spec, &operation["requestBody"]);
    match (body, request_body.is_null()) {
        (Value::Null, _) if request_body["required"] != Value::Bool(true) => {}
        (Value::Null, _) => return Err(format!("{method} {template}: a JSON body is required")),
        (_, true) => return Err(format!("{method} {template}: takes no body")),
        (body, false) => {
            let schema = &request_body["content"]["application/json"]["schema"];
            validate(spec, schema, body, "body").map_err(|e| format!("{method} {template}: {e}"))?;
        }
    }
    Ok(template.to_owned())
}

fn decode(segment: &str) -> String {
    percent_encoding::percent_decode_str(segment).decode_utf8_lossy().into_owned()
}

/// A path or query value against its parameter's schema.
fn scalar(spec: &Value, schema: &Value, value: &str) -> Result<(), String> {
    let as_json = match schema["type"].as_str() {
        Some("integer") => value.parse::<i64>().map(Value::from).map_err(|_| format!("{value:?} is not an integer"))?,
        Some("boolean") => value.parse::<bool>().map(Value::from).map_err(|_| format!("{value:?} is not a boolean"))?,
        _ => Value::String(value.to_owned()),
    };
    validate(spec, schema, &as_json, "value")
}

/// `value` against `schema` (the subset GitHub's description uses for request bodies).
pub fn validate(spec: &Value, schema: &Value, value: &Value, at: &str) -> Result<(), String> {
    let schema = resolve(spec, schema);
    if value.is_null() && schema["nullable"] == Value::Bool(true) {
        return Ok(());
    }
    if let Some(all) = schema["allOf"].as_array() {
        for s in all {
            validate(spec, s, value, at)?;
        }
    }
    for key in ["oneOf", "anyOf"] {
        if let Some(options) = schema[key].as_array() {
            if !options.iter().any(|s| validate(spec, s, value, at).is_ok()) {
                return Err(format!("{at}: {value} fits none of {key}"));
            }
        }
    }
    if let Some(choices) = schema["enum"].as_array() {
        if !choices.contains(value) {
            return Err(format!("{at}: {value} is not one of {}", Value::Array(choices.clone())));
        }
    }
    let fits = match schema["type"].as_str() {
        None => true,
        Some("object") => value.is_object(),
        Some("array") => value.is_array(),
        Some("string") => value.is_string(),
        Some("integer") => value.is_i64() || value.is_u64(),
        Some("number") => value.is_number(),
        Some("boolean") => value.is_boolean(),
        Some(_) => true,
    };
    if !fits {
        return Err(format!("{at}: {value} is not of type {}", schema["type"]));
    }
    if let (Some(text), Some(max)) = (value.as_str(), schema["maxLength"].as_u64()) {
        if text.chars().count() as u64 > max {
            return Err(format!("{at}: longer than {max} characters"));
        }
    }
    if let Some(object) = value.as_object() {
        for required in schema["required"].as_array().into_iter().flatten().filter_map(Value::as_str) {
            if !object.contains_key(required) {
                return Err(format!("{at}: the required field {required} is missing"));
            }
        }
        let properties = schema["properties"].as_object();
        for (key, field) in object {
            match properties.and_then(|p| p.get(key)) {
                Some(property) => validate(spec, property, field, &format!("{at}.{key}"))?,
                None if schema["additionalProperties"] == Value::Bool(false) || properties.is_some() => {
                    return Err(format!("{at}: field {key} is not in the request schema"))
                }
                None => {}
            }
        }
    }
    if let (Some(items), Some(list)) = (schema.get("items"), value.as_array()) {
        for (i, item) in list.iter().enumerate() {
            validate(spec, items, item, &format!("{at}[{i}]"))?;
        }
    }
    Ok(())
}
