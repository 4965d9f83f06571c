//! Names of partitions and objects: the rules every name follows, and the
//! symbol table that resolves the names a config uses to refer to them.
//!
//! Partition names form one namespace; endpoints, notifications and shared
//! regions share another, so an endpoint may be called after the service
//! that serves it. Names prefix console lines and appear in boot arguments,
//! so they are 1..=32 characters from `[a-z0-9_-]`.

use std::collections::HashMap;

use kernel_core::manifest::MAX_NAME_LEN;
use toml::Spanned;

use crate::diagnostics::{join_and, Reporter};
use crate::schema::{RawConfig, RawKind};

/// Names already declared in one namespace: name → (what it names, line).
pub(super) type SeenNames = HashMap<String, (&'static str, usize)>;

/// Checks a name's characters and length, and that no earlier declaration in
/// its namespace (`seen`) has it. `what` names the declaration ("partition",
/// "endpoint", …).
pub(super) fn check_name(
    what: &'static str,
    name: &Spanned<String>,
    seen: &mut SeenNames,
    report: &mut Reporter<'_>,
) {
    let text = name.get_ref();
    let line = report.line_of(name.span().start);
    if text.is_empty() {
        report.at(name.span(), format!("{what} name must not be empty"));
    } else if text.len() > MAX_NAME_LEN {
        report.at(
            name.span(),
            format!(
                "{what} name \"{text}\" is {} characters long; at most {MAX_NAME_LEN} are allowed",
                text.chars().count()
            ),
        );
    } else if !text
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-')
    {
        report.at(
            name.span(),
            format!(
                "{what} name \"{text}\" has characters other than lowercase letters, digits, \"_\" and \"-\""
            ),
        );
    }
    if let Some((first_what, first_line)) = seen.get(text) {
        report.at(
            name.span(),
            format!(
                "{what} name \"{text}\" is already used by the {first_what} on line {first_line}"
            ),
        );
    } else {
        seen.insert(text.clone(), (what, line));
    }
}

/// The declarations of one kind, in config order.
#[derive(Debug, Default)]
pub(super) struct Table {
    /// Names in declaration order (duplicates kept, so indices match the config).
    names: Vec<String>,
    /// Name → index of its first declaration.
    index: HashMap<String, usize>,
}

impl Table {
    fn new<'a>(names: impl Iterator<Item = &'a String>) -> Self {
        let mut table = Self::default();
        for (position, name) in names.enumerate() {
            table.index.entry(name.clone()).or_insert(position);
            table.names.push(name.clone());
        }
        table
    }

    /// The name of declaration `index`.
    pub(super) fn name(&self, index: usize) -> &str {
        self.names.get(index).map_or("?", String::as_str)
    }
}

/// Which table a reference looks in; decides the words of "not declared".
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Namespace {
    /// `[[partition]]`.
    Partition,
    /// `[[endpoint]]`.
    Endpoint,
    /// `[[notification]]`.
    Notification,
}

impl Namespace {
    /// The singular word for one declaration.
    pub(super) fn word(self) -> &'static str {
        match self {
            Self::Partition => "partition",
            Self::Endpoint => "endpoint",
            Self::Notification => "notification",
        }
    }

    fn plural(self) -> &'static str {
        match self {
            Self::Partition => "partitions",
            Self::Endpoint => "endpoints",
            Self::Notification => "notifications",
        }
    }
}

/// Every name a config declares, resolvable before any declaration is
/// checked, so a reference can be checked wherever it is written.
#[derive(Debug)]
pub(super) struct Symbols {
    partitions: Table,
    endpoints: Table,
    notifications: Table,
    /// Each partition's kind, by config index.
    partition_kinds: Vec<RawKind>,
}

impl Symbols {
    /// Collects the names of `raw` (first declaration wins a duplicate name;
    /// the duplicate itself is reported by [`check_name`]).
    pub(super) fn new(raw: &RawConfig) -> Self {
        Self {
            partitions: Table::new(raw.partition.iter().map(|p| p.get_ref().name.get_ref())),
            endpoints: Table::new(raw.endpoint.iter().map(|e| e.get_ref().name.get_ref())),
            notifications: Table::new(raw.notification.iter().map(|n| n.get_ref().name.get_ref())),
            partition_kinds: raw.partition.iter().map(|p| p.get_ref().kind).collect(),
        }
    }

    /// The table of one namespace.
    pub(super) fn table(&self, namespace: Namespace) -> &Table {
        match namespace {
            Namespace::Partition => &self.partitions,
            Namespace::Endpoint => &self.endpoints,
            Namespace::Notification => &self.notifications,
        }
    }

    /// True if partition `index` is a service.
    pub(super) fn is_service(&self, index: usize) -> bool {
        matches!(self.partition_kinds.get(index), Some(RawKind::Service))
    }

    /// Resolves `name` in `namespace`; if it is not declared, reports
    /// "`{context}` {namespace} "name", which is not declared (…)" at its span.
    pub(super) fn resolve(
        &self,
        namespace: Namespace,
        name: &Spanned<String>,
        context: &str,
        report: &mut Reporter<'_>,
    ) -> Option<usize> {
        let table = self.table(namespace);
        let found = table.index.get(name.get_ref()).copied();
        if found.is_none() {
            let declared = if table.names.is_empty() {
                format!("no {} is declared", namespace.word())
            } else {
                let quoted: Vec<String> = table.names.iter().map(|n| format!("\"{n}\"")).collect();
                format!("the {} are {}", namespace.plural(), join_and(&quoted))
            };
            report.at(
                name.span(),
                format!(
                    "{context} {} \"{}\", which is not declared ({declared})",
                    namespace.word(),
                    name.get_ref()
                ),
            );
        }
        found
    }
}
