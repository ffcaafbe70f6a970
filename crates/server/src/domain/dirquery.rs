//! A directory list query, the same for every directory resource (users, groups) and every
//! dialect (Graph, SCIM): a filter over the resource's *attributes* (dialect-neutral names such
//! as `upn` or `displayName`, which each dialect maps its property names to), compiled by the
//! store into a parameterised SQL condition over indexed columns (never spliced text).
//!
//! Paging is by keyset (`after`, the last key served) for Graph, or by position (`offset`) for
//! SCIM; both are bounded by `limit`.

/// A literal a condition compares with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lit {
    Text(String),
    Bool(bool),
    Null,
}

/// A filter over a resource's attributes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DirFilter {
    /// `attr eq value` (text compares case-insensitively unless the attribute is case-exact).
    Eq(&'static str, Lit),
    /// `attr in (v1, v2, …)`.
    In(&'static str, Vec<Lit>),
    /// `startswith(attr, prefix)`, case-insensitive.
    StartsWith(&'static str, String),
    And(Box<DirFilter>, Box<DirFilter>),
    Or(Box<DirFilter>, Box<DirFilter>),
}

/// At most this many values in one `in (…)`, as Graph (15 for most properties).
pub const MAX_IN_VALUES: usize = 15;

/// Which page of a list.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Page {
    /// Keyset paging: the key of the last object already served (the resource's `id`).
    pub after: Option<String>,
    /// Positional paging (SCIM `startIndex - 1`).
    pub offset: usize,
    /// At most this many objects.
    pub limit: usize,
}
