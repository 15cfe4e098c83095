//! The docs cannot rot: every command that `README.md`, `examples/README.md`
//! and the examples' READMEs show is run here, as a reader would run it, and
//! its output is checked against the one the page shows. The references
//! are checked against the binary too: `docs/cli.md` is every command's
//! `--help`, and `README.md` names every command, `swirl serve` flag,
//! `SWIRL_*` variable and manifest key, and only real ones.
//!
//! The rules a page follows (`examples/README.md`, "Commands in the docs"):
//! - Every ```` ```sh ```` block is run, line by line, from the repository
//!   root (here, a temporary directory that links `examples/` and `target/`,
//!   so that data directories stay out of the checkout), by `sh`, with the
//!   test's `swirl` binary on `PATH`; `cargo run -p swirl --` (with or
//!   without `-q`) stands for `swirl`. Other shell languages are refused.
//! - `swirl serve …` runs in the background on a free port, as in a second
//!   terminal; the client commands reach it through `SWIRL_SERVER`, and
//!   `http://127.0.0.1:8080` in a `curl` command becomes its address. The
//!   next command that opens the data directory (`run`, `invoke`,
//!   `instances`, `history`, `validate`, another `serve`) first stops it,
//!   as the reader stops it with Ctrl-C.
//! - A line ending in `# exits N` must exit with N, any other with 0.
//! - A block whose info string has `output` (```` ```json output ````,
//!   ```` ```text output ````) is the standard output of the last command of
//!   the `sh` block before it: JSON compared as values (with `partial`, an
//!   object shows some of the members printed), text token by token, where a
//!   `...` line stands for any lines. `<name>` (a JSON string, or a
//!   text token) matches anything and names it: later commands and outputs
//!   of the page use the value it matched (`<_>` matches anything and names
//!   nothing). Commands that only look
//!   (`get`, `ls`, `logs`, `history`, `instances`, `curl` without a body)
//!   are repeated for a while until the output matches, since what they
//!   show may still be on its way.
//! - A block with `file=PATH` in its info string must be the whole content
//!   of that file of the repository.
//! - An inline `swirl …` command of three words or more without
//!   placeholders (`<…>`, `[…]`, `|`, `...`) must also be a line of one of
//!   the page's `sh` blocks, so that no command escapes the test.
//! - `cargo test --workspace`, the test command, is not run here (it runs
//!   this test); CI runs it, so `.ci/run` must contain it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::Value;
use swirl_tests::{
    build_example_functions, examples, in_parallel, run, swirl_binary, workspace_root,
};

use crate::server::util::Server;

/// How long a command that only looks is repeated until its output matches.
const LOOK_TIMEOUT: Duration = Duration::from_secs(15);

/// A fenced code block of a page.
struct Block {
    line: usize,
    lang: String,
    attrs: Vec<String>,
    text: String,
}

impl Block {
    fn has(&self, attribute: &str) -> bool {
        self.attrs.iter().any(|a| a == attribute)
    }
}

/// A page's fenced blocks and inline code spans (with their line numbers).
struct Page {
    blocks: Vec<Block>,
    spans: Vec<(usize, String)>,
}

fn parse(markdown: &str) -> Page {
    let mut blocks = Vec::new();
    let mut spans = Vec::new();
    let mut prose = String::new();
    let mut prose_start = 1;
    let mut open: Option<Block> = None;
    for (index, line) in markdown.lines().enumerate() {
        let number = index + 1;
        match &mut open {
            Some(block) => {
                if line.trim_start().starts_with("```") {
                    blocks.push(open.take().unwrap());
                    prose_start = number + 1;
                } else {
                    block.text.push_str(line);
                    block.text.push('\n');
                }
            }
            None => {
                if let Some(info) = line.trim_start().strip_prefix("```") {
                    spans.extend(inline_spans(&prose, prose_start));
                    prose.clear();
                    let mut words = info.split_whitespace().map(str::to_string);
                    open = Some(Block {
                        line: number,
                        lang: words.next().unwrap_or_default(),
                        attrs: words.collect(),
                        text: String::new(),
                    });
                } else {
                    prose.push_str(line);
                    prose.push('\n');
                }
            }
        }
    }
    spans.extend(inline_spans(&prose, prose_start));
    Page { blocks, spans }
}

/// The `code` spans of a stretch of prose that starts at line `first`.
fn inline_spans(prose: &str, first: usize) -> Vec<(usize, String)> {
    let mut spans = Vec::new();
    let mut rest = prose;
    let mut offset = 0;
    while let Some(start) = rest.find('`') {
        let after = &rest[start + 1..];
        let Some(end) = after.find('`') else { break };
        let line = first + prose[..offset + start].matches('\n').count();
        spans.push((line, after[..end].replace('\n', " ")));
        offset += start + 1 + end + 1;
        rest = &after[end + 1..];
    }
    spans
}

/// The pages whose commands are checked.
fn pages() -> Vec<PathBuf> {
    let root = workspace_root();
    let mut pages = vec![root.join("README.md"), root.join("examples/README.md")];
    pages.extend(examples().iter().map(|dir| dir.join("README.md")));
    pages
}

/// The commands of a `sh` block: logical lines, comments and blank lines left out.
fn commands(block: &Block) -> Vec<String> {
    let mut commands = Vec::new();
    let mut current = String::new();
    for line in block.text.lines() {
        if let Some(continued) = line.strip_suffix('\\') {
            current.push_str(continued);
            continue;
        }
        current.push_str(line);
        let command = std::mem::take(&mut current);
        let trimmed = command.trim();
        if !trimmed.is_empty() && !trimmed.starts_with('#') {
            commands.push(trimmed.to_string());
        }
    }
    commands
}

/// `cargo run [-q] -p swirl --` is the reader's way to say `swirl`.
fn as_swirl(command: &str) -> String {
    for prefix in ["cargo run -q -p swirl -- ", "cargo run -p swirl -- "] {
        if let Some(rest) = command.strip_prefix(prefix) {
            return format!("swirl {rest}");
        }
    }
    command.to_string()
}

/// `swirl <subcommand>` of a command, if it is one.
fn subcommand(command: &str) -> Option<&str> {
    let mut words = command.split_whitespace();
    (words.next() == Some("swirl"))
        .then(|| words.next())
        .flatten()
}

/// Whether `token` is a placeholder such as `<id>`.
fn placeholder(token: &str) -> Option<&str> {
    let name = token.strip_prefix('<')?.strip_suffix('>')?;
    let valid = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    valid.then_some(name)
}

type Bindings = BTreeMap<String, String>;

/// Whether placeholder `name` may stand for `value`: `_` stands for
/// anything, a bound name for its value, an unbound one binds.
fn bind(name: &str, value: &str, bindings: &mut Bindings) -> bool {
    if name == "_" {
        return true;
    }
    bindings
        .entry(name.to_string())
        .or_insert_with(|| value.to_string())
        == value
}

fn match_json(expected: &Value, actual: &Value, partial: bool, bindings: &mut Bindings) -> bool {
    if let Some(name) = expected.as_str().and_then(placeholder) {
        let text = actual
            .as_str()
            .map_or_else(|| actual.to_string(), str::to_string);
        return bind(name, &text, bindings);
    }
    match (expected, actual) {
        (Value::Object(e), Value::Object(a)) => {
            (partial || e.len() == a.len())
                && e.iter().all(|(key, value)| {
                    a.get(key)
                        .is_some_and(|actual| match_json(value, actual, partial, bindings))
                })
        }
        (Value::Array(e), Value::Array(a)) => {
            e.len() == a.len()
                && e.iter()
                    .zip(a)
                    .all(|(e, a)| match_json(e, a, partial, bindings))
        }
        (Value::Number(e), Value::Number(a)) => e.as_f64() == a.as_f64(),
        (e, a) => e == a,
    }
}

fn match_line(expected: &str, actual: &str, bindings: &mut Bindings) -> bool {
    let expected: Vec<&str> = expected.split_whitespace().collect();
    let actual: Vec<&str> = actual.split_whitespace().collect();
    expected.len() == actual.len()
        && expected
            .iter()
            .zip(&actual)
            .all(|(e, a)| match_token(e, a, bindings))
}

/// A token of a text output: literal, or with one `<name>` in it
/// (`duration_ms=<_>`).
fn match_token(expected: &str, actual: &str, bindings: &mut Bindings) -> bool {
    let parts = expected.find('<').and_then(|open| {
        let close = open + expected[open..].find('>')?;
        let name = placeholder(&expected[open..=close])?;
        Some((&expected[..open], name, &expected[close + 1..]))
    });
    match parts {
        Some((prefix, name, suffix)) => {
            actual.len() > prefix.len() + suffix.len()
                && actual.starts_with(prefix)
                && actual.ends_with(suffix)
                && bind(
                    name,
                    &actual[prefix.len()..actual.len() - suffix.len()],
                    bindings,
                )
        }
        None => expected == actual,
    }
}

fn match_lines(expected: &[&str], actual: &[&str], bindings: &mut Bindings) -> bool {
    match expected.split_first() {
        None => actual.is_empty(),
        Some((first, rest)) if first.trim() == "..." => (0..=actual.len()).any(|skip| {
            let mut tried = bindings.clone();
            let matched = match_lines(rest, &actual[skip..], &mut tried);
            if matched {
                *bindings = tried;
            }
            matched
        }),
        Some((first, rest)) => {
            let Some((line, others)) = actual.split_first() else {
                return false;
            };
            let mut tried = bindings.clone();
            let matched =
                match_line(first, line, &mut tried) && match_lines(rest, others, &mut tried);
            if matched {
                *bindings = tried;
            }
            matched
        }
    }
}

/// Whether `output` is what `block` shows; binds its placeholders if so.
fn matches_output(block: &Block, output: &str, bindings: &mut Bindings) -> bool {
    let mut tried = bindings.clone();
    let matched = if block.lang == "json" {
        let Ok(expected) = serde_json::from_str::<Value>(&substitute(&block.text, bindings)) else {
            return false;
        };
        serde_json::from_str::<Value>(output.trim())
            .is_ok_and(|actual| match_json(&expected, &actual, block.has("partial"), &mut tried))
    } else {
        let expected: Vec<&str> = block
            .text
            .lines()
            .filter(|l| !l.trim().is_empty())
            .collect();
        let actual: Vec<&str> = output.lines().filter(|l| !l.trim().is_empty()).collect();
        match_lines(&expected, &actual, &mut tried)
    };
    if matched {
        *bindings = tried;
    }
    matched
}

/// `text` with the placeholders bound so far replaced by their values.
fn substitute(text: &str, bindings: &Bindings) -> String {
    let mut text = text.to_string();
    for (name, value) in bindings {
        text = text.replace(&format!("<{name}>"), value);
    }
    text
}

/// One page run as a reader runs it.
struct Session<'a> {
    page: &'a Path,
    dir: tempfile::TempDir,
    server: Option<Server>,
    bindings: Bindings,
    path: std::ffi::OsString,
}

impl Session<'_> {
    fn new(page: &Path) -> Session<'_> {
        let dir = tempfile::tempdir().expect("temporary directory");
        for link in ["examples", "target"] {
            std::os::unix::fs::symlink(workspace_root().join(link), dir.path().join(link))
                .expect("link into the checkout");
        }
        let binaries = swirl_binary().parent().unwrap().to_path_buf();
        let path = std::env::join_paths(std::iter::once(binaries).chain(std::env::split_paths(
            &std::env::var_os("PATH").unwrap_or_default(),
        )))
        .unwrap();
        Session {
            page,
            dir,
            server: None,
            bindings: Bindings::new(),
            path,
        }
    }

    fn shell(&self, command: &str) -> Command {
        let mut shell = Command::new("sh");
        shell
            .arg("-c")
            .arg(command)
            .current_dir(self.dir.path())
            .env("PATH", &self.path)
            .env_remove("SWIRL_ADMIN_TOKEN")
            .env_remove("SWIRL_INGRESS_TOKEN")
            .env_remove("SWIRL_SERVER")
            .env_remove("SWIRL_LOG");
        if let Some(server) = &self.server {
            shell.env("SWIRL_SERVER", server.url());
        }
        shell
    }

    /// Runs `command` (line `line` of the page) and checks it against `output`.
    fn run(&mut self, line: usize, command: &str, output: Option<&Block>) -> Result<(), String> {
        let at = format!("{}:{line}", self.page.display());
        let (command, exits) = match command.rsplit_once("# exits ") {
            Some((command, code)) => (
                command.trim().to_string(),
                code.trim()
                    .parse::<i32>()
                    .map_err(|_| format!("{at}: `# exits {code}` is not an exit code"))?,
            ),
            None => (command.to_string(), 0),
        };
        let command = as_swirl(&command);
        if command == "cargo test --workspace" {
            let ci = std::fs::read_to_string(workspace_root().join(".ci/run")).unwrap();
            return if ci.lines().any(|l| l.trim() == command) {
                Ok(())
            } else {
                Err(format!(
                    "{at}: `{command}` is the test command, and .ci/run does not run it"
                ))
            };
        }
        if command.starts_with("cargo ") {
            return Err(format!(
                "{at}: the docs test runs no cargo command but `cargo run -p swirl -- …` and `cargo test --workspace`: `{command}`"
            ));
        }
        let unbound: Vec<&str> = command
            .split(|c: char| c.is_whitespace() || c == '/' || c == '\'' || c == '"')
            .filter_map(placeholder)
            .filter(|name| !self.bindings.contains_key(*name))
            .collect();
        if !unbound.is_empty() {
            return Err(format!(
                "{at}: `{command}` uses {unbound:?}, which no output before it shows"
            ));
        }
        let mut command = substitute(&command, &self.bindings);
        let sub = subcommand(&command).map(str::to_string);
        let sub = sub.as_deref();
        let needs_data_dir = matches!(
            sub,
            Some("run" | "invoke" | "instances" | "history" | "validate" | "serve")
        );
        if needs_data_dir && let Some(mut server) = self.server.take() {
            server.terminate();
        }
        if sub == Some("serve") {
            let mut serve = self.shell(&format!("exec {command} --listen 127.0.0.1:0"));
            serve.env("SWIRL_LOG", "info");
            self.server = Some(Server::spawn(serve));
            return Ok(());
        }
        if let Some(server) = &self.server {
            command = command.replace("http://127.0.0.1:8080", &server.url());
        }
        let looks = matches!(sub, Some("get" | "ls" | "logs" | "history" | "instances"))
            || (command.starts_with("curl ")
                && !["-d ", "--data", "-X "]
                    .iter()
                    .any(|flag| command.contains(flag)));
        let deadline = Instant::now() + LOOK_TIMEOUT;
        loop {
            let result = run(&mut self.shell(&command));
            let problem = if result.code != exits {
                Some(format!("exited {} (the page says {exits})", result.code))
            } else if let Some(block) = output {
                (!matches_output(block, &result.stdout, &mut self.bindings)).then(|| {
                    format!(
                        "printed\n{}\nwhich is not what line {} shows:\n{}",
                        result.stdout, block.line, block.text
                    )
                })
            } else {
                None
            };
            let Some(problem) = problem else {
                return Ok(());
            };
            if !looks || Instant::now() > deadline {
                let log = self.server.as_ref().map(Server::log).unwrap_or_default();
                return Err(format!(
                    "{at}: `{command}` {problem}\nstderr:\n{}{}",
                    result.stderr,
                    if log.is_empty() {
                        String::new()
                    } else {
                        format!("\nserver log:\n{log}")
                    }
                ));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

/// Runs one page; the problems found.
fn check_page(page: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(page).unwrap();
    let parsed = parse(&text);
    let mut problems = Vec::new();
    let mut shown: Vec<String> = Vec::new();
    let mut session = Session::new(page);
    for (index, block) in parsed.blocks.iter().enumerate() {
        let at = format!("{}:{}", page.display(), block.line);
        if ["bash", "shell", "console", "shell-session", "zsh"].contains(&block.lang.as_str()) {
            problems.push(format!(
                "{at}: a ```{} block; write commands in ```sh blocks, which the docs test runs",
                block.lang
            ));
        }
        if let Some(file) = block.attrs.iter().find_map(|a| a.strip_prefix("file=")) {
            match std::fs::read_to_string(workspace_root().join(file)) {
                Ok(content) if content == block.text => {}
                Ok(_) => problems.push(format!(
                    "{at}: the block differs from {file}; copy the file into it"
                )),
                Err(error) => problems.push(format!("{at}: cannot read {file}: {error}")),
            }
        }
        let is_output = block.has("output");
        let after_sh = index > 0 && parsed.blocks[index - 1].lang == "sh";
        if is_output && !after_sh {
            problems.push(format!("{at}: an output block that follows no ```sh block"));
        }
        if block.lang != "sh" {
            continue;
        }
        let output = parsed
            .blocks
            .get(index + 1)
            .filter(|next| next.has("output"));
        let commands = commands(block);
        shown.extend(commands.iter().cloned());
        if !problems.is_empty() {
            continue;
        }
        for (number, command) in commands.iter().enumerate() {
            let last = number + 1 == commands.len();
            if let Err(problem) = session.run(block.line + 1, command, output.filter(|_| last)) {
                problems.push(problem);
                break;
            }
        }
    }
    for (line, span) in &parsed.spans {
        let concrete = span.starts_with("swirl ")
            && span.split_whitespace().count() >= 3
            && !["<", "[", "|", "...", "…"]
                .iter()
                .any(|mark| span.contains(mark));
        let runs =
            |command: &String| command.split(" # exits ").next().unwrap_or_default().trim() == span;
        if concrete && !shown.iter().any(runs) {
            problems.push(format!(
                "{}:{line}: `{span}` is a command no test runs; show it in a ```sh block (the docs test runs those) or write it as a form with <placeholders>",
                page.display()
            ));
        }
    }
    if let Some(mut server) = session.server.take() {
        server.terminate();
    }
    problems
}

#[test]
fn every_command_in_the_docs_runs_and_prints_what_the_docs_show() {
    let curl = Command::new("curl").arg("--version").output();
    assert!(
        curl.is_ok_and(|output| output.status.success()),
        "the pages' curl commands need curl, which is not installed; install it (e.g. `apt-get install curl`) and test again"
    );
    build_example_functions();
    let problems: Vec<String> = in_parallel(pages(), |page| check_page(&page))
        .into_iter()
        .flatten()
        .collect();
    assert!(problems.is_empty(), "\n{}", problems.join("\n\n"));
}

/// `swirl <args> --help`, as a reader's terminal of 100 columns shows it.
fn help(args: &[&str]) -> String {
    let result = run(swirl_tests::swirl(workspace_root())
        .args(args)
        .arg("--help")
        .env("COLUMNS", "100"));
    assert_eq!(result.code, 0, "swirl {args:?} --help: {}", result.stderr);
    result.stdout
}

/// The subcommands `swirl --help` lists (but `help`).
fn subcommands() -> Vec<String> {
    help(&[])
        .lines()
        .skip_while(|line| !line.starts_with("Commands:"))
        .skip(1)
        .take_while(|line| !line.trim().is_empty())
        .filter_map(|line| line.split_whitespace().next())
        .filter(|name| *name != "help")
        .map(str::to_string)
        .collect()
}

#[test]
fn the_cli_reference_is_the_help_of_every_command() {
    let mut reference = String::from(
        "# swirl command-line reference\n\n\
         The `--help` of every command, as `swirl` prints it. Generated by the\n\
         docs test (`tests/tests/all/docs.rs`), which fails when this page and\n\
         the commands differ; regenerate it with\n\
         `SWIRL_BLESS=1 cargo test --workspace --test all docs::`.\n",
    );
    let mut section = |title: &str, text: &str| {
        reference.push_str(&format!(
            "\n## `{title}`\n\n```text\n{}\n```\n",
            text.trim_end()
        ));
    };
    section("swirl", &help(&[]));
    let commands = subcommands();
    for command in &commands {
        section(&format!("swirl {command}"), &help(&[command]));
    }
    let path = workspace_root().join("docs/cli.md");
    if std::env::var_os("SWIRL_BLESS").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, &reference).unwrap();
    }
    let current = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        current == reference,
        "docs/cli.md is not the commands' --help any more; regenerate it with \
         `SWIRL_BLESS=1 cargo test --workspace --test all docs::` and commit it"
    );
    let readme = std::fs::read_to_string(workspace_root().join("README.md")).unwrap();
    for command in &commands {
        assert!(
            readme.contains(&format!("`swirl {command}"))
                || readme.contains(&format!("\\|{command}")),
            "README.md's CLI table has no row for `swirl {command}`; add one"
        );
    }
}

#[test]
fn the_configuration_reference_names_every_flag_and_variable() {
    let readme = std::fs::read_to_string(workspace_root().join("README.md")).unwrap();
    let serve = help(&["serve"]);
    let flags = serve
        .split_whitespace()
        .filter(|word| word.starts_with("--") && *word != "--help")
        .map(|word| word.trim_end_matches([',', '.', ')']));
    for flag in flags {
        assert!(
            readme.contains(&format!("`{flag}")),
            "README.md's configuration reference does not name `swirl serve {flag}`; add it"
        );
    }
    let mut variables = std::collections::BTreeSet::new();
    // Every crate's sources, not its benchmarks: their knobs are not the server's.
    let mut dirs: Vec<_> = std::fs::read_dir(workspace_root().join("runtime"))
        .unwrap()
        .map(|entry| entry.unwrap().path().join("src"))
        .filter(|src| src.is_dir())
        .collect();
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
                continue;
            }
            let text = std::fs::read_to_string(&path).unwrap_or_default();
            for (start, _) in text.match_indices("\"SWIRL_") {
                let name: String = text[start + 1..]
                    .chars()
                    .take_while(|c| c.is_ascii_uppercase() || *c == '_')
                    .collect();
                variables.insert(name);
            }
        }
    }
    assert!(variables.contains("SWIRL_LOG"), "found {variables:?}");
    for variable in variables {
        assert!(
            readme.contains(&format!("`{variable}")),
            "README.md's configuration reference does not name the environment variable {variable}; add it"
        );
    }
}

#[test]
fn the_manifest_reference_shows_every_key_and_only_real_ones() {
    let readme = std::fs::read_to_string(workspace_root().join("README.md")).unwrap();
    let section = readme
        .split("\n## ")
        .find(|section| section.starts_with("Manifest reference"))
        .expect("README.md has a \"Manifest reference\" section");
    let shown: String = parse(section)
        .blocks
        .iter()
        .filter(|block| block.lang == "toml")
        .map(|block| block.text.as_str())
        .collect();
    // The reference is a manifest: every key it shows is one swirl reads.
    // Only its component files are missing, which parsing does not read.
    if let Err(errors) = swirl_app::manifest::Manifest::parse(Path::new("swirl.toml"), &shown) {
        panic!("README.md's manifest reference is not a valid manifest:\n{errors}");
    }
    // An unknown key makes the parser list the keys it knows, per table.
    let probes = [
        "bogus = 1\n[app]\nname = \"x\"\n",
        "[app]\nname = \"x\"\nbogus = 1\n",
        "[app]\nname = \"x\"\n[functions.f]\nsource = \"f.wasm\"\nbogus = 1\n",
        "[app]\nname = \"x\"\n[[sinks]]\nurl = \"http://127.0.0.1:9/\"\nbogus = 1\n",
        "[app]\nname = \"x\"\n[retention]\nbogus = 1\n",
    ];
    for probe in probes {
        let errors = swirl_app::manifest::Manifest::parse(Path::new("swirl.toml"), probe)
            .expect_err("an unknown key is an error")
            .to_string();
        let known = errors
            .split_once("expected")
            .unwrap_or_else(|| panic!("no list of known keys in: {errors}"))
            .1;
        let keys: Vec<&str> = known.split('\'').skip(1).step_by(2).collect();
        assert!(!keys.is_empty(), "no list of known keys in: {errors}");
        for key in keys {
            let documented = shown.lines().any(|line| {
                let line = line.trim_start_matches('[');
                line.starts_with(&format!("{key} "))
                    || line.starts_with(&format!("{key}]"))
                    || line.starts_with(&format!("{key}."))
            });
            assert!(
                documented,
                "README.md's manifest reference does not show the key '{key}'; add it"
            );
        }
    }
}
