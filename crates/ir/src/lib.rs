//! `l9-ir` — the IR Engine (tier T1, pure).
//!
//! This crate will hold the semantic compiler that turns spec text (Markdown with RFC 2119
//! keywords, Gherkin, OpenAPI 3.x, RFC-style text, plain prose) into the typed IR graph
//! (goals, requirements, constraints, components, interfaces, acceptance criteria,
//! assumptions, questions, risks and the edges between them), the constraint challenger
//! (requirement smells, numeric conflicts, missing acceptance criteria, hidden constraints
//! handed in by the caller), the validator with stable rule codes, the deliberation cell
//! protocol, and the plan adapter that derives plan candidates from an IR.
//!
//! What it is not: it does no IO. Callers hand it text and get `(Ir, Vec<Diagnostic>)`
//! back; parsing never fails and never panics. Nothing is implemented here yet: the
//! compiler lands with the IR Engine issue.
