//! `swirl new`: the app it writes, in each language, builds with its own
//! `build` command and answers as its README says.

use std::path::Path;

use swirl_tests::{run, swirl};

/// Creates an app named `demo` in `lang` under `dir`, then builds and calls
/// its function as the README's command does; `prepare` sees the app's
/// directory before the build.
fn new_app_answers(lang: &str, dir: &Path, prepare: impl FnOnce(&Path)) {
    let created = run(swirl(dir).args(["new", "demo", "--lang", lang]));
    assert_eq!(created.code, 0, "{}", created.stderr);
    prepare(&dir.join("demo"));
    let again = run(swirl(dir).args(["new", "demo", "--lang", lang]));
    assert_ne!(again.code, 0, "an existing directory is refused");
    assert!(again.stderr.contains("already exists"), "{}", again.stderr);

    let invoked = run(swirl(dir).args([
        "invoke",
        "--build",
        "demo/swirl.toml",
        "demo",
        "--input",
        r#"{"name":"World"}"#,
    ]));
    assert_eq!(invoked.code, 0, "{}", invoked.stderr);
    assert_eq!(invoked.stdout.trim(), r#"{"message":"Hello, World!"}"#);
    assert!(
        invoked.stderr.contains("[info] greeting World"),
        "{}",
        invoked.stderr
    );
    let valid = run(swirl(dir).args(["validate", "demo/swirl.toml"]));
    assert_eq!(valid.code, 0, "{}{}", valid.stdout, valid.stderr);
    let empty = run(swirl(dir).args([
        "invoke",
        "demo/swirl.toml",
        "demo",
        "--input",
        r#"{"name":" "}"#,
    ]));
    assert_eq!(empty.code, 1);
    assert!(
        empty
            .stderr
            .contains("EmptyName: the input's 'name' is empty"),
        "{}",
        empty.stderr
    );
}

#[test]
fn a_new_python_app_builds_and_answers() {
    let dir = tempfile::tempdir().unwrap();
    new_app_answers("python", dir.path(), |_| {});
}

#[test]
fn a_new_javascript_app_builds_and_answers() {
    let dir = tempfile::tempdir().unwrap();
    new_app_answers("javascript", dir.path(), |_| {});
}

#[test]
fn a_new_rust_app_builds_and_answers() {
    let dir = tempfile::tempdir().unwrap();
    new_app_answers("rust", dir.path(), |app| {
        // The app's cargo target lives on between runs, so that a rerun
        // does not build serde and wit-bindgen for wasm32 again.
        let target = swirl_tests::target_dir().join("new-app-rust");
        std::fs::create_dir_all(&target).unwrap();
        std::os::unix::fs::symlink(&target, app.join("target")).unwrap();
    });
}
