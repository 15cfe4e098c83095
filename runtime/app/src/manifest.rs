//! The app manifest, `swirl.toml`: which functions an app has, where their
//! code is, their limits and config, and its workflow files.
//!
//! ```toml
//! [app]
//! name = "hello"
//! workflows = ["workflows/greeting.json"]   # relative to the manifest
//! allowed-outbound-hosts = ["https://api.example.com", "http://127.0.0.1:*"]
//!
//! [functions.greet]
//! source = "target/wasm32-wasip2/release/greet.wasm"
//! build = "cargo build --target wasm32-wasip2 --release -p greet"
//! memory = "64MiB"
//! timeout = "10s"
//! min-instances = 0
//! max-instances = 32
//! max-queue = 256
//! idle-timeout = "60s"
//! instance-mode = "reuse"
//! config = { GREETING = "Hello" }
//! ```
//!
//! Every error names the file, line, column and key. Parsing does no IO
//! beyond reading the manifest; function code is read by [`FunctionManifest::spec`].

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

use swirl_calls::{AllowedHosts, HostPattern};
use swirl_function::{FunctionLimits, FunctionSpec, InstanceMode, read_component};

/// Largest manifest file swirl reads.
pub const MAX_MANIFEST_BYTES: u64 = 1024 * 1024;
/// Largest function component swirl reads.
pub const MAX_COMPONENT_BYTES: u64 = 256 * 1024 * 1024;

/// A problem in a manifest, located for the user.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ManifestError {
    pub file: PathBuf,
    pub line: usize,
    pub column: usize,
    /// Dotted key the problem is about, e.g. `functions.greet.memory`.
    pub key: Option<String>,
    pub message: String,
}

/// In the compiler's format, `file:line:column: error: key: message`, which
/// editors and terminals turn into a link to the place.
impl fmt::Display for ManifestError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}: error: ",
            self.file.display(),
            self.line,
            self.column
        )?;
        if let Some(key) = &self.key {
            write!(f, "{key}: ")?;
        }
        f.write_str(&self.message)
    }
}

impl std::error::Error for ManifestError {}

/// Every problem found in a manifest.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ManifestErrors(pub Vec<ManifestError>);

impl fmt::Display for ManifestErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, error) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{error}")?;
        }
        Ok(())
    }
}

/// A parsed, checked manifest with paths resolved against its directory.
#[derive(Debug, Clone)]
pub struct Manifest {
    pub path: PathBuf,
    pub app_name: String,
    pub workflows: Vec<PathBuf>,
    pub functions: BTreeMap<String, FunctionManifest>,
    /// Where `swirl serve` delivers the events the app produces.
    pub sinks: Vec<SinkManifest>,
    /// `[secrets]`: where each secret a 1.0 workflow may list in
    /// `use.secrets` is read from when the app deploys.
    pub secrets: BTreeMap<String, SecretSource>,
    /// `[retention]`: how long the app's finished instances are kept.
    pub retention: InstanceRetention,
    /// `app.allowed-outbound-hosts`: the hosts the app's 1.0 workflows may
    /// call (`call: http`, `call: openapi`); any when not written.
    pub allowed_outbound_hosts: AllowedHosts,
}

/// How long an app's finished instances and their history are kept, when
/// not for the server's `--instance-retention`.
#[derive(Debug, Clone, Default)]
pub struct InstanceRetention {
    /// `instances`: for every workflow of the app.
    pub instances: Option<Duration>,
    /// `[retention.workflows]`: for one workflow, by id, with where it is
    /// written (a deployment refuses an id that is none of the app's).
    pub workflows: BTreeMap<String, (Duration, Location)>,
}

impl InstanceRetention {
    /// How long workflow `id`'s finished instances are kept; `None`: as
    /// long as the server's default.
    pub fn of(&self, id: &str) -> Option<Duration> {
        self.workflows
            .get(id)
            .map(|(kept, _)| *kept)
            .or(self.instances)
    }

    /// An error for each workflow `[retention.workflows]` names that is
    /// none of `ids`, the app's.
    pub fn unknown_workflows(&self, ids: &[String]) -> Vec<ManifestError> {
        self.workflows
            .iter()
            .filter(|(id, _)| !ids.contains(id))
            .map(|(id, (_, location))| {
                location.error(format!(
                    "no workflow of this app has id '{id}'; its workflows: {}",
                    if ids.is_empty() {
                        "none".to_string()
                    } else {
                        ids.join(", ")
                    }
                ))
            })
            .collect()
    }
}

/// Where a secret's value is: an environment variable of the swirl
/// process, or a file (resolved against the manifest's directory). A value
/// that is a JSON object is that object (`basic: {use: name}` reads its
/// `username` and `password`); any other is the text, a file's without its
/// final newline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecretSource {
    Env(String),
    File(PathBuf),
}

impl SecretSource {
    /// The value now; the error names what is missing.
    pub fn read(&self) -> Result<serde_json::Value, String> {
        let text = match self {
            SecretSource::Env(name) => std::env::var(name)
                .map_err(|_| format!("the environment variable '{name}' is not set"))?,
            SecretSource::File(path) => std::fs::read_to_string(path)
                .map_err(|e| format!("cannot read {}: {e}", path.display()))?
                .trim_end_matches(['\n', '\r'])
                .to_string(),
        };
        Ok(match serde_json::from_str(&text) {
            Ok(object @ serde_json::Value::Object(_)) => object,
            _ => serde_json::Value::String(text),
        })
    }
}

/// One `[[sinks]]` entry: produced events (optionally of one type) are
/// POSTed to `url` as CloudEvents in `mode`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SinkManifest {
    /// An `http://` URL.
    pub url: String,
    /// Only events of this CloudEvents `type`; all events when absent.
    pub event_type: Option<String>,
    pub mode: SinkMode,
}

/// The HTTP binding's content mode a sink gets its events in.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SinkMode {
    /// Attributes in `ce-` headers (percent-encoded), the data as the body.
    #[default]
    Binary,
    /// The whole event as `application/cloudevents+json`: for receivers that
    /// read headers without percent-decoding them.
    Structured,
}

/// One function of a manifest.
#[derive(Debug, Clone)]
pub struct FunctionManifest {
    pub name: String,
    /// The component file, resolved against the manifest's directory.
    pub source: PathBuf,
    /// The command that builds the component, run in the manifest's directory.
    pub build: Option<String>,
    pub limits: FunctionLimits,
    pub config: BTreeMap<String, String>,
    /// Where `source` is written, for errors about the code.
    pub source_location: Location,
}

/// A place in a manifest file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    pub file: PathBuf,
    pub line: usize,
    pub column: usize,
    pub key: String,
}

impl Location {
    /// An error at this place.
    pub fn error(&self, message: impl Into<String>) -> ManifestError {
        ManifestError {
            file: self.file.clone(),
            line: self.line,
            column: self.column,
            key: Some(self.key.clone()),
            message: message.into(),
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawManifest {
    app: RawApp,
    #[serde(default)]
    functions: BTreeMap<String, RawFunction>,
    #[serde(default)]
    sinks: Vec<RawSink>,
    #[serde(default)]
    secrets: BTreeMap<String, Spanned<RawSecret>>,
    #[serde(default)]
    retention: RawRetention,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawRetention {
    instances: Option<Spanned<String>>,
    #[serde(default)]
    workflows: BTreeMap<String, Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSecret {
    env: Option<String>,
    file: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSink {
    url: Spanned<String>,
    #[serde(rename = "type")]
    event_type: Option<String>,
    #[serde(default)]
    mode: SinkMode,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawApp {
    name: Spanned<String>,
    #[serde(default)]
    workflows: Vec<Spanned<String>>,
    #[serde(rename = "allowed-outbound-hosts")]
    allowed_outbound_hosts: Option<Vec<Spanned<String>>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawFunction {
    source: Spanned<String>,
    build: Option<String>,
    memory: Option<Spanned<String>>,
    timeout: Option<Spanned<String>>,
    min_instances: Option<Spanned<u32>>,
    max_instances: Option<Spanned<u32>>,
    max_queue: Option<u32>,
    idle_timeout: Option<Spanned<String>>,
    instance_mode: Option<InstanceMode>,
    #[serde(default)]
    config: BTreeMap<String, String>,
}

impl Manifest {
    /// Reads and checks the manifest at `path`.
    pub fn load(path: &Path) -> Result<Self, ManifestErrors> {
        let whole_file = |message: String| {
            ManifestErrors(vec![ManifestError {
                file: path.to_path_buf(),
                line: 1,
                column: 1,
                key: None,
                message,
            }])
        };
        let size = std::fs::metadata(path)
            .map_err(|error| whole_file(format!("cannot read the manifest: {error}")))?
            .len();
        if size > MAX_MANIFEST_BYTES {
            return Err(whole_file(format!(
                "the manifest is {size} bytes, over the {MAX_MANIFEST_BYTES}-byte limit"
            )));
        }
        let text = std::fs::read_to_string(path)
            .map_err(|error| whole_file(format!("cannot read the manifest: {error}")))?;
        Self::parse(path, &text)
    }

    /// Parses manifest text; `path` locates errors and anchors relative paths.
    pub fn parse(path: &Path, text: &str) -> Result<Self, ManifestErrors> {
        let source = SourceMap::new(path, text);
        let raw: RawManifest = toml::from_str(text).map_err(|error| {
            let span = error.span().unwrap_or(0..0);
            ManifestErrors(vec![source.error(
                span,
                None,
                clean_toml_message(error.message()),
            )])
        })?;
        let dir = path.parent().unwrap_or(Path::new("."));
        let mut errors = Vec::new();

        let app_name = raw.app.name.get_ref().trim().to_string();
        if app_name.is_empty() {
            errors.push(source.error(
                raw.app.name.span(),
                Some("app.name"),
                "the app needs a name",
            ));
        }
        let workflows = raw
            .app
            .workflows
            .iter()
            .map(|workflow| dir.join(workflow.get_ref()))
            .collect();

        let allowed_outbound_hosts = match &raw.app.allowed_outbound_hosts {
            None => AllowedHosts::any(),
            Some(patterns) => {
                let mut parsed = Vec::new();
                for (index, pattern) in patterns.iter().enumerate() {
                    match HostPattern::parse(pattern.get_ref()) {
                        Ok(pattern) => parsed.push(pattern),
                        Err(message) => errors.push(source.error(
                            pattern.span(),
                            Some(&format!("app.allowed-outbound-hosts[{index}]")),
                            message,
                        )),
                    }
                }
                AllowedHosts::only(parsed)
            }
        };

        let mut functions = BTreeMap::new();
        for (name, function) in raw.functions {
            match FunctionManifest::from_raw(&source, dir, &name, function) {
                Ok(function) => {
                    functions.insert(name, function);
                }
                Err(mut function_errors) => errors.append(&mut function_errors),
            }
        }
        let mut sinks = Vec::new();
        for (index, sink) in raw.sinks.iter().enumerate() {
            let url = sink.url.get_ref().trim();
            let key = format!("sinks[{index}].url");
            match url::Url::parse(url) {
                Ok(parsed) if parsed.scheme() == "http" && parsed.host().is_some() => {
                    sinks.push(SinkManifest {
                        url: url.to_string(),
                        event_type: sink.event_type.clone(),
                        mode: sink.mode,
                    });
                }
                Ok(parsed) if parsed.scheme() == "https" => errors.push(source.error(
                    sink.url.span(),
                    Some(&key),
                    "https sinks are not supported; use an http:// url (for example a local relay)",
                )),
                _ => errors.push(source.error(
                    sink.url.span(),
                    Some(&key),
                    format!(
                        "'{url}' is not an http url; write it like http://127.0.0.1:9000/events"
                    ),
                )),
            }
        }
        let mut secrets = BTreeMap::new();
        for (name, secret) in &raw.secrets {
            let source_of = match (&secret.get_ref().env, &secret.get_ref().file) {
                (Some(env), None) => SecretSource::Env(env.clone()),
                (None, Some(file)) => SecretSource::File(dir.join(file)),
                _ => {
                    errors.push(source.error(
                        secret.span(),
                        Some(&format!("secrets.{name}")),
                        format!("secret '{name}' needs one of env or file: {name} = {{ env = \"VARIABLE\" }}"),
                    ));
                    continue;
                }
            };
            secrets.insert(name.clone(), source_of);
        }
        let mut retention = InstanceRetention::default();
        let kept = |text: &Spanned<String>, key: String| {
            let parsed = parse_duration(text.get_ref())
                .and_then(|kept| {
                    if kept.is_zero() {
                        Err("a retention must be longer than 0s".to_string())
                    } else {
                        Ok(kept)
                    }
                })
                .map_err(|message| source.error(text.span(), Some(&key), message));
            let (line, column) = source.line_column(text.span().start);
            let location = Location {
                file: source.path.to_path_buf(),
                line,
                column,
                key,
            };
            parsed.map(|kept| (kept, location))
        };
        if let Some(text) = &raw.retention.instances {
            match kept(text, "retention.instances".to_string()) {
                Ok((instances, _)) => retention.instances = Some(instances),
                Err(error) => errors.push(error),
            }
        }
        for (id, text) in &raw.retention.workflows {
            match kept(text, format!("retention.workflows.{id}")) {
                Ok(kept) => {
                    retention.workflows.insert(id.clone(), kept);
                }
                Err(error) => errors.push(error),
            }
        }
        if !errors.is_empty() {
            return Err(ManifestErrors(errors));
        }
        Ok(Manifest {
            path: path.to_path_buf(),
            app_name,
            workflows,
            functions,
            sinks,
            secrets,
            retention,
            allowed_outbound_hosts,
        })
    }

    /// Every secret's value, read now; the errors name the secrets missing.
    pub fn read_secrets(&self) -> Result<BTreeMap<String, serde_json::Value>, Vec<String>> {
        let mut values = BTreeMap::new();
        let mut errors = Vec::new();
        for (name, source) in &self.secrets {
            match source.read() {
                Ok(value) => {
                    values.insert(name.clone(), value);
                }
                Err(why) => errors.push(format!(
                    "{}: error: secret '{name}' has no value: {why}",
                    self.path.display()
                )),
            }
        }
        if errors.is_empty() {
            Ok(values)
        } else {
            Err(errors)
        }
    }

    /// The secrets `definition` lists that this manifest does not name.
    pub fn missing_secrets(
        &self,
        definition: &swirl_workflow::model::WorkflowDefinition,
    ) -> Vec<String> {
        definition
            .secrets
            .iter()
            .filter(|name| !self.secrets.contains_key(*name))
            .map(|name| {
                format!(
                    "secret '{name}' in 'use.secrets' of workflow '{}' is not in {}'s [secrets]; add {name} = {{ env = \"VARIABLE\" }}",
                    definition.id,
                    self.path.display()
                )
            })
            .collect()
    }

    /// The directory relative paths and build commands start from.
    pub fn dir(&self) -> &Path {
        self.path.parent().unwrap_or(Path::new("."))
    }
}

impl FunctionManifest {
    fn from_raw(
        source: &SourceMap<'_>,
        dir: &Path,
        name: &str,
        raw: RawFunction,
    ) -> Result<Self, Vec<ManifestError>> {
        let mut errors = Vec::new();
        let key = |field: &str| format!("functions.{name}.{field}");
        let defaults = FunctionLimits::default();
        if !is_function_name(name) {
            errors.push(source.error(
                raw.source.span(),
                Some(&format!("functions.{name}")),
                "a function name may contain only letters, digits, '-' and '_', and at most 64 of them",
            ));
        }

        let mut memory = defaults.memory;
        if let Some(text) = &raw.memory {
            match parse_size(text.get_ref()) {
                Ok(bytes) if bytes >= 1024 * 1024 => memory = bytes,
                Ok(_) => errors.push(source.error(
                    text.span(),
                    Some(&key("memory")),
                    "must be at least 1MiB, the smallest memory a component can start with",
                )),
                Err(message) => {
                    errors.push(source.error(text.span(), Some(&key("memory")), message))
                }
            }
        }
        let mut duration =
            |value: &Option<Spanned<String>>, field: &str, default: Duration| match value {
                None => default,
                Some(text) => match parse_duration(text.get_ref()) {
                    Ok(duration) => duration,
                    Err(message) => {
                        errors.push(source.error(text.span(), Some(&key(field)), message));
                        default
                    }
                },
            };
        let timeout = duration(&raw.timeout, "timeout", defaults.timeout);
        let idle_timeout = duration(&raw.idle_timeout, "idle-timeout", defaults.idle_timeout);

        let min_instances = raw
            .min_instances
            .as_ref()
            .map_or(defaults.min_instances, |v| *v.get_ref());
        let max_instances = raw
            .max_instances
            .as_ref()
            .map_or(defaults.max_instances, |v| *v.get_ref());
        if let Some(max) = &raw.max_instances
            && *max.get_ref() == 0
        {
            errors.push(source.error(
                max.span(),
                Some(&key("max-instances")),
                "must be at least 1",
            ));
        }
        if let Some(min) = &raw.min_instances
            && *min.get_ref() > max_instances
        {
            errors.push(source.error(
                min.span(),
                Some(&key("min-instances")),
                format!(
                    "is {} but max-instances is {max_instances}; min-instances may not exceed it",
                    min.get_ref()
                ),
            ));
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        let (line, column) = source.line_column(raw.source.span().start);
        Ok(FunctionManifest {
            name: name.to_string(),
            source: dir.join(raw.source.get_ref()),
            build: raw.build,
            limits: FunctionLimits {
                memory,
                timeout,
                min_instances,
                max_instances,
                max_queue: raw.max_queue.unwrap_or(defaults.max_queue),
                idle_timeout,
                instance_mode: raw.instance_mode.unwrap_or_default(),
            },
            config: raw.config,
            source_location: Location {
                file: source.path.to_path_buf(),
                line,
                column,
                key: key("source"),
            },
        })
    }

    /// Reads the function's component and makes the spec the host deploys.
    pub fn spec(&self) -> Result<FunctionSpec, ManifestError> {
        let missing = |error: std::io::Error| {
            let hint = match &self.build {
                Some(build) => format!("; build it with `{build}` (or pass --build)"),
                None => String::new(),
            };
            self.source_location.error(format!(
                "cannot read {}: {error}{hint}",
                self.source.display()
            ))
        };
        let size = std::fs::metadata(&self.source).map_err(missing)?.len();
        if size > MAX_COMPONENT_BYTES {
            return Err(self.source_location.error(format!(
                "{} is {size} bytes, over the {MAX_COMPONENT_BYTES}-byte limit",
                self.source.display()
            )));
        }
        let (wasm, source_stamp) = read_component(&self.source).map_err(missing)?;
        Ok(FunctionSpec {
            name: self.name.clone(),
            source: self.source.clone(),
            wasm,
            source_stamp,
            content_hash: None,
            limits: self.limits.clone(),
            config: self.config.clone(),
        })
    }
}

fn is_function_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

/// The manifest text, to turn byte offsets into lines, columns and keys.
///
/// Lines and table headers are indexed once: scanning the text from the
/// start for every error made a manifest with thousands of errors take
/// minutes to report (each error cost a pass over up to a megabyte).
struct SourceMap<'a> {
    path: &'a Path,
    text: &'a str,
    /// Byte offset where each line starts.
    line_starts: Vec<usize>,
    /// Each table header (`[functions.greet]`) as (line index, table name).
    headers: Vec<(usize, String)>,
}

impl<'a> SourceMap<'a> {
    fn new(path: &'a Path, text: &'a str) -> Self {
        let mut line_starts = vec![0];
        line_starts.extend(text.match_indices('\n').map(|(index, _)| index + 1));
        let mut array_lengths: HashMap<String, usize> = HashMap::new();
        let headers = line_starts
            .iter()
            .enumerate()
            .filter_map(|(index, &start)| {
                let end = line_starts.get(index + 1).copied().unwrap_or(text.len());
                let line = &text[start..end];
                if let Some(array) = array_header(line) {
                    let length = array_lengths.entry(array.clone()).or_default();
                    *length += 1;
                    return Some((index, format!("{array}[{}]", *length - 1)));
                }
                table_header(line).map(|table| (index, table))
            })
            .collect();
        SourceMap {
            path,
            text,
            line_starts,
            headers,
        }
    }

    /// The index of the line holding `offset`, a char boundary.
    fn line_index(&self, offset: usize) -> usize {
        self.line_starts
            .partition_point(|&start| start <= offset)
            .saturating_sub(1)
    }

    fn line_column(&self, offset: usize) -> (usize, usize) {
        let offset = floor_char_boundary(self.text, offset);
        let index = self.line_index(offset);
        let column = self.text[self.line_starts[index]..offset].chars().count() + 1;
        (index + 1, column)
    }

    fn error(
        &self,
        span: Range<usize>,
        key: Option<&str>,
        message: impl Into<String>,
    ) -> ManifestError {
        let (line, column) = self.line_column(span.start);
        ManifestError {
            file: self.path.to_path_buf(),
            line,
            column,
            key: key.map(str::to_string).or_else(|| self.key_at(span)),
            message: message.into(),
        }
    }

    /// The dotted key written at `span`, qualified by the table it is in.
    fn key_at(&self, span: Range<usize>) -> Option<String> {
        let start = floor_char_boundary(self.text, span.start);
        let index = self.line_index(start);
        // The text before `span` on its own line may be a header too (an
        // error inside `[functions.x]`); otherwise the last header above.
        let table = table_header(&self.text[self.line_starts[index]..start]).or_else(|| {
            let above = self.headers.partition_point(|(line, _)| *line < index);
            above
                .checked_sub(1)
                .map(|header| self.headers[header].1.clone())
        });
        let written = self
            .text
            .get(start..floor_char_boundary(self.text, span.end))?;
        let written = written.trim();
        let is_key = !written.is_empty()
            && written
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.');
        match (table, is_key) {
            (Some(table), true) => Some(format!("{table}.{written}")),
            (None, true) => Some(written.to_string()),
            (Some(table), false) => Some(table),
            (None, false) => None,
        }
    }
}

/// The table a header line opens (`[functions.greet]` → `functions.greet`);
/// `None` for other lines, array-of-tables headers (`[[x]]`) included.
fn table_header(line: &str) -> Option<String> {
    let line = line.trim();
    (line.starts_with('[') && !line.starts_with("[[")).then(|| {
        line.trim_matches(|c| c == '[' || c == ']')
            .trim()
            .to_string()
    })
}

/// The array an array-of-tables header line extends (`[[sinks]]` → `sinks`).
fn array_header(line: &str) -> Option<String> {
    let line = line.trim();
    let name = line.strip_prefix("[[")?.strip_suffix("]]")?;
    Some(name.trim().to_string())
}

fn floor_char_boundary(text: &str, offset: usize) -> usize {
    let mut offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    offset
}

/// toml's messages quote with backticks and end with a newline; ours quote with ''.
fn clean_toml_message(message: &str) -> String {
    message.trim().replace('`', "'")
}

/// Parses a size such as `64MiB`, `512 KiB`, `1GB` or a plain number of bytes.
pub fn parse_size(text: &str) -> Result<u64, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: u64 = number.parse().map_err(|_| {
        format!("'{text}' is not a size; write e.g. \"64MiB\", \"512KiB\" or \"1GiB\"")
    })?;
    let multiplier: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "kib" | "ki" => 1 << 10,
        "mib" | "mi" => 1 << 20,
        "gib" | "gi" => 1 << 30,
        "kb" | "k" => 1_000,
        "mb" | "m" => 1_000_000,
        "gb" | "g" => 1_000_000_000,
        _ => {
            return Err(format!(
                "'{text}' has an unknown unit '{}'; use B, KiB, MiB, GiB (or KB, MB, GB)",
                unit.trim()
            ));
        }
    };
    number
        .checked_mul(multiplier)
        .ok_or_else(|| format!("'{text}' is too large"))
}

/// Parses a duration such as `5s`, `250ms`, `1m 30s`.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let duration = humantime::parse_duration(text.trim()).map_err(|error| {
        format!("'{text}' is not a duration ({error}); write e.g. \"500ms\", \"5s\" or \"2m\"")
    })?;
    if duration.is_zero() {
        return Err(format!("'{text}' is zero; give a positive duration"));
    }
    Ok(duration)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Manifest, ManifestErrors> {
        Manifest::parse(Path::new("app/swirl.toml"), text)
    }

    #[test]
    fn a_full_manifest_resolves_paths_and_limits() {
        let manifest = parse(
            r#"
[app]
name = "hello"
workflows = ["workflows/greeting.json"]

[functions.greet]
source = "greet.wasm"
memory = "32MiB"
timeout = "2s"
min-instances = 1
max-instances = 4
idle-timeout = "250ms"
instance-mode = "fresh"
config = { GREETING = "Hi" }
"#,
        )
        .unwrap();
        assert_eq!(manifest.app_name, "hello");
        assert_eq!(
            manifest.workflows,
            [PathBuf::from("app/workflows/greeting.json")]
        );
        let greet = &manifest.functions["greet"];
        assert_eq!(greet.source, PathBuf::from("app/greet.wasm"));
        assert_eq!(greet.limits.memory, 32 << 20);
        assert_eq!(greet.limits.timeout, Duration::from_secs(2));
        assert_eq!(greet.limits.idle_timeout, Duration::from_millis(250));
        assert_eq!(greet.limits.instance_mode, InstanceMode::Fresh);
        assert_eq!(
            (greet.limits.min_instances, greet.limits.max_instances),
            (1, 4)
        );
        assert_eq!(greet.config["GREETING"], "Hi");
        assert_eq!(greet.source_location.line, 7);
    }

    #[test]
    fn an_unknown_key_in_an_array_of_tables_names_its_entry() {
        let errors = parse(
            "[app]\nname = \"a\"\n[[sinks]]\nurl = \"http://a/\"\n[[sinks]]\nurl = \"http://b/\"\ntypo = 1\n",
        )
        .unwrap_err();
        assert_eq!(
            errors.0[0].key.as_deref(),
            Some("sinks[1].typo"),
            "{}",
            errors.0[0]
        );
        assert_eq!(errors.0[0].line, 7);
    }

    #[test]
    fn secrets_name_a_variable_or_a_file_and_a_missing_one_is_named() {
        let dir = std::env::temp_dir().join(format!("swirl-secrets-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("login.json"), "{\"username\": \"ada\"}\n").unwrap();
        let text = "[app]\nname = \"a\"\n[secrets]\nlogin = { file = \"login.json\" }\ntoken = { env = \"UNSET_SECRET_VARIABLE_OF_A_SWIRL_TEST\" }\n";
        let manifest = Manifest::parse(&dir.join("swirl.toml"), text).unwrap();
        let errors = manifest.read_secrets().unwrap_err();
        assert_eq!(errors.len(), 1);
        assert!(errors[0].contains("secret 'token'"), "{errors:?}");
        assert!(errors[0].contains("UNSET_SECRET_VARIABLE_OF_A_SWIRL_TEST"));
        assert_eq!(
            manifest.secrets["login"].read().unwrap(),
            serde_json::json!({"username": "ada"})
        );
        let errors =
            parse("[app]\nname = \"a\"\n[secrets]\nboth = { env = \"A\", file = \"b\" }\n")
                .unwrap_err();
        assert_eq!(errors.0[0].key.as_deref(), Some("secrets.both"));
    }

    #[test]
    fn allowed_outbound_hosts_are_checked_where_written() {
        let manifest =
            parse("[app]\nname = \"a\"\nallowed-outbound-hosts = [\"https://api.example.com\"]\n")
                .unwrap();
        assert!(
            manifest
                .allowed_outbound_hosts
                .check("https://api.example.com/x")
                .is_ok()
        );
        assert!(
            manifest
                .allowed_outbound_hosts
                .check("https://other.example.com/x")
                .is_err()
        );
        let open = parse("[app]\nname = \"a\"\n").unwrap();
        assert_eq!(open.allowed_outbound_hosts, AllowedHosts::any());
        let errors =
            parse("[app]\nname = \"a\"\nallowed-outbound-hosts = [\"ok.example\", \"ftp://x\"]\n")
                .unwrap_err()
                .0;
        assert_eq!(errors.len(), 1);
        assert_eq!(
            errors[0].key.as_deref(),
            Some("app.allowed-outbound-hosts[1]")
        );
        assert_eq!((errors[0].line, errors[0].column), (3, 41));
        assert!(errors[0].message.contains("scheme 'ftp'"), "{}", errors[0]);
    }

    #[test]
    fn sinks_take_http_urls_and_an_optional_type() {
        let manifest = parse(
            "[app]\nname = \"a\"\n[[sinks]]\nurl = \"http://127.0.0.1:9000/in\"\ntype = \"order.done\"\n[[sinks]]\nurl = \"http://localhost/\"\nmode = \"structured\"\n",
        )
        .unwrap();
        assert_eq!(
            manifest.sinks,
            [
                SinkManifest {
                    url: "http://127.0.0.1:9000/in".into(),
                    event_type: Some("order.done".into()),
                    mode: SinkMode::Binary,
                },
                SinkManifest {
                    url: "http://localhost/".into(),
                    event_type: None,
                    mode: SinkMode::Structured,
                }
            ]
        );
        let errors = parse(
            "[app]\nname = \"a\"\n[[sinks]]\nurl = \"ftp://x\"\n[[sinks]]\nurl = \"https://x\"\n",
        )
        .unwrap_err();
        assert_eq!(errors.0.len(), 2);
        assert_eq!(errors.0[0].line, 4);
        assert_eq!(errors.0[0].key.as_deref(), Some("sinks[0].url"));
        assert!(
            errors.0[0].message.contains("not an http url"),
            "{}",
            errors.0[0]
        );
        assert!(
            errors.0[1]
                .message
                .contains("https sinks are not supported")
        );
    }

    #[test]
    fn defaults_apply_to_missing_keys() {
        let manifest = parse("[app]\nname = \"a\"\n[functions.f]\nsource = \"f.wasm\"\n").unwrap();
        assert_eq!(manifest.functions["f"].limits, FunctionLimits::default());
    }

    #[test]
    fn an_unknown_key_is_named_with_its_line() {
        let errors =
            parse("[app]\nname = \"a\"\n\n[functions.f]\nsource = \"f.wasm\"\nmemroy = \"1MiB\"\n")
                .unwrap_err();
        let error = &errors.0[0];
        assert_eq!((error.line, error.column), (6, 1));
        assert_eq!(error.key.as_deref(), Some("functions.f.memroy"));
        assert!(error.message.contains("unknown field 'memroy'"), "{error}");
        assert!(
            error
                .to_string()
                .starts_with("app/swirl.toml:6:1: error: functions.f.memroy: "),
            "{error}"
        );
    }

    #[test]
    fn a_missing_source_is_reported() {
        let errors = parse("[app]\nname = \"a\"\n[functions.f]\nmemory = \"1MiB\"\n").unwrap_err();
        assert!(
            errors.0[0].message.contains("missing field 'source'"),
            "{errors}"
        );
        assert_eq!(errors.0[0].line, 3);
    }

    #[test]
    fn every_bad_value_is_reported_at_once() {
        let errors = parse(
            "[app]\nname = \"a\"\n[functions.f]\nsource = \"f.wasm\"\nmemory = \"64 parsecs\"\ntimeout = \"soon\"\nmax-instances = 2\nmin-instances = 3\n",
        )
        .unwrap_err();
        let summary: Vec<(usize, Option<&str>)> = errors
            .0
            .iter()
            .map(|e| (e.line, e.key.as_deref()))
            .collect();
        assert_eq!(
            summary,
            [
                (5, Some("functions.f.memory")),
                (6, Some("functions.f.timeout")),
                (8, Some("functions.f.min-instances")),
            ]
        );
        assert!(
            errors.0[0].message.contains("unknown unit 'parsecs'"),
            "{errors}"
        );
    }

    #[test]
    fn sizes_and_durations_parse() {
        assert_eq!(parse_size("64MiB"), Ok(64 << 20));
        assert_eq!(parse_size("512 KiB"), Ok(512 << 10));
        assert_eq!(parse_size("1GB"), Ok(1_000_000_000));
        assert_eq!(parse_size("4096"), Ok(4096));
        assert!(parse_size("MiB").is_err());
        assert!(parse_size("99999999999999GiB").is_err());
        assert_eq!(parse_duration("1m 30s"), Ok(Duration::from_secs(90)));
        assert!(parse_duration("0s").is_err());
    }

    #[test]
    fn an_unreadable_source_names_the_build_command() {
        let manifest = parse(
            "[app]\nname = \"a\"\n[functions.f]\nsource = \"missing.wasm\"\nbuild = \"make f\"\n",
        )
        .unwrap();
        let error = manifest.functions["f"].spec().unwrap_err();
        assert_eq!(error.key.as_deref(), Some("functions.f.source"));
        assert_eq!(error.line, 4);
        assert!(error.message.contains("build it with `make f`"), "{error}");
    }

    /// A 1 MB manifest of 19,000 functions, each with a bad size, took 26 s
    /// to check (found by feeding the `manifest_parse` fuzz target large
    /// inputs): locating each error scanned the text from its start.
    #[test]
    fn regression_many_errors_took_quadratic_time() {
        let functions = 19_000;
        let mut text = String::from("[app]\nname = \"many\"\n");
        for i in 0..functions {
            text.push_str(&format!(
                "[functions.f{i}]\nsource = \"f.wasm\"\nmemory = \"lots\"\n"
            ));
        }
        let started = std::time::Instant::now();
        let errors = parse(&text).unwrap_err().0;
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "took {:?}",
            started.elapsed()
        );
        assert_eq!(errors.len(), functions);
        let last = errors.iter().max_by_key(|e| e.line).unwrap();
        assert_eq!((last.line, last.column), (2 + 3 * functions, 10));
        assert_eq!(
            last.key.as_deref(),
            Some(format!("functions.f{}.memory", functions - 1).as_str())
        );
    }
}
