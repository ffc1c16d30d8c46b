#![no_main]
//! `.l9/l9.toml` as `Config::parse` reads it (`l9-config`): any text gives a configuration or
//! an error that names the file, without a panic; a configuration that reads lists every
//! setting in force, and its schedules are runnable.

use std::path::Path;

use l9_config::{Config, ConfigError, KEYS};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    // A root that does not exist: a password file the text names cannot be read.
    let root = Path::new("/nonexistent-l9-fuzz");
    let path = root.join(".l9/l9.toml");
    match Config::parse(root, &path, Some(text), &|_| None) {
        Ok(c) => {
            assert!(c.settings.len() >= KEYS.len(), "a setting in force is not listed");
            assert!((1..=16_000).contains(&c.dims));
            for s in &c.schedules {
                assert!(s.schedule().is_ok(), "a schedule read but cannot run");
            }
            for name in c.models.providers.keys() {
                let _ = c.models.resolve(Some(name), "coder");
            }
        }
        Err(ConfigError::Invalid(m)) => {
            assert!(m.contains("l9.toml") || m.contains("environment"), "an error names no file: {m}");
        }
        Err(ConfigError::Io { .. }) => panic!("parse read a file it was not given"),
    }
});
