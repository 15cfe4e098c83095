//! `swirl new`: starts an app in a new directory, with one function in
//! Rust, Python or JavaScript, a workflow that calls it, and a README.
//!
//! The app carries a copy of the guest SDK and the WIT world it builds
//! against (`sdk/`), so it builds wherever swirl runs, without swirl's
//! source tree. What the files hold is a pure function of the name and the
//! language ([`scaffold`]); writing them is [`run`]'s.

use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};

use super::Outcome;

/// Start an app: a function in Rust, Python or JavaScript and a workflow
///
/// Creates the directory NAME holding `swirl.toml` (the function with its
/// `build` command and limits), the function in `functions/NAME/`, a
/// one-state workflow `NAME.json` that calls it for every `NAME.requested`
/// event, a README with the commands to build, invoke and serve it, and
/// the guest SDK in `sdk/`. Python and JavaScript builds install their
/// toolchain (componentize-py, componentize-js), pinned, into
/// ~/.cache/swirl/toolchains on first use; they need python3, or node and
/// npm.
///
/// Example: swirl new hello --lang python
#[derive(clap::Args)]
pub struct Args {
    /// The app's name, also its directory's and its function's: lower-case
    /// letters, digits and hyphens, starting with a letter
    #[arg(value_name = "NAME")]
    name: String,
    /// The function's language
    #[arg(long, value_enum, default_value = "rust")]
    lang: Lang,
    /// Where to create the app's directory
    #[arg(long, value_name = "DIR", default_value = ".")]
    dir: PathBuf,
}

/// A language `swirl new` writes a function in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Lang {
    Rust,
    Python,
    #[value(alias = "js")]
    Javascript,
}

pub fn run(args: Args) -> anyhow::Result<Outcome> {
    check_name(&args.name)?;
    let root = args.dir.join(&args.name);
    if root.exists() {
        bail!(
            "{} already exists; choose another name or --dir",
            root.display()
        );
    }
    for (path, text) in scaffold(&args.name, args.lang) {
        let path = root.join(path);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("cannot create {}", parent.display()))?;
        }
        std::fs::write(&path, text).with_context(|| format!("cannot write {}", path.display()))?;
    }
    eprintln!(
        "created {}: build and call it with\n  swirl invoke --build {} {} --input '{{\"name\":\"World\"}}'",
        root.display(),
        root.join("swirl.toml").display(),
        args.name
    );
    Ok(Outcome::Success)
}

fn check_name(name: &str) -> anyhow::Result<()> {
    let mut chars = name.chars();
    let valid = chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !name.ends_with('-')
        && name.len() <= 40;
    if !valid {
        bail!(
            "'{name}' cannot name an app: use lower-case letters, digits and hyphens, starting with a letter, at most 40 characters"
        );
    }
    Ok(())
}

const WIT: &str = include_str!("../../../../wit/function.wit");

/// The files of a new app, by path relative to its directory.
pub fn scaffold(name: &str, lang: Lang) -> Vec<(PathBuf, String)> {
    let function = Path::new("functions").join(name);
    let (language, file, toolchain) = match lang {
        Lang::Rust => (
            "Rust",
            "src/lib.rs",
            "The function is a Rust crate built for `wasm32-wasip2` (`rustup target add wasm32-wasip2`).",
        ),
        Lang::Python => (
            "Python",
            "app.py",
            "The function is built with componentize-py, which the first build installs, pinned, into `~/.cache/swirl/toolchains` (it needs `python3` with `venv`); `sdk/python/README.md` tells what the `swirl` module offers.",
        ),
        Lang::Javascript => (
            "JavaScript",
            "index.js",
            "The function is built with componentize-js, which the first build installs, pinned, into `~/.cache/swirl/toolchains` (it needs Node 18 or later with `npm`); `sdk/js/README.md` tells what the `swirl` module offers, `sdk/js/swirl.d.ts` declares it for TypeScript.",
        ),
    };
    let wasm = format!("target/{name}.wasm");
    let (source, build, memory) = match lang {
        Lang::Rust => (
            format!(
                "target/wasm32-wasip2/release/{}.wasm",
                name.replace('-', "_")
            ),
            "cargo build --target wasm32-wasip2 --release".to_string(),
            "64MiB",
        ),
        Lang::Python => (
            wasm.clone(),
            format!("sh sdk/python/build.sh functions/{name} {wasm}"),
            "128MiB",
        ),
        Lang::Javascript => (
            wasm.clone(),
            format!("sh sdk/js/build.sh functions/{name}/index.js {wasm}"),
            "128MiB",
        ),
    };
    let fill = |template: &str| {
        template
            .replace("{name}", name)
            .replace("{language}", language)
            .replace("{file}", file)
            .replace("{toolchain}", toolchain)
            .replace("{source}", &source)
            .replace("{build}", &build)
            .replace("{memory}", memory)
    };
    let mut files = vec![
        (
            PathBuf::from("swirl.toml"),
            fill(include_str!("../../templates/swirl.toml")),
        ),
        (
            PathBuf::from(format!("{name}.json")),
            fill(include_str!("../../templates/workflow.json")),
        ),
        (
            PathBuf::from("README.md"),
            fill(include_str!("../../templates/README.md")),
        ),
        (
            PathBuf::from(".gitignore"),
            include_str!("../../templates/gitignore").to_string(),
        ),
        (PathBuf::from("sdk/wit/function.wit"), WIT.to_string()),
    ];
    let sdk: &[(&str, &str)] = match lang {
        Lang::Rust => {
            files.extend([
                (
                    PathBuf::from("Cargo.toml"),
                    fill(include_str!("../../templates/Cargo.toml")),
                ),
                (
                    function.join("Cargo.toml"),
                    fill(include_str!("../../templates/function-Cargo.toml")),
                ),
                (
                    function.join("src/lib.rs"),
                    // The hello example's function: the same greeter.
                    include_str!("../../../../examples/hello/functions/greet/src/lib.rs")
                        .to_string(),
                ),
            ]);
            &[
                (
                    "rust/Cargo.toml",
                    include_str!("../../templates/sdk-Cargo.toml"),
                ),
                (
                    "rust/src/lib.rs",
                    include_str!("../../../../guest-sdk/src/lib.rs"),
                ),
            ]
        }
        Lang::Python => {
            files.push((
                function.join("app.py"),
                include_str!("../../templates/app.py").to_string(),
            ));
            &[
                (
                    "python/swirl/__init__.py",
                    include_str!("../../../../guest-sdk/python/swirl/__init__.py"),
                ),
                (
                    "python/build.sh",
                    include_str!("../../../../guest-sdk/python/build.sh"),
                ),
                (
                    "python/README.md",
                    include_str!("../../../../guest-sdk/python/README.md"),
                ),
            ]
        }
        Lang::Javascript => {
            files.push((
                function.join("index.js"),
                include_str!("../../templates/index.js").to_string(),
            ));
            &[
                (
                    "js/swirl.js",
                    include_str!("../../../../guest-sdk/js/swirl.js"),
                ),
                (
                    "js/entry.js",
                    include_str!("../../../../guest-sdk/js/entry.js"),
                ),
                (
                    "js/build.mjs",
                    include_str!("../../../../guest-sdk/js/build.mjs"),
                ),
                (
                    "js/build.sh",
                    include_str!("../../../../guest-sdk/js/build.sh"),
                ),
                (
                    "js/swirl.d.ts",
                    include_str!("../../../../guest-sdk/js/swirl.d.ts"),
                ),
                (
                    "js/README.md",
                    include_str!("../../../../guest-sdk/js/README.md"),
                ),
            ]
        }
    };
    files.extend(
        sdk.iter()
            .map(|(path, text)| (Path::new("sdk").join(path), (*text).to_string())),
    );
    files
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_lower_case_words_joined_by_hyphens() {
        for good in ["hello", "order-2", "a"] {
            assert!(check_name(good).is_ok(), "{good}");
        }
        for bad in ["", "Hello", "2go", "a_b", "end-", "../x", "a b"] {
            assert!(check_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn every_placeholder_is_filled() {
        for lang in [Lang::Rust, Lang::Python, Lang::Javascript] {
            let files = scaffold("demo", lang);
            // The templates; the function's and the SDK's sources are copied as they are.
            let filled = |path: &Path| {
                !path.starts_with("sdk")
                    && ["swirl.toml", "README.md", "demo.json", "Cargo.toml"]
                        .iter()
                        .any(|name| path.ends_with(name))
            };
            for (path, text) in files.iter().filter(|(path, _)| filled(path)) {
                for placeholder in ["{name}", "{source}", "{build}", "{memory}", "{toolchain}"] {
                    assert!(
                        !text.contains(placeholder),
                        "{} keeps {placeholder}",
                        path.display()
                    );
                }
            }
        }
    }
}
