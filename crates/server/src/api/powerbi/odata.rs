//! The OData subset Power BI accepts in `$filter` on workspace lists: `eq`, `ne`, `contains`,
//! `startswith`, `endswith`, `and`, `or`, `not` and parentheses, over string literals.

use crate::domain::filter::{WorkspaceField, WorkspaceFilter};

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Ident(String),
    Str(String),
    LParen,
    RParen,
    Comma,
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

    fn unary(&mut self) -> Result<WorkspaceFilter, String> {
        if self.peek_keyword("not") {
            self.pos += 1;
            return Ok(WorkspaceFilter::Not(Box::new(self.unary()?)));
        }
        if self.tokens.get(self.pos) == Some(&Token::LParen) {
            self.pos += 1;
            let inner = self.or()?;
            self.expect(Token::RParen)?;
            return Ok(inner);
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

/// Fields of `GET /groups`.
pub const GROUP_FIELDS: &[(&str, WorkspaceField)] = &[("name", WorkspaceField::Name), ("id", WorkspaceField::Id)];

pub fn parse_filter(input: &str, fields: &[(&str, WorkspaceField)]) -> Result<WorkspaceFilter, String> {
    if input.chars().any(char::is_control) || input.len() > 4096 {
        return Err("the filter contains control characters or is too long".into());
    }
    let mut parser = Parser { tokens: tokenize(input)?, pos: 0, fields };
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
    fn rejects_what_it_does_not_understand() {
        for bad in ["", "name", "name eq", "name gt 'a'", "colour eq 'red'", "name eq 'a' )", "contains(name 'a')", "name eq 'unterminated"]
        {
            assert!(parse_filter(bad, GROUP_FIELDS).is_err(), "{bad} should fail");
        }
    }
}
