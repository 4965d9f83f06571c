//! Enabling Debian backports in APT's sources by deriving the backports entry
//! from the distribution's own entry, so the machine keeps using whatever mirror
//! it is already configured for (we never write a mirror name ourselves).
//!
//! Both source formats of sources.list(5) are handled: deb822 stanzas
//! (`*.sources`, Debian 12's default `debian.sources`) and legacy one-line
//! entries (`sources.list`, `*.list`). Every function here is pure text in,
//! text out, so the derivation is unit-tested without touching the system.

use std::path::Path;

/// Which of APT's two source-file formats a file uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SourcesFormat {
    /// deb822 stanzas of `Field: value` lines, separated by blank lines.
    Deb822,
    /// One `deb [options] uri suite component...` entry per line.
    OneLine,
}

impl SourcesFormat {
    /// The format APT assumes from a file's extension (sources.list(5)), or
    /// `None` for files APT ignores.
    pub fn of_path(path: &Path) -> Option<Self> {
        match path.extension().and_then(|e| e.to_str()) {
            Some("sources") => Some(Self::Deb822),
            Some("list") => Some(Self::OneLine),
            _ => None,
        }
    }
}

/// What enabling backports in one file takes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BackportsEdit {
    /// An enabled entry already names the backports suite: nothing to do.
    AlreadyEnabled,
    /// The file has no enabled `deb` entry for the distribution's main suite to
    /// derive from.
    NoBaseEntry,
    /// The file needs this change.
    Change(SourcesChange),
}

/// A derived change to a sources file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SourcesChange {
    /// The complete new file contents.
    pub new_text: String,
    /// The single line-level change, for showing it or doing it by hand.
    pub line_change: LineChange,
}

/// The single line-level change that enables backports.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LineChange {
    /// deb822: the distribution's `Suites:` line gains the backports suite.
    Replace {
        /// The line as it is.
        old: String,
        /// The line as it becomes.
        new: String,
    },
    /// One-line format: a copy of the distribution's entry with the backports
    /// suite, placed right after it.
    Insert {
        /// The added entry.
        line: String,
    },
}

impl LineChange {
    /// A shell command that makes this change to the file at `path`, for a
    /// user who has to run it as root themselves.
    pub fn shell_command(&self, path: &Path) -> String {
        let file = shell_quote(&path.display().to_string());
        match self {
            Self::Replace { old, new } => {
                let script = format!(
                    "s/^{}$/{}/",
                    sed_escape_pattern(old),
                    sed_escape_replacement(new)
                );
                format!("sed -i {} {file}", shell_quote(&script))
            }
            Self::Insert { line } => format!("printf '%s\\n' {} >> {file}", shell_quote(line)),
        }
    }
}

/// The name of a release's backports suite.
pub fn backports_suite(codename: &str) -> String {
    format!("{codename}-backports")
}

/// Works out how to enable `<codename>-backports` in a sources file.
pub fn enable_backports(text: &str, format: SourcesFormat, codename: &str) -> BackportsEdit {
    match format {
        SourcesFormat::Deb822 => enable_in_deb822(text, codename),
        SourcesFormat::OneLine => enable_in_one_line(text, codename),
    }
}

/// The line without its terminator (`\n` or `\r\n`).
fn without_newline(line: &str) -> &str {
    line.trim_end_matches(['\n', '\r'])
}

/// The line's terminator, empty on a last line that has none.
fn newline_of(line: &str) -> &str {
    &line[without_newline(line).len()..]
}

/// One field of a deb822 stanza: lower-cased name, value (continuation lines
/// joined) and the index of the line the field starts on.
struct Deb822Field {
    name: String,
    value: String,
    line: usize,
}

/// Splits deb822 text (as lines) into stanzas of fields. Comment lines are
/// skipped; lines starting with whitespace continue the previous field.
fn deb822_stanzas(lines: &[&str]) -> Vec<Vec<Deb822Field>> {
    let mut stanzas = Vec::new();
    let mut current: Vec<Deb822Field> = Vec::new();
    for (index, raw) in lines.iter().enumerate() {
        let line = without_newline(raw);
        if line.trim().is_empty() {
            if !current.is_empty() {
                stanzas.push(std::mem::take(&mut current));
            }
        } else if line.starts_with('#') {
            continue;
        } else if line.starts_with([' ', '\t']) {
            if let Some(field) = current.last_mut() {
                field.value.push(' ');
                field.value.push_str(line.trim());
            }
        } else if let Some((name, value)) = line.split_once(':') {
            current.push(Deb822Field {
                name: name.trim().to_ascii_lowercase(),
                value: value.trim().to_string(),
                line: index,
            });
        }
    }
    if !current.is_empty() {
        stanzas.push(current);
    }
    stanzas
}

fn enable_in_deb822(text: &str, codename: &str) -> BackportsEdit {
    let backports = backports_suite(codename);
    let lines: Vec<&str> = text.split_inclusive('\n').collect();
    let mut base_line = None;
    for stanza in deb822_stanzas(&lines) {
        let field = |name: &str| stanza.iter().find(|f| f.name == name);
        let has_deb =
            field("types").is_some_and(|f| f.value.split_whitespace().any(|t| t == "deb"));
        // sources.list(5): `Enabled: no` switches a stanza off.
        let enabled = field("enabled").is_none_or(|f| !f.value.eq_ignore_ascii_case("no"));
        let Some(suites) = field("suites") else {
            continue;
        };
        if !has_deb || !enabled {
            continue;
        }
        let mut tokens = suites.value.split_whitespace();
        if tokens.clone().any(|t| t == backports) {
            return BackportsEdit::AlreadyEnabled;
        }
        if base_line.is_none() && tokens.any(|t| t == codename) {
            base_line = Some(suites.line);
        }
    }
    let Some(index) = base_line else {
        return BackportsEdit::NoBaseEntry;
    };
    let mut new_text = String::with_capacity(text.len() + backports.len() + 1);
    let mut line_change = None;
    for (i, raw) in lines.iter().enumerate() {
        if i == index {
            let old = without_newline(raw);
            let new = format!("{} {backports}", old.trim_end());
            new_text.push_str(&new);
            new_text.push_str(newline_of(raw));
            line_change = Some(LineChange::Replace {
                old: old.to_string(),
                new,
            });
        } else {
            new_text.push_str(raw);
        }
    }
    match line_change {
        Some(line_change) => BackportsEdit::Change(SourcesChange {
            new_text,
            line_change,
        }),
        None => BackportsEdit::NoBaseEntry,
    }
}

/// A one-line `deb` entry, borrowing its parts from the line.
struct OneLineEntry<'a> {
    /// The `[key=value ...]` block, brackets included, if any.
    options: Option<&'a str>,
    uri: &'a str,
    suite: &'a str,
    components: Vec<&'a str>,
}

/// Parses a binary-package (`deb`) entry; comments, blank lines, `deb-src`
/// and malformed lines give `None`.
fn parse_one_line(line: &str) -> Option<OneLineEntry<'_>> {
    let line = line.split('#').next()?.trim();
    let rest = line.strip_prefix("deb")?;
    if !rest.starts_with([' ', '\t']) {
        return None;
    }
    let mut rest = rest.trim_start();
    let mut options = None;
    if rest.starts_with('[') {
        let close = rest.find(']')?;
        options = Some(&rest[..=close]);
        rest = &rest[close + 1..];
    }
    let mut words = rest.split_whitespace();
    let uri = words.next()?;
    let suite = words.next()?;
    Some(OneLineEntry {
        options,
        uri,
        suite,
        components: words.collect(),
    })
}

fn enable_in_one_line(text: &str, codename: &str) -> BackportsEdit {
    let backports = backports_suite(codename);
    let lines: Vec<&str> = text.split_inclusive('\n').collect();
    let entries: Vec<(usize, OneLineEntry<'_>)> = lines
        .iter()
        .enumerate()
        .filter_map(|(i, l)| parse_one_line(l).map(|e| (i, e)))
        .collect();
    if entries.iter().any(|(_, e)| e.suite == backports) {
        return BackportsEdit::AlreadyEnabled;
    }
    let Some((index, base)) = entries.iter().find(|(_, e)| e.suite == codename) else {
        return BackportsEdit::NoBaseEntry;
    };
    let options = base.options.map(|o| format!("{o} ")).unwrap_or_default();
    let mut line = format!("deb {options}{} {backports}", base.uri);
    for component in &base.components {
        line.push(' ');
        line.push_str(component);
    }
    let mut new_text = String::with_capacity(text.len() + line.len() + 1);
    for (i, raw) in lines.iter().enumerate() {
        new_text.push_str(raw);
        if i == *index {
            // A last line without a terminator gets one before the new entry.
            let terminator = match newline_of(raw) {
                "" => {
                    new_text.push('\n');
                    "\n"
                }
                terminator => terminator,
            };
            new_text.push_str(&line);
            new_text.push_str(terminator);
        }
    }
    BackportsEdit::Change(SourcesChange {
        new_text,
        line_change: LineChange::Insert { line },
    })
}

/// Quotes a word for a POSIX shell.
pub fn shell_quote(word: &str) -> String {
    format!("'{}'", word.replace('\'', r"'\''"))
}

/// Escapes text for a sed basic regular expression delimited by `/`.
fn sed_escape_pattern(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(c, '\\' | '/' | '.' | '*' | '[' | ']' | '^' | '$') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// Escapes text for the replacement part of a sed `s/…/…/` command.
fn sed_escape_replacement(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(c, '\\' | '/' | '&') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Debian 12's container default, with a stand-in mirror name.
    const DEB822_BOOKWORM: &str = "\
Types: deb
# http://snapshot.example/archive/debian/20250520T000000Z
URIs: http://mirror.example/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: http://mirror.example/debian-security
Suites: bookworm-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
";

    const LEGACY_BOOKWORM: &str = "\
# main archive
deb http://mirror.example/debian bookworm main contrib
deb-src http://mirror.example/debian bookworm main
deb http://mirror.example/debian-security bookworm-security main
";

    fn change(edit: BackportsEdit) -> SourcesChange {
        match edit {
            BackportsEdit::Change(c) => c,
            other => panic!("expected a change, got {other:?}"),
        }
    }

    #[test]
    fn deb822_adds_backports_to_the_main_stanza_only() {
        let c = change(enable_backports(
            DEB822_BOOKWORM,
            SourcesFormat::Deb822,
            "bookworm",
        ));
        let expected = DEB822_BOOKWORM.replace(
            "Suites: bookworm bookworm-updates\n",
            "Suites: bookworm bookworm-updates bookworm-backports\n",
        );
        assert_eq!(c.new_text, expected);
        assert!(c.new_text.contains("Suites: bookworm-security\n"));
        assert_eq!(
            c.line_change,
            LineChange::Replace {
                old: "Suites: bookworm bookworm-updates".into(),
                new: "Suites: bookworm bookworm-updates bookworm-backports".into(),
            }
        );
    }

    #[test]
    fn deb822_is_idempotent() {
        let once = change(enable_backports(
            DEB822_BOOKWORM,
            SourcesFormat::Deb822,
            "bookworm",
        ));
        assert_eq!(
            enable_backports(&once.new_text, SourcesFormat::Deb822, "bookworm"),
            BackportsEdit::AlreadyEnabled
        );
    }

    #[test]
    fn deb822_skips_disabled_and_source_only_stanzas() {
        let text = "\
Types: deb
URIs: http://old.example/debian
Suites: bookworm
Components: main
Enabled: no

Types: deb-src
URIs: http://mirror.example/debian
Suites: bookworm
Components: main

Types: deb deb-src
URIs: http://mirror.example/debian
Suites: bookworm
Components: main";
        let c = change(enable_backports(text, SourcesFormat::Deb822, "bookworm"));
        // Only the last stanza qualifies; it has no trailing newline and keeps none.
        assert!(c
            .new_text
            .ends_with("Suites: bookworm bookworm-backports\nComponents: main"));
        assert_eq!(c.new_text.matches("bookworm-backports").count(), 1);
    }

    #[test]
    fn deb822_without_the_release_has_no_base() {
        let security_only = "Types: deb\nURIs: http://m.example/s\nSuites: bookworm-security\n";
        assert_eq!(
            enable_backports(security_only, SourcesFormat::Deb822, "bookworm"),
            BackportsEdit::NoBaseEntry
        );
        assert_eq!(
            enable_backports(DEB822_BOOKWORM, SourcesFormat::Deb822, "trixie"),
            BackportsEdit::NoBaseEntry
        );
    }

    #[test]
    fn legacy_adds_a_copy_after_the_main_line() {
        let c = change(enable_backports(
            LEGACY_BOOKWORM,
            SourcesFormat::OneLine,
            "bookworm",
        ));
        let expected = LEGACY_BOOKWORM.replace(
            "contrib\n",
            "contrib\ndeb http://mirror.example/debian bookworm-backports main contrib\n",
        );
        assert_eq!(c.new_text, expected);
        assert_eq!(
            c.line_change,
            LineChange::Insert {
                line: "deb http://mirror.example/debian bookworm-backports main contrib".into()
            }
        );
    }

    #[test]
    fn legacy_is_idempotent() {
        let once = change(enable_backports(
            LEGACY_BOOKWORM,
            SourcesFormat::OneLine,
            "bookworm",
        ));
        assert_eq!(
            enable_backports(&once.new_text, SourcesFormat::OneLine, "bookworm"),
            BackportsEdit::AlreadyEnabled
        );
    }

    #[test]
    fn legacy_keeps_options_and_handles_a_missing_final_newline() {
        let text =
            "deb [arch=amd64 signed-by=/k.gpg] http://m.example/debian bookworm main # comment";
        let c = change(enable_backports(text, SourcesFormat::OneLine, "bookworm"));
        assert_eq!(
            c.new_text,
            format!("{text}\ndeb [arch=amd64 signed-by=/k.gpg] http://m.example/debian bookworm-backports main\n")
        );
    }

    #[test]
    fn legacy_ignores_comments_and_source_entries() {
        let text = "# deb http://m.example/debian bookworm main\ndeb-src http://m.example/debian bookworm main\n";
        assert_eq!(
            enable_backports(text, SourcesFormat::OneLine, "bookworm"),
            BackportsEdit::NoBaseEntry
        );
    }

    #[test]
    fn formats_follow_file_extensions() {
        assert_eq!(
            SourcesFormat::of_path(Path::new("/etc/apt/sources.list.d/debian.sources")),
            Some(SourcesFormat::Deb822)
        );
        assert_eq!(
            SourcesFormat::of_path(Path::new("/etc/apt/sources.list")),
            Some(SourcesFormat::OneLine)
        );
        assert_eq!(
            SourcesFormat::of_path(Path::new("/etc/apt/x.list.disabled")),
            None
        );
    }

    #[test]
    fn manual_commands_are_exact() {
        let replace = LineChange::Replace {
            old: "Suites: bookworm bookworm-updates".into(),
            new: "Suites: bookworm bookworm-updates bookworm-backports".into(),
        };
        assert_eq!(
            replace.shell_command(Path::new("/etc/apt/sources.list.d/debian.sources")),
            "sed -i 's/^Suites: bookworm bookworm-updates$/Suites: bookworm bookworm-updates bookworm-backports/' '/etc/apt/sources.list.d/debian.sources'"
        );
        let insert = LineChange::Insert {
            line: "deb http://m.example/debian bookworm-backports main".into(),
        };
        assert_eq!(
            insert.shell_command(Path::new("/etc/apt/sources.list")),
            "printf '%s\\n' 'deb http://m.example/debian bookworm-backports main' >> '/etc/apt/sources.list'"
        );
    }

    #[test]
    fn sed_and_shell_escaping() {
        assert_eq!(
            sed_escape_pattern("a.b/[c]*^$\\"),
            "a\\.b\\/\\[c\\]\\*\\^\\$\\\\"
        );
        assert_eq!(sed_escape_replacement("a&b/c\\"), "a\\&b\\/c\\\\");
        assert_eq!(shell_quote("it's"), "'it'\\''s'");
    }
}
