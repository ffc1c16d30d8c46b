//! The languages the code index reads, each a tree-sitter grammar with its tags query
//! (the `definition.*` / `reference.*` captures the grammar's authors ship), plus a few
//! patterns of our own where a grammar's query leaves common definitions out.

use std::sync::OnceLock;

use serde::{Deserialize, Serialize};
use tree_sitter::{Language, Query};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Lang {
    Rust,
    Python,
    JavaScript,
    TypeScript,
    Tsx,
    Go,
    Java,
    C,
    Cpp,
    Ruby,
    CSharp,
    Php,
    Kotlin,
    Swift,
    Scala,
    Elixir,
    Dart,
    Lua,
}

const RUST_EXTRA: &str = r#"
(const_item name: (identifier) @name) @definition.constant
(static_item name: (identifier) @name) @definition.constant
"#;

const TS_EXTRA: &str = r#"
(class_declaration name: (type_identifier) @name) @definition.class
(type_alias_declaration name: (type_identifier) @name) @definition.type
(enum_declaration name: (identifier) @name) @definition.enum
"#;

const JAVA_EXTRA: &str = r#"
(enum_declaration name: (identifier) @name) @definition.enum
(record_declaration name: (identifier) @name) @definition.class
"#;

/// C and C++: a function definition is the whole function, not only its declarator (which
/// the grammars' queries capture, so a definition would end on its first line and read
/// without its return type). Put before the grammar's patterns: the earlier pattern wins.
const C_FIRST: &str = r#"
(function_definition declarator: (function_declarator declarator: (identifier) @name)) @definition.function
(function_definition declarator: (pointer_declarator declarator: (function_declarator declarator: (identifier) @name))) @definition.function
"#;

const CPP_FIRST: &str = r#"
(function_definition declarator: (function_declarator declarator: (field_identifier) @name)) @definition.method
(function_definition declarator: (function_declarator declarator: (qualified_identifier name: (identifier) @name))) @definition.method
(function_definition declarator: (function_declarator declarator: (qualified_identifier name: (qualified_identifier name: (identifier) @name)))) @definition.method
(function_definition declarator: (reference_declarator (function_declarator declarator: (identifier) @name))) @definition.function
(namespace_definition name: (namespace_identifier) @name) @definition.module
"#;

const CSHARP_EXTRA: &str = r#"
(struct_declaration name: (identifier) @name) @definition.class
(record_declaration name: (identifier) @name) @definition.class
(enum_declaration name: (identifier) @name) @definition.enum
(file_scoped_namespace_declaration name: (identifier) @name) @definition.module
"#;

/// Kotlin's grammar ships no tags query: ours.
const KOTLIN_TAGS: &str = r#"
(class_declaration name: (_) @name) @definition.class
(object_declaration name: (_) @name) @definition.class
(function_declaration name: (_) @name) @definition.function
"#;

/// Swift: a method is its own declaration (the grammar's query captures the whole class as
/// each method's definition). Put before the grammar's patterns: the earlier pattern wins.
const SWIFT_FIRST: &str = r#"
(class_body (function_declaration name: (simple_identifier) @name) @definition.method)
(protocol_body (protocol_function_declaration name: (simple_identifier) @name) @definition.method)
(function_declaration name: (simple_identifier) @name) @definition.function
"#;

/// Scala's grammar ships no tags query: ours.
const SCALA_TAGS: &str = r#"
(class_definition name: (_) @name) @definition.class
(object_definition name: (_) @name) @definition.class
(trait_definition name: (_) @name) @definition.interface
(enum_definition name: (_) @name) @definition.enum
(template_body (function_definition name: (_) @name) @definition.method)
(function_definition name: (_) @name) @definition.function
(type_definition name: (_) @name) @definition.type
"#;

/// Dart: a method is its declaration with its body (the grammar's query captures only the
/// signature, so a method would end on its first line). Before the grammar's patterns.
const DART_FIRST: &str = r#"
(method_declaration signature: (method_signature (function_signature name: (identifier) @name))) @definition.method
(method_declaration signature: (method_signature (getter_signature name: (identifier) @name))) @definition.method
(method_declaration signature: (method_signature (setter_signature name: (identifier) @name))) @definition.method
(method_declaration signature: (method_signature (constructor_signature name: (identifier) @name))) @definition.method
(method_declaration signature: (method_signature (factory_constructor_signature name: (identifier) @name))) @definition.method
"#;

/// Elixir: structs' and protocol implementations' modules (the grammar's query names
/// `defmodule` and `defprotocol` only).
const ELIXIR_EXTRA: &str = r#"
(call
  target: (identifier) @ignore
  (arguments (alias) @name)
  (#eq? @ignore "defimpl")) @definition.module
"#;

/// Lua: a function in a table constructor is its field (the grammar's query captures the whole
/// table, so each such function would read as the table's `{`). Before the grammar's patterns.
const LUA_FIRST: &str = r#"
(field name: (identifier) @name value: (function_definition)) @definition.function
"#;

impl Lang {
    pub const ALL: [Lang; 18] = [
        Lang::Rust,
        Lang::Python,
        Lang::JavaScript,
        Lang::TypeScript,
        Lang::Tsx,
        Lang::Go,
        Lang::Java,
        Lang::C,
        Lang::Cpp,
        Lang::Ruby,
        Lang::CSharp,
        Lang::Php,
        Lang::Kotlin,
        Lang::Swift,
        Lang::Scala,
        Lang::Elixir,
        Lang::Dart,
        Lang::Lua,
    ];

    /// The language of a file, by its extension.
    pub fn of_path(path: &str) -> Option<Lang> {
        let ext = path.rsplit_once('.')?.1;
        Some(match ext {
            "rs" => Lang::Rust,
            "py" | "pyi" => Lang::Python,
            "js" | "jsx" | "mjs" | "cjs" => Lang::JavaScript,
            "ts" | "mts" | "cts" => Lang::TypeScript,
            "tsx" => Lang::Tsx,
            "go" => Lang::Go,
            "java" => Lang::Java,
            // A header is read as C: the C grammar reads C++ headers' declarations too.
            "c" | "h" => Lang::C,
            "cc" | "cpp" | "cxx" | "c++" | "hh" | "hpp" | "hxx" | "h++" => Lang::Cpp,
            "rb" | "rake" => Lang::Ruby,
            "cs" => Lang::CSharp,
            "php" => Lang::Php,
            "kt" | "kts" => Lang::Kotlin,
            "swift" => Lang::Swift,
            "scala" | "sc" => Lang::Scala,
            "ex" | "exs" => Lang::Elixir,
            "dart" => Lang::Dart,
            "lua" => Lang::Lua,
            _ => return None,
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            Lang::Rust => "rust",
            Lang::Python => "python",
            Lang::JavaScript => "javascript",
            Lang::TypeScript => "typescript",
            Lang::Tsx => "tsx",
            Lang::Go => "go",
            Lang::Java => "java",
            Lang::C => "c",
            Lang::Cpp => "cpp",
            Lang::Ruby => "ruby",
            Lang::CSharp => "csharp",
            Lang::Php => "php",
            Lang::Kotlin => "kotlin",
            Lang::Swift => "swift",
            Lang::Scala => "scala",
            Lang::Elixir => "elixir",
            Lang::Dart => "dart",
            Lang::Lua => "lua",
        }
    }

    pub(crate) fn language(self) -> Language {
        match self {
            Lang::Rust => tree_sitter_rust::LANGUAGE.into(),
            Lang::Python => tree_sitter_python::LANGUAGE.into(),
            Lang::JavaScript => tree_sitter_javascript::LANGUAGE.into(),
            Lang::TypeScript => tree_sitter_typescript::LANGUAGE_TYPESCRIPT.into(),
            Lang::Tsx => tree_sitter_typescript::LANGUAGE_TSX.into(),
            Lang::Go => tree_sitter_go::LANGUAGE.into(),
            Lang::Java => tree_sitter_java::LANGUAGE.into(),
            Lang::C => tree_sitter_c::LANGUAGE.into(),
            Lang::Cpp => tree_sitter_cpp::LANGUAGE.into(),
            Lang::Ruby => tree_sitter_ruby::LANGUAGE.into(),
            Lang::CSharp => tree_sitter_c_sharp::LANGUAGE.into(),
            Lang::Php => tree_sitter_php::LANGUAGE_PHP.into(),
            Lang::Kotlin => tree_sitter_kotlin_ng::LANGUAGE.into(),
            Lang::Swift => tree_sitter_swift::LANGUAGE.into(),
            Lang::Scala => tree_sitter_scala::LANGUAGE.into(),
            Lang::Elixir => tree_sitter_elixir::LANGUAGE.into(),
            Lang::Dart => tree_sitter_dart::LANGUAGE.into(),
            Lang::Lua => tree_sitter_lua::LANGUAGE.into(),
        }
    }

    fn tags(self) -> String {
        match self {
            Lang::Rust => format!("{}\n{RUST_EXTRA}", tree_sitter_rust::TAGS_QUERY),
            Lang::Python => tree_sitter_python::TAGS_QUERY.to_owned(),
            Lang::JavaScript => tree_sitter_javascript::TAGS_QUERY.to_owned(),
            // TypeScript's own query only adds to JavaScript's (its grammar extends it).
            Lang::TypeScript | Lang::Tsx => format!(
                "{}\n{}\n{TS_EXTRA}",
                tree_sitter_javascript::TAGS_QUERY,
                tree_sitter_typescript::TAGS_QUERY
            ),
            Lang::Go => tree_sitter_go::TAGS_QUERY.to_owned(),
            Lang::Java => format!("{}\n{JAVA_EXTRA}", tree_sitter_java::TAGS_QUERY),
            Lang::C => format!("{C_FIRST}\n{}", tree_sitter_c::TAGS_QUERY),
            Lang::Cpp => format!("{CPP_FIRST}\n{C_FIRST}\n{}", tree_sitter_cpp::TAGS_QUERY),
            Lang::Ruby => tree_sitter_ruby::TAGS_QUERY.to_owned(),
            Lang::CSharp => format!("{}\n{CSHARP_EXTRA}", tree_sitter_c_sharp::TAGS_QUERY),
            Lang::Php => tree_sitter_php::TAGS_QUERY.to_owned(),
            Lang::Kotlin => KOTLIN_TAGS.to_owned(),
            Lang::Swift => format!("{SWIFT_FIRST}\n{}", tree_sitter_swift::TAGS_QUERY),
            Lang::Scala => SCALA_TAGS.to_owned(),
            Lang::Elixir => format!("{}\n{ELIXIR_EXTRA}", tree_sitter_elixir::TAGS_QUERY),
            Lang::Dart => format!("{DART_FIRST}\n{}", tree_sitter_dart::TAGS_QUERY),
            Lang::Lua => format!("{LUA_FIRST}\n{}", tree_sitter_lua::TAGS_QUERY),
        }
    }

    /// The compiled tags query (once per process). An error is a defect of the bundled
    /// queries, reported rather than raised.
    pub(crate) fn query(self) -> Result<&'static Query, String> {
        static QUERIES: [OnceLock<Result<Query, String>>; Lang::ALL.len()] =
            [const { OnceLock::new() }; Lang::ALL.len()];
        let i = Lang::ALL.iter().position(|l| *l == self).unwrap_or(0);
        QUERIES[i]
            .get_or_init(|| {
                Query::new(&self.language(), &self.tags())
                    .map_err(|e| format!("the {} tags query does not compile: {e}", self.name()))
            })
            .as_ref()
            .map_err(Clone::clone)
    }
}
