//! Gherkin's keywords in each spoken language (`# language: de` → `Funktionalität:`,
//! `Szenario:`, `Angenommen`…), from the Cucumber project's own list
//! (`data/gherkin-languages.json`, see `data/README.md`).

use std::collections::HashMap;
use std::sync::LazyLock;

use serde::Deserialize;

/// One language's keywords, as the list writes them: block keywords without their `:`, step
/// keywords with the space that follows them (none in languages written without spaces).
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct Dialect {
    pub(crate) feature: Vec<String>,
    pub(crate) rule: Vec<String>,
    pub(crate) background: Vec<String>,
    pub(crate) scenario: Vec<String>,
    #[serde(rename = "scenarioOutline")]
    pub(crate) scenario_outline: Vec<String>,
    pub(crate) examples: Vec<String>,
    pub(crate) given: Vec<String>,
    pub(crate) when: Vec<String>,
    pub(crate) then: Vec<String>,
    pub(crate) and: Vec<String>,
    pub(crate) but: Vec<String>,
}

static LANGUAGES: LazyLock<HashMap<String, Dialect>> = LazyLock::new(|| {
    serde_json::from_str(include_str!("../../data/gherkin-languages.json")).unwrap_or_default()
});

/// The keywords of language `code` (`en`, `de`, `pt-BR`…), or `None` for a code the list
/// does not hold.
pub(crate) fn of(code: &str) -> Option<&'static Dialect> {
    LANGUAGES.get(code)
}

/// English, which a file without a `# language:` line is written in.
pub(crate) fn english() -> &'static Dialect {
    static EN: LazyLock<Dialect> = LazyLock::new(|| Dialect {
        feature: vec!["Feature".into(), "Business Need".into(), "Ability".into()],
        rule: vec!["Rule".into()],
        background: vec!["Background".into()],
        scenario: vec!["Example".into(), "Scenario".into()],
        scenario_outline: vec!["Scenario Outline".into(), "Scenario Template".into()],
        examples: vec!["Examples".into(), "Scenarios".into()],
        given: vec!["* ".into(), "Given ".into()],
        when: vec!["* ".into(), "When ".into()],
        then: vec!["* ".into(), "Then ".into()],
        and: vec!["* ".into(), "And ".into()],
        but: vec!["* ".into(), "But ".into()],
    });
    of("en").unwrap_or(&EN)
}

impl Dialect {
    /// The name after a block keyword and its `:` (`Szenario: Anmeldung` → `Anmeldung`).
    pub(crate) fn block<'t>(keywords: &[String], t: &'t str) -> Option<&'t str> {
        keywords
            .iter()
            .filter_map(|k| t.strip_prefix(k.as_str())?.strip_prefix(':'))
            .next()
            .map(str::trim)
    }

    /// A step line: its keyword in English (`Given`, `When`, `Then`, `And`, `But`, `*`) and
    /// its text. The longest keyword that opens the line wins (`Gegeben seien ` over
    /// `Gegeben sei `).
    pub(crate) fn step<'t>(&self, t: &'t str) -> Option<(&'static str, &'t str)> {
        let kinds: [(&'static str, &Vec<String>); 5] = [
            ("Given", &self.given),
            ("When", &self.when),
            ("Then", &self.then),
            ("And", &self.and),
            ("But", &self.but),
        ];
        let mut best: Option<(usize, &'static str, &'t str)> = None;
        for (kind, words) in kinds {
            for k in words {
                let Some(rest) = t.strip_prefix(k.as_str()) else { continue };
                let kind = if k.trim() == "*" { "*" } else { kind };
                if best.is_none_or(|b| k.len() > b.0) {
                    best = Some((k.len(), kind, rest));
                }
            }
        }
        best.map(|(_, kind, rest)| (kind, rest.trim())).filter(|(_, rest)| !rest.is_empty())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_list_holds_english_and_german() {
        assert!(of("en").is_some());
        let de = of("de").expect("German");
        assert!(de.feature.iter().any(|k| k == "Funktionalität"));
        assert_eq!(de.step("Gegeben seien zwei Nutzer"), Some(("Given", "zwei Nutzer")));
        assert_eq!(english().step("* a note"), Some(("*", "a note")));
        assert_eq!(english().step("Givenness matters"), None);
        assert!(LANGUAGES.len() >= 70, "{}", LANGUAGES.len());
    }
}
