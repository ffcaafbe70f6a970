//! The OData subset Power BI accepts in `$filter` on workspace lists: `eq`, `ne`, `contains`,
//! `startswith`, `endswith`, `and`, `or`, `not` and parentheses, over string literals; on the
//! admin workspace list also `users/any()` and `users/any(u: u/groupUserAccessRight eq 'Admin')`.
//! The activity log's filter (`eq` and `and` over `Activity` and `UserId`) has its own parser.

use crate::domain::filter::{ActivityCondition, WorkspaceField, WorkspaceFilter, MAX_FILTER_DEPTH, MAX_FILTER_TERMS};
use crate::domain::Role;

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Ident(String),
    Str(String),
    LParen,
    RParen,
    Comma,
    Colon,
}

fn tokenize(input: &str) -> Result<Vec<Token>, String> {
    let mut tokens = Vec::new();
    let mut chars = input.chars().peekable();
    while let Some(&c) = chars.peek() {
        match c {
            ' ' | '\t' => {
                chars.next();
            }
            '(' => {
                chars.next();
                tokens.push(Token::LParen);
            }
            ')' => {
                chars.next();
                tokens.push(Token::RParen);
            }
            ',' => {
                chars.next();
                tokens.push(Token::Comma);
            }
            ':' => {
                chars.next();
                tokens.push(Token::Colon);
            }
            '\'' => {
                chars.next();
                let mut s = String::new();
                loop {
                    match chars.next() {
                        Some('\'') if chars.peek() == Some(&'\'') => {
                            chars.next();
                            s.push('\'');
                        }
                        Some('\'') => break,
                        Some(ch) => s.push(ch),
                        None => return Err("unterminated string literal".into()),
                    }
                }
                tokens.push(Token::Str(s));
            }
            c if c.is_alphanumeric() || c == '_' || c == '/' || c == '.' => {
                let mut s = String::new();
                while let Some(&ch) = chars.peek() {
                    if ch.is_alphanumeric() || ch == '_' || ch == '/' || ch == '.' || ch == '-' {
                        s.push(ch);
                        chars.next();
                    } else {
                        break;
                    }
                }
                tokens.push(Token::Ident(s));
            }
            other => return Err(format!("unexpected character '{other}'")),
        }
    }
    Ok(tokens)
}

struct Parser<'a> {
    tokens: Vec<Token>,
    pos: usize,
    fields: &'a [(&'a str, WorkspaceField)],
    /// Whether `users/any(…)` may be used (the admin workspace list).
    users_any: bool,
    /// Open parentheses and `not`s around the current position.
    depth: usize,
    /// Comparisons, function calls and `users/any(…)` read so far.
    terms: usize,
}

impl Parser<'_> {
    fn peek_keyword(&self, kw: &str) -> bool {
        matches!(self.tokens.get(self.pos), Some(Token::Ident(s)) if s.eq_ignore_ascii_case(kw))
    }

    fn next(&mut self) -> Option<Token> {
        let t = self.tokens.get(self.pos).cloned();
        self.pos += 1;
        t
    }

    fn expect(&mut self, want: Token) -> Result<(), String> {
        match self.next() {
            Some(t) if t == want => Ok(()),
            other => Err(format!("expected {want:?}, found {other:?}")),
        }
    }

    fn field(&mut self) -> Result<WorkspaceField, String> {
        match self.next() {
            Some(Token::Ident(name)) => self
                .fields
                .iter()
                .find(|(n, _)| n.eq_ignore_ascii_case(&name))
                .map(|(_, f)| *f)
                .ok_or_else(|| format!("filtering on '{name}' is not supported")),
            other => Err(format!("expected a property name, found {other:?}")),
        }
    }

    fn string(&mut self) -> Result<String, String> {
        match self.next() {
            Some(Token::Str(s)) => Ok(s),
            other => Err(format!("expected a string literal in single quotes, found {other:?}")),
        }
    }

    fn or(&mut self) -> Result<WorkspaceFilter, String> {
        let mut left = self.and()?;
        while self.peek_keyword("or") {
            self.pos += 1;
            left = WorkspaceFilter::Or(Box::new(left), Box::new(self.and()?));
        }
        Ok(left)
    }

    fn and(&mut self) -> Result<WorkspaceFilter, String> {
        let mut left = self.unary()?;
        while self.peek_keyword("and") {
            self.pos += 1;
            left = WorkspaceFilter::And(Box::new(left), Box::new(self.unary()?));
        }
        Ok(left)
    }

    fn nested<T>(&mut self, inner: impl FnOnce(&mut Self) -> Result<T, String>) -> Result<T, String> {
        self.depth += 1;
        if self.depth > MAX_FILTER_DEPTH {
            return Err(format!("the filter is nested too deeply: at most {MAX_FILTER_DEPTH} levels of parentheses and 'not'"));
        }
        let result = inner(self);
        self.depth -= 1;
        result
    }

    fn term(&mut self) -> Result<(), String> {
        self.terms += 1;
        if self.terms > MAX_FILTER_TERMS {
            return Err(format!("the filter has too many conditions: at most {MAX_FILTER_TERMS}"));
        }
        Ok(())
    }

    fn unary(&mut self) -> Result<WorkspaceFilter, String> {
        if self.peek_keyword("not") {
            self.pos += 1;
            return self.nested(|p| Ok(WorkspaceFilter::Not(Box::new(p.unary()?))));
        }
        if self.tokens.get(self.pos) == Some(&Token::LParen) {
            self.pos += 1;
            let inner = self.nested(Self::or)?;
            self.expect(Token::RParen)?;
            return Ok(inner);
        }
        self.term()?;
        if self.users_any && self.peek_keyword("users/any") && self.tokens.get(self.pos + 1) == Some(&Token::LParen) {
            self.pos += 2;
            return self.users_any_body();
        }
        for (name, make) in [
            ("contains", WorkspaceFilter::Contains as fn(WorkspaceField, String) -> WorkspaceFilter),
            ("startswith", WorkspaceFilter::StartsWith),
            ("endswith", WorkspaceFilter::EndsWith),
        ] {
            if self.peek_keyword(name) && self.tokens.get(self.pos + 1) == Some(&Token::LParen) {
                self.pos += 2;
                let field = self.field()?;
                self.expect(Token::Comma)?;
                let value = self.string()?;
                self.expect(Token::RParen)?;
                return Ok(make(field, value));
            }
        }
        let field = self.field()?;
        let op = match self.next() {
            Some(Token::Ident(op)) => op.to_ascii_lowercase(),
            other => return Err(format!("expected 'eq' or 'ne', found {other:?}")),
        };
        let value = self.string()?;
        match op.as_str() {
            "eq" => Ok(WorkspaceFilter::Eq(field, value)),
            "ne" => Ok(WorkspaceFilter::Ne(field, value)),
            other => Err(format!("operator '{other}' is not supported")),
        }
    }
}

impl Parser<'_> {
    /// After `users/any(`: `)` alone, or `u: u/groupUserAccessRight eq [Type]'Role')`.
    fn users_any_body(&mut self) -> Result<WorkspaceFilter, String> {
        if self.tokens.get(self.pos) == Some(&Token::RParen) {
            self.pos += 1;
            return Ok(WorkspaceFilter::AnyUser(None));
        }
        let var = match self.next() {
            Some(Token::Ident(v)) if !v.contains('/') => v,
            other => return Err(format!("expected a lambda variable in users/any(…), found {other:?}")),
        };
        self.expect(Token::Colon)?;
        match self.next() {
            Some(Token::Ident(path)) if path.eq_ignore_ascii_case(&format!("{var}/groupUserAccessRight")) => {}
            other => return Err(format!("users/any(…) can only test {var}/groupUserAccessRight, found {other:?}")),
        }
        if !self.peek_keyword("eq") {
            return Err("users/any(…) only supports 'eq'".into());
        }
        self.pos += 1;
        // An enum literal may carry its type: Microsoft.PowerBI.ServiceContracts.Api.GroupUserAccessRight'Admin'.
        if let Some(Token::Ident(prefix)) = self.tokens.get(self.pos) {
            if !prefix.to_ascii_lowercase().ends_with("groupuseraccessright") {
                return Err(format!("unexpected '{prefix}' before the access right"));
            }
            self.pos += 1;
        }
        let value = self.string()?;
        let role = [Role::Admin, Role::Member, Role::Contributor, Role::Viewer]
            .into_iter()
            .find(|r| r.as_str().eq_ignore_ascii_case(&value))
            .ok_or_else(|| format!("'{value}' is not a workspace access right"))?;
        self.expect(Token::RParen)?;
        Ok(WorkspaceFilter::AnyUser(Some(role)))
    }
}

/// Fields of `GET /groups`.
pub const GROUP_FIELDS: &[(&str, WorkspaceField)] = &[("name", WorkspaceField::Name), ("id", WorkspaceField::Id)];

/// Fields of `GET /admin/groups`.
pub const ADMIN_GROUP_FIELDS: &[(&str, WorkspaceField)] =
    &[("name", WorkspaceField::Name), ("id", WorkspaceField::Id), ("state", WorkspaceField::State), ("type", WorkspaceField::Type)];

pub fn parse_filter(input: &str, fields: &[(&str, WorkspaceField)]) -> Result<WorkspaceFilter, String> {
    parse(input, fields, false)
}

/// The admin workspace list's filter: `parse_filter` plus `users/any(…)`.
pub fn parse_admin_filter(input: &str) -> Result<WorkspaceFilter, String> {
    parse(input, ADMIN_GROUP_FIELDS, true)
}

/// The activity log's `$filter`: `Activity eq '…'` and `UserId eq '…'`, joined by `and`.
pub fn parse_activity_filter(input: &str) -> Result<Vec<ActivityCondition>, String> {
    if input.chars().any(char::is_control) || input.len() > 4096 {
        return Err("the filter contains control characters or is too long".into());
    }
    let tokens = tokenize(input)?;
    let mut out = Vec::new();
    let mut i = 0;
    loop {
        let (field, op, value) = match (tokens.get(i), tokens.get(i + 1), tokens.get(i + 2)) {
            (Some(Token::Ident(f)), Some(Token::Ident(op)), Some(Token::Str(v))) => (f, op, v),
            _ => return Err("expected Activity eq '…' or UserId eq '…'".into()),
        };
        if !op.eq_ignore_ascii_case("eq") {
            return Err(format!("operator '{op}' is not supported: only 'eq' and 'and' are"));
        }
        if field.eq_ignore_ascii_case("Activity") {
            out.push(ActivityCondition::Activity(value.clone()));
        } else if field.eq_ignore_ascii_case("UserId") {
            out.push(ActivityCondition::UserId(value.clone()));
        } else {
            return Err(format!("filtering on '{field}' is not supported: only Activity and UserId are"));
        }
        i += 3;
        match tokens.get(i) {
            None => return Ok(out),
            Some(Token::Ident(and)) if and.eq_ignore_ascii_case("and") => i += 1,
            Some(other) => return Err(format!("unexpected {other:?}: only 'and' may join conditions")),
        }
    }
}

fn parse(input: &str, fields: &[(&str, WorkspaceField)], users_any: bool) -> Result<WorkspaceFilter, String> {
    if input.chars().any(char::is_control) || input.len() > 4096 {
        return Err("the filter contains control characters or is too long".into());
    }
    let mut parser = Parser { tokens: tokenize(input)?, pos: 0, fields, users_any, depth: 0, terms: 0 };
    if parser.tokens.is_empty() {
        return Err("the filter is empty".into());
    }
    let filter = parser.or()?;
    if parser.pos < parser.tokens.len() {
        return Err(format!("unexpected {:?} after the end of the expression", parser.tokens[parser.pos]));
    }
    Ok(filter)
}

#[cfg(test)]
mod tests {
    use super::*;
    use WorkspaceField::*;
    use WorkspaceFilter::*;

    #[test]
    fn parses_the_swagger_example() {
        let f = parse_filter("contains(name,'marketing') or name eq 'contoso'", GROUP_FIELDS).unwrap();
        assert_eq!(f, Or(Box::new(Contains(Name, "marketing".into())), Box::new(Eq(Name, "contoso".into()))));
    }

    #[test]
    fn precedence_not_and_or_and_parentheses() {
        let f = parse_filter("not (id eq 'a' or name eq 'b') and name ne 'c'", GROUP_FIELDS).unwrap();
        assert_eq!(
            f,
            And(Box::new(Not(Box::new(Or(Box::new(Eq(Id, "a".into())), Box::new(Eq(Name, "b".into())))))), Box::new(Ne(Name, "c".into())))
        );
        assert_eq!(parse_filter("name eq 'O''Brien'", GROUP_FIELDS).unwrap(), Eq(Name, "O'Brien".into()));
    }

    #[test]
    fn parses_the_orphaned_workspace_example_of_the_swagger() {
        let f = parse_admin_filter(
            "(not users/any()) or (not users/any(u: u/groupUserAccessRight eq Microsoft.PowerBI.ServiceContracts.Api.GroupUserAccessRight'Admin'))",
        )
        .unwrap();
        assert_eq!(f, Or(Box::new(Not(Box::new(AnyUser(None)))), Box::new(Not(Box::new(AnyUser(Some(Role::Admin)))))));
        assert_eq!(parse_admin_filter("users/any(x: x/groupUserAccessRight eq 'viewer')").unwrap(), AnyUser(Some(Role::Viewer)));
        assert_eq!(
            parse_admin_filter("state eq 'Deleted' and type eq 'Workspace'").unwrap(),
            And(Box::new(Eq(State, "Deleted".into())), Box::new(Eq(Type, "Workspace".into())))
        );
        for bad in [
            "users/any(u: v/groupUserAccessRight eq 'Admin')",
            "users/any(u: u/groupUserAccessRight eq 'None')",
            "users/any(u u/x eq 'A')",
            "users/any(",
        ] {
            assert!(parse_admin_filter(bad).is_err(), "{bad} should fail");
        }
        assert!(parse_filter("users/any()", GROUP_FIELDS).is_err(), "not on GET /groups");
        assert!(parse_filter("state eq 'Deleted'", GROUP_FIELDS).is_err(), "not on GET /groups");
    }

    #[test]
    fn parses_activity_filters_with_eq_and_only() {
        assert_eq!(
            parse_activity_filter("Activity eq 'viewreport' and UserId eq 'john@contoso.com'").unwrap(),
            vec![ActivityCondition::Activity("viewreport".into()), ActivityCondition::UserId("john@contoso.com".into())]
        );
        for bad in
            ["", "Activity ne 'x'", "Activity eq 'x' or UserId eq 'y'", "Workspace eq 'x'", "Activity eq 'x' and", "not Activity eq 'x'"]
        {
            assert!(parse_activity_filter(bad).is_err(), "{bad} should fail");
        }
    }

    #[test]
    fn rejects_what_it_does_not_understand() {
        for bad in ["", "name", "name eq", "name gt 'a'", "colour eq 'red'", "name eq 'a' )", "contains(name 'a')", "name eq 'unterminated"]
        {
            assert!(parse_filter(bad, GROUP_FIELDS).is_err(), "{bad} should fail");
        }
    }
}
