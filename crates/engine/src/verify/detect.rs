//! The repository's own test command, found from the files at its root by the conventions of
//! each ecosystem: what a developer new to the repository would run first.

use std::path::Path;

use serde_json::Value;

/// The repository's test command and what it was found from: `cargo test` (Cargo.toml);
/// pytest where pytest is configured (`pytest.ini`, `conftest.py`, `[tool.pytest…]` in
/// `pyproject.toml`, `[pytest]` in `tox.ini`, `[tool:pytest]` in `setup.cfg`) or test files
/// are (`test_*.py`, `*_test.py` at the root or under `tests/`, two levels deep); the
/// `package.json` test script (not npm's "no test specified" placeholder) through the
/// package manager its lock file names; `go test ./...`; Maven and Gradle (through their
/// wrappers when the repository has them); RSpec or `rake test` (through Bundler with a
/// Gemfile); `mix test`; `dotnet test` (a solution or project file); `composer test` or
/// PHPUnit; `sbt test`; `swift test`; `dart test` or `flutter test` (a pubspec with a `test/`
/// directory); busted (Lua); `stack test` or `cabal test`; `zig build test`; `deno test`;
/// `lein test`; Julia's `Pkg.test()`; `rebar3 eunit`; a Makefile's `test` or `check` target.
pub fn detect_test_command(dir: &Path) -> Option<(String, &'static str)> {
    let has = |f: &str| dir.join(f).exists();
    let text = |f: &str| std::fs::read_to_string(dir.join(f)).unwrap_or_default();
    if has("Cargo.toml") {
        return Some(("cargo test".into(), "Cargo.toml"));
    }
    let pytest_configured = has("pytest.ini")
        || has("conftest.py")
        || text("pyproject.toml").contains("[tool.pytest")
        || text("tox.ini").contains("[pytest]")
        || text("setup.cfg").contains("[tool:pytest]");
    if pytest_configured || python_tests(dir, 0) {
        return Some(("python3 -m pytest -q".into(), "Python tests"));
    }
    if let Ok(v) = serde_json::from_str::<Value>(&text("package.json"))
        && let Some(script) = v["scripts"]["test"].as_str()
        && !script.contains("no test specified")
    {
        let runner = if has("pnpm-lock.yaml") {
            "pnpm test"
        } else if has("yarn.lock") {
            "yarn test"
        } else if has("bun.lockb") || has("bun.lock") {
            "bun run test"
        } else {
            "npm test"
        };
        return Some((runner.into(), "package.json"));
    }
    if has("go.mod") {
        return Some(("go test ./...".into(), "go.mod"));
    }
    if has("pom.xml") {
        let mvn = if has("mvnw") { "./mvnw" } else { "mvn" };
        return Some((format!("{mvn} -q test"), "pom.xml"));
    }
    // A multi-project build may have only its settings (and the wrapper) at the root.
    if ["build.gradle", "build.gradle.kts", "settings.gradle", "settings.gradle.kts", "gradlew"]
        .iter()
        .any(|f| has(f))
    {
        let gradle = if has("gradlew") { "./gradlew" } else { "gradle" };
        return Some((format!("{gradle} test"), "build.gradle"));
    }
    let bundle = if has("Gemfile") { "bundle exec " } else { "" };
    if dir.join("spec").is_dir() && (has(".rspec") || text("Gemfile").contains("rspec")) {
        return Some((format!("{bundle}rspec"), "spec/"));
    }
    if has("Rakefile") && dir.join("test").is_dir() {
        return Some((format!("{bundle}rake test"), "Rakefile"));
    }
    if has("mix.exs") {
        return Some(("mix test".into(), "mix.exs"));
    }
    // .NET: a solution or project file at the root.
    let dotnet = std::fs::read_dir(dir).into_iter().flatten().filter_map(Result::ok).any(|e| {
        let n = e.file_name().to_string_lossy().to_lowercase();
        n.ends_with(".sln") || n.ends_with(".csproj") || n.ends_with(".fsproj")
    });
    if dotnet {
        return Some(("dotnet test".into(), ".NET project"));
    }
    // PHP: Composer's test script, else PHPUnit's configuration.
    if let Ok(v) = serde_json::from_str::<Value>(&text("composer.json"))
        && v["scripts"]["test"].is_string()
    {
        return Some(("composer test".into(), "composer.json"));
    }
    if has("phpunit.xml") || has("phpunit.xml.dist") {
        return Some(("vendor/bin/phpunit".into(), "phpunit.xml"));
    }
    if let Some(found) = other_ecosystems(dir) {
        return Some(found);
    }
    let makefile = text("Makefile");
    for target in ["test", "check"] {
        if makefile.lines().any(|l| l.starts_with(&format!("{target}:"))) {
            return Some((format!("make {target}"), "Makefile"));
        }
    }
    None
}

/// Scala, Swift, Dart, Lua, Haskell, Zig, Deno, Clojure, Julia and Erlang projects, by the
/// file each ecosystem's build tool reads.
fn other_ecosystems(dir: &Path) -> Option<(String, &'static str)> {
    let has = |f: &str| dir.join(f).exists();
    let names: Vec<String> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .filter_map(Result::ok)
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    let any = |suffix: &str| names.iter().any(|n| n.ends_with(suffix));
    let found = |c: &str, from: &'static str| Some((c.to_owned(), from));
    if has("build.sbt") {
        return found("sbt test", "build.sbt");
    }
    if has("Package.swift") {
        return found("swift test", "Package.swift");
    }
    if has("pubspec.yaml") && dir.join("test").is_dir() {
        let pubspec = std::fs::read_to_string(dir.join("pubspec.yaml")).unwrap_or_default();
        // A Flutter app or package depends on the Flutter SDK: `sdk: flutter`.
        let flutter = pubspec.lines().any(|l| l.trim() == "sdk: flutter");
        return found(if flutter { "flutter test" } else { "dart test" }, "pubspec.yaml");
    }
    if has(".busted") || (dir.join("spec").is_dir() && any(".rockspec")) {
        return found("busted", ".busted");
    }
    if has("stack.yaml") {
        return found("stack test", "stack.yaml");
    }
    if any(".cabal") || has("cabal.project") {
        return found("cabal test", "cabal file");
    }
    if has("build.zig") {
        return found("zig build test", "build.zig");
    }
    if has("deno.json") || has("deno.jsonc") {
        return found("deno test", "deno.json");
    }
    if has("project.clj") {
        return found("lein test", "project.clj");
    }
    if has("Project.toml") && dir.join("test/runtests.jl").is_file() {
        return found("julia --project=. -e 'using Pkg; Pkg.test()'", "Project.toml");
    }
    if has("rebar.config") {
        return found("rebar3 eunit", "rebar.config");
    }
    None
}

/// Whether `command`'s program can run here: a path (`./gradlew`, `vendor/bin/phpunit`) that is
/// a file in `dir`, or a name found on `PATH`.
pub fn runnable(command: &str, dir: &Path) -> bool {
    let Some(program) = command.split_whitespace().next() else { return false };
    if program.contains('/') {
        return dir.join(program).is_file();
    }
    std::env::var_os("PATH")
        .is_some_and(|paths| std::env::split_paths(&paths).any(|p| p.join(program).is_file()))
}

/// Whether pytest would find tests here: a `test_*.py` or `*_test.py` at the root or in
/// `tests/` (or `test/`), two levels down.
fn python_tests(dir: &Path, depth: usize) -> bool {
    let Ok(entries) = std::fs::read_dir(dir) else { return false };
    entries.filter_map(Result::ok).any(|e| {
        let n = e.file_name().to_string_lossy().into_owned();
        let is_dir = e.file_type().is_ok_and(|t| t.is_dir());
        if is_dir {
            let descend = if depth == 0 { n == "tests" || n == "test" } else { depth < 2 };
            descend && !n.starts_with('.') && python_tests(&e.path(), depth + 1)
        } else {
            n.ends_with(".py") && (n.starts_with("test_") || n.ends_with("_test.py"))
        }
    })
}

#[cfg(test)]
mod tests {
    use super::{detect_test_command, runnable};

    #[test]
    fn a_command_runs_only_where_its_program_is() {
        let dir = l9_test_support::temp_dir();
        assert!(runnable("sh -c true", dir.path()), "on PATH");
        assert!(!runnable("no-such-program-l9 test", dir.path()));
        assert!(!runnable("./gradlew test", dir.path()), "no wrapper here");
        std::fs::write(dir.path().join("gradlew"), "#!/bin/sh\n").unwrap();
        assert!(runnable("./gradlew test", dir.path()));
        assert!(!runnable("", dir.path()));
    }

    type Case = (&'static [(&'static str, &'static str)], Option<&'static str>);

    #[test]
    fn the_repositorys_test_command_is_found_from_its_files() {
        let cases: &[Case] = &[
            (&[("Cargo.toml", "[package]")], Some("cargo test")),
            (&[("tests/test_todo.py", "def test_x(): pass")], Some("python3 -m pytest -q")),
            (&[("tests/unit/test_todo.py", "def test_x(): pass")], Some("python3 -m pytest -q")),
            (&[("pyproject.toml", "[tool.pytest.ini_options]\n")], Some("python3 -m pytest -q")),
            (&[("src/test_helpers.py", "x = 1")], None),
            (&[("package.json", r#"{"scripts": {"test": "jest"}}"#)], Some("npm test")),
            (
                &[("package.json", r#"{"scripts": {"test": "vitest"}}"#), ("pnpm-lock.yaml", "")],
                Some("pnpm test"),
            ),
            (
                &[("package.json", r#"{"scripts": {"test": "jest"}}"#), ("yarn.lock", "")],
                Some("yarn test"),
            ),
            (
                &[(
                    "package.json",
                    r#"{"scripts": {"test": "echo \"Error: no test specified\" && exit 1"}}"#,
                )],
                None,
            ),
            (&[("package.json", r#"{"scripts": {}}"#)], None),
            (&[("go.mod", "module x")], Some("go test ./...")),
            (&[("pom.xml", "<project/>")], Some("mvn -q test")),
            (&[("pom.xml", "<project/>"), ("mvnw", "#!/bin/sh")], Some("./mvnw -q test")),
            (&[("build.gradle.kts", ""), ("gradlew", "#!/bin/sh")], Some("./gradlew test")),
            (&[("settings.gradle", "include 'app'")], Some("gradle test")),
            (&[("Gemfile", "gem 'rspec'"), ("spec/a_spec.rb", "")], Some("bundle exec rspec")),
            (&[("Rakefile", ""), ("test/a_test.rb", "")], Some("rake test")),
            (&[("mix.exs", "")], Some("mix test")),
            (&[("Shop.sln", "")], Some("dotnet test")),
            (&[("composer.json", r#"{"scripts": {"test": "phpunit"}}"#)], Some("composer test")),
            (&[("phpunit.xml.dist", "<phpunit/>")], Some("vendor/bin/phpunit")),
            (&[("build.sbt", "scalaVersion := \"3.3.1\"")], Some("sbt test")),
            (&[("Package.swift", "// swift-tools-version:5.9")], Some("swift test")),
            (&[("pubspec.yaml", "name: shop\n"), ("test/cart_test.dart", "")], Some("dart test")),
            (
                &[
                    ("pubspec.yaml", "dependencies:\n  flutter:\n    sdk: flutter\n"),
                    ("test/widget_test.dart", ""),
                ],
                Some("flutter test"),
            ),
            (&[("pubspec.yaml", "name: shop\n")], None),
            (&[("shop-1.0-1.rockspec", ""), ("spec/cart_spec.lua", "")], Some("busted")),
            (&[(".busted", "return {}")], Some("busted")),
            (&[("stack.yaml", "resolver: lts-22.0")], Some("stack test")),
            (&[("shop.cabal", "name: shop")], Some("cabal test")),
            (&[("build.zig", "")], Some("zig build test")),
            (&[("deno.jsonc", "{}")], Some("deno test")),
            (&[("project.clj", "(defproject shop)")], Some("lein test")),
            (
                &[("Project.toml", "name = \"Shop\""), ("test/runtests.jl", "")],
                Some("julia --project=. -e 'using Pkg; Pkg.test()'"),
            ),
            (&[("Project.toml", "name = \"Shop\"")], None),
            (&[("rebar.config", "{deps, []}.")], Some("rebar3 eunit")),
            (&[("Makefile", "build:\n\ttrue\ntest:\n\ttrue\n")], Some("make test")),
            (&[("Makefile", "all:\n\ttrue\ncheck: all\n\ttrue\n")], Some("make check")),
            (&[("add.sh", "echo")], None),
        ];
        for (files, want) in cases {
            let dir = l9_test_support::temp_dir();
            for (f, text) in *files {
                let p = dir.path().join(f);
                std::fs::create_dir_all(p.parent().unwrap()).unwrap();
                std::fs::write(p, text).unwrap();
            }
            assert_eq!(detect_test_command(dir.path()).map(|c| c.0).as_deref(), *want, "{files:?}");
        }
    }
}
