//! Runs every configuration in tests/invalid/ and compares the refusal with the
//! `.expected` file beside it, line for line. Paths in messages are as the test
//! passes them: `tests/invalid/NAME.toml` (cargo runs tests from the crate root).
//!
//! To add a case, write `NAME.toml` and its `NAME.expected`; running the test
//! with `BULKHEAD_BLESS=1` writes the `.expected` files from the current
//! messages, to be read and checked by a person before committing.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::fs;
use std::path::{Path, PathBuf};

/// The corpus directory, relative to the crate root.
const CORPUS: &str = "tests/invalid";

/// The corpus must keep covering at least this many distinct refusals.
const MIN_CASES: usize = 24;

fn corpus() -> Vec<PathBuf> {
    let mut configs: Vec<PathBuf> = fs::read_dir(CORPUS)
        .expect("the invalid-config corpus is readable")
        .map(|entry| entry.expect("corpus entry").path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "toml"))
        .map(|path| Path::new(CORPUS).join(path.file_name().expect("file name")))
        .collect();
    configs.sort();
    configs
}

#[test]
fn every_invalid_config_is_refused_with_its_expected_message() {
    let bless = std::env::var_os("BULKHEAD_BLESS").is_some();
    let configs = corpus();
    assert!(
        configs.len() >= MIN_CASES,
        "only {} invalid configs in {CORPUS}",
        configs.len()
    );
    let mut failures = Vec::new();
    for config in &configs {
        let expected_path = config.with_extension("expected");
        let actual = match bulkhead_config::load(config) {
            Ok(_) => "<accepted>".to_string(),
            Err(error) => error.to_string(),
        };
        if bless {
            fs::write(&expected_path, format!("{actual}\n")).expect("write .expected");
            continue;
        }
        let expected = fs::read_to_string(&expected_path)
            .unwrap_or_else(|_| panic!("{} has no .expected file", config.display()));
        if actual != expected.trim_end_matches('\n') {
            failures.push(format!(
                "{}:\n  expected: {}\n  actual:   {}",
                config.display(),
                expected.trim_end().replace('\n', "\n            "),
                actual.replace('\n', "\n            ")
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn every_expected_file_has_a_config() {
    for entry in fs::read_dir(CORPUS).expect("corpus") {
        let path = entry.expect("corpus entry").path();
        if path.extension().is_some_and(|ext| ext == "expected") {
            assert!(
                path.with_extension("toml").is_file(),
                "{} has no config",
                path.display()
            );
        }
    }
}

#[test]
fn every_message_names_the_file_and_the_same_text_comes_from_parse_str() {
    for config in corpus() {
        let text = fs::read_to_string(&config).expect("config");
        let from_file = bulkhead_config::load(&config).expect_err("refused");
        let from_text = bulkhead_config::parse_str(&config, &text).expect_err("refused");
        assert_eq!(from_file, from_text);
        for diagnostic in from_file.diagnostics() {
            assert_eq!(diagnostic.path, config);
            assert!(!diagnostic.message.is_empty());
        }
    }
}
