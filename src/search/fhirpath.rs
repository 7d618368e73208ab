//! The subset of FHIRPath that search parameter expressions use, evaluated over FHIR JSON.
//!
//! Supported: paths with implicit flattening of arrays, choice elements (`Observation.value`
//! finds `valueQuantity`, `valueString`, ...), `[n]`, `as`/`is` and their function forms,
//! `ofType()`, `where()`, `exists()`, `empty()`, `not()`, `first()`, `extension('url')`,
//! `resolve()`, `|`, `=`, `!=`, `and`, `or`, `$this` and string, number and boolean literals.
//!
//! Without the structure definitions the evaluator knows the type of an element only for
//! choice elements, resources and resolved references; an element of unknown type passes
//! every type test.

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::LazyLock;

use serde_json::Value;

use super::reference;
use super::registry;

/// A parsed expression.
#[derive(Clone, Debug, PartialEq)]
pub enum Expr {
    /// `$this`: the focus.
    This,
    Literal(Value),
    /// A leading identifier: a resource type name selects a focus of that type, any other
    /// name is a child of the focus.
    Name(String),
    Member(Box<Expr>, String),
    Index(Box<Expr>, usize),
    Call(Box<Expr>, Function),
    As(Box<Expr>, String),
    Is(Box<Expr>, String),
    Union(Box<Expr>, Box<Expr>),
    /// `=` (false) or `!=` (true).
    Equals(Box<Expr>, Box<Expr>, bool),
    And(Box<Expr>, Box<Expr>),
    Or(Box<Expr>, Box<Expr>),
}

#[derive(Clone, Debug, PartialEq)]
pub enum Function {
    Where(Box<Expr>),
    Exists(Option<Box<Expr>>),
    Empty,
    Not,
    First,
    OfType(String),
    As(String),
    Is(String),
    Extension(String),
    Resolve,
}

/// Why an expression does not compile.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[error("{message} at offset {offset} of `{expression}`")]
pub struct CompileError {
    pub expression: String,
    pub offset: usize,
    pub message: String,
}

/// Parses an expression.
pub fn compile(expression: &str) -> Result<Expr, CompileError> {
    let tokens = lex(expression)?;
    let mut parser = Parser {
        expression,
        tokens,
        pos: 0,
    };
    let expr = parser.or()?;
    match parser.peek() {
        None => Ok(expr),
        Some(_) => Err(parser.error("unexpected token")),
    }
}

static COMPILED: LazyLock<HashMap<&'static str, Result<Expr, CompileError>>> =
    LazyLock::new(|| {
        registry::all()
            .iter()
            .filter(|p| p.is_indexed())
            .map(|p| (p.expression, compile(p.expression)))
            .collect()
    });

/// The compiled form of an indexed registry expression, parsed once per process; `None` for
/// an expression that is not in the registry.
pub fn compiled(expression: &str) -> Option<&'static Result<Expr, CompileError>> {
    COMPILED.get(expression)
}

/// One item of a result collection, with its FHIR type when the evaluator knows it.
#[derive(Clone, Debug, PartialEq)]
pub struct Item<'a> {
    pub value: Cow<'a, Value>,
    pub type_name: Option<Cow<'a, str>>,
}

impl<'a> Item<'a> {
    fn borrowed(value: &'a Value, type_name: Option<&'static str>) -> Self {
        Item {
            value: Cow::Borrowed(value),
            type_name: type_name.map(Cow::Borrowed),
        }
    }

    fn owned(value: Value) -> Self {
        Item {
            value: Cow::Owned(value),
            type_name: None,
        }
    }

    /// The known type: a choice element's, a resolved reference's or a resource's.
    pub fn known_type(&self) -> Option<&str> {
        self.type_name
            .as_deref()
            .or_else(|| self.value.get("resourceType").and_then(Value::as_str))
    }
}

/// Evaluates `expr` with `resource` as the focus.
pub fn evaluate<'a>(expr: &Expr, resource: &'a Value) -> Vec<Item<'a>> {
    let scope = Scope { root: resource };
    scope.eval(expr, &[Item::borrowed(resource, None)])
}

// Lexing.

#[derive(Clone, Debug, PartialEq)]
enum Token {
    Ident(String),
    Str(String),
    Number(String),
    This,
    Symbol(&'static str),
}

fn lex(expression: &str) -> Result<Vec<(usize, Token)>, CompileError> {
    let error = |offset, message: &str| CompileError {
        expression: expression.to_string(),
        offset,
        message: message.to_string(),
    };
    let bytes = expression.as_bytes();
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
        let start = i;
        if c.is_ascii_whitespace() {
            i += 1;
            continue;
        }
        let token = if c.is_ascii_alphabetic() || c == b'_' {
            while i < bytes.len() && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'_') {
                i += 1;
            }
            Token::Ident(expression[start..i].to_string())
        } else if c.is_ascii_digit() {
            while i < bytes.len() && (bytes[i].is_ascii_digit() || bytes[i] == b'.') {
                i += 1;
            }
            Token::Number(expression[start..i].to_string())
        } else if c == b'\'' {
            let mut text = String::new();
            i += 1;
            loop {
                match bytes.get(i) {
                    None => return Err(error(start, "unterminated string")),
                    Some(b'\'') => break,
                    Some(b'\\') => {
                        let escaped = *bytes.get(i + 1).ok_or_else(|| error(i, "bad escape"))?;
                        text.push(match escaped {
                            b'n' => '\n',
                            b't' => '\t',
                            b'r' => '\r',
                            other => other as char,
                        });
                        i += 2;
                    }
                    Some(_) => {
                        let ch = expression[i..].chars().next().unwrap_or_default();
                        text.push(ch);
                        i += ch.len_utf8();
                    }
                }
            }
            i += 1;
            Token::Str(text)
        } else if expression[i..].starts_with("$this") {
            i += 5;
            Token::This
        } else if expression[i..].starts_with("!=") {
            i += 2;
            Token::Symbol("!=")
        } else {
            let symbol = match c {
                b'.' => ".",
                b'(' => "(",
                b')' => ")",
                b'[' => "[",
                b']' => "]",
                b',' => ",",
                b'|' => "|",
                b'=' => "=",
                _ => return Err(error(i, "unsupported character")),
            };
            i += 1;
            Token::Symbol(symbol)
        };
        tokens.push((start, token));
    }
    Ok(tokens)
}

// Parsing, by FHIRPath precedence from loosest to tightest: `or`, `and`, `=`/`!=`, `|`,
// `is`/`as`, then invocation and indexing.

struct Parser<'s> {
    expression: &'s str,
    tokens: Vec<(usize, Token)>,
    pos: usize,
}

impl Parser<'_> {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.pos).map(|(_, t)| t)
    }

    fn next(&mut self) -> Option<Token> {
        let token = self.tokens.get(self.pos).map(|(_, t)| t.clone());
        self.pos += 1;
        token
    }

    fn error(&self, message: &str) -> CompileError {
        let offset = self
            .tokens
            .get(self.pos)
            .map_or(self.expression.len(), |(o, _)| *o);
        CompileError {
            expression: self.expression.to_string(),
            offset,
            message: message.to_string(),
        }
    }

    fn eat_symbol(&mut self, symbol: &str) -> bool {
        let found = matches!(self.peek(), Some(Token::Symbol(s)) if *s == symbol);
        self.pos += usize::from(found);
        found
    }

    fn eat_keyword(&mut self, keyword: &str) -> bool {
        let found = matches!(self.peek(), Some(Token::Ident(s)) if s == keyword);
        self.pos += usize::from(found);
        found
    }

    fn expect_symbol(&mut self, symbol: &str) -> Result<(), CompileError> {
        if self.eat_symbol(symbol) {
            Ok(())
        } else {
            Err(self.error(&format!("expected `{symbol}`")))
        }
    }

    fn or(&mut self) -> Result<Expr, CompileError> {
        let mut left = self.and()?;
        while self.eat_keyword("or") {
            left = Expr::Or(Box::new(left), Box::new(self.and()?));
        }
        Ok(left)
    }

    fn and(&mut self) -> Result<Expr, CompileError> {
        let mut left = self.equality()?;
        while self.eat_keyword("and") {
            left = Expr::And(Box::new(left), Box::new(self.equality()?));
        }
        Ok(left)
    }

    fn equality(&mut self) -> Result<Expr, CompileError> {
        let left = self.union()?;
        let negated = if self.eat_symbol("=") {
            false
        } else if self.eat_symbol("!=") {
            true
        } else {
            return Ok(left);
        };
        Ok(Expr::Equals(
            Box::new(left),
            Box::new(self.union()?),
            negated,
        ))
    }

    fn union(&mut self) -> Result<Expr, CompileError> {
        let mut left = self.type_test()?;
        while self.eat_symbol("|") {
            left = Expr::Union(Box::new(left), Box::new(self.type_test()?));
        }
        Ok(left)
    }

    fn type_test(&mut self) -> Result<Expr, CompileError> {
        let operand = self.postfix()?;
        if self.eat_keyword("as") {
            Ok(Expr::As(Box::new(operand), self.type_specifier()?))
        } else if self.eat_keyword("is") {
            Ok(Expr::Is(Box::new(operand), self.type_specifier()?))
        } else {
            Ok(operand)
        }
    }

    /// `Quantity`, `FHIR.Quantity` or `System.String`: the name without its namespace.
    fn type_specifier(&mut self) -> Result<String, CompileError> {
        let Some(Token::Ident(mut name)) = self.next() else {
            self.pos -= 1;
            return Err(self.error("expected a type name"));
        };
        if (name == "FHIR" || name == "System") && self.eat_symbol(".") {
            let Some(Token::Ident(inner)) = self.next() else {
                self.pos -= 1;
                return Err(self.error("expected a type name"));
            };
            name = inner;
        }
        Ok(name)
    }

    fn postfix(&mut self) -> Result<Expr, CompileError> {
        let mut expr = self.term()?;
        loop {
            if self.eat_symbol(".") {
                let Some(Token::Ident(name)) = self.next() else {
                    self.pos -= 1;
                    return Err(self.error("expected a name"));
                };
                expr = self.invocation(expr, name)?;
            } else if self.eat_symbol("[") {
                let index = match self.next() {
                    Some(Token::Number(n)) => n.parse().ok(),
                    _ => None,
                };
                let Some(index) = index else {
                    self.pos -= 1;
                    return Err(self.error("expected an index"));
                };
                self.expect_symbol("]")?;
                expr = Expr::Index(Box::new(expr), index);
            } else {
                return Ok(expr);
            }
        }
    }

    fn term(&mut self) -> Result<Expr, CompileError> {
        match self.next() {
            Some(Token::Symbol("(")) => {
                let inner = self.or()?;
                self.expect_symbol(")")?;
                Ok(inner)
            }
            Some(Token::This) => Ok(Expr::This),
            Some(Token::Str(s)) => Ok(Expr::Literal(Value::String(s))),
            Some(Token::Number(n)) => match serde_json::from_str(&n) {
                Ok(number) => Ok(Expr::Literal(number)),
                Err(_) => {
                    self.pos -= 1;
                    Err(self.error("bad number"))
                }
            },
            Some(Token::Ident(name)) if name == "true" || name == "false" => {
                Ok(Expr::Literal(Value::Bool(name == "true")))
            }
            Some(Token::Ident(name)) => {
                if matches!(self.peek(), Some(Token::Symbol("("))) {
                    self.invocation(Expr::This, name)
                } else {
                    Ok(Expr::Name(name))
                }
            }
            _ => {
                self.pos -= 1;
                Err(self.error("expected an expression"))
            }
        }
    }

    /// `base.name` or `base.name(arguments)`.
    fn invocation(&mut self, base: Expr, name: String) -> Result<Expr, CompileError> {
        if !self.eat_symbol("(") {
            return Ok(Expr::Member(Box::new(base), name));
        }
        let function = match name.as_str() {
            "where" => Function::Where(Box::new(self.or()?)),
            "exists" if matches!(self.peek(), Some(Token::Symbol(")"))) => Function::Exists(None),
            "exists" => Function::Exists(Some(Box::new(self.or()?))),
            "empty" => Function::Empty,
            "not" => Function::Not,
            "first" => Function::First,
            "resolve" => Function::Resolve,
            "ofType" => Function::OfType(self.type_specifier()?),
            "as" => Function::As(self.type_specifier()?),
            "is" => Function::Is(self.type_specifier()?),
            "extension" => match self.next() {
                Some(Token::Str(url)) => Function::Extension(url),
                _ => {
                    self.pos -= 1;
                    return Err(self.error("extension() takes a string"));
                }
            },
            _ => {
                self.pos -= 2;
                return Err(self.error(&format!("unsupported function `{name}()`")));
            }
        };
        self.expect_symbol(")")?;
        Ok(Expr::Call(Box::new(base), function))
    }
}

// Evaluation.

/// Whether a value of type `actual` is a `wanted`, subtypes included.
fn is_a(actual: &str, wanted: &str) -> bool {
    actual == wanted
        || match wanted {
            "Quantity" => {
                matches!(
                    actual,
                    "Age" | "Count" | "Distance" | "Duration" | "SimpleQuantity" | "MoneyQuantity"
                )
            }
            "string" => matches!(actual, "code" | "id" | "markdown"),
            "uri" => matches!(actual, "canonical" | "url" | "oid" | "uuid"),
            "integer" => matches!(actual, "positiveInt" | "unsignedInt"),
            "Resource" | "DomainResource" => reference::is_type(actual),
            _ => false,
        }
}

fn type_matches(item: &Item, wanted: &str) -> bool {
    item.known_type().is_none_or(|actual| is_a(actual, wanted))
}

/// The children called `name` of `value`, arrays flattened: the element itself or, when it is
/// absent, the choice elements `name<Type>`.
fn children<'v>(value: &'v Value, name: &str) -> Vec<(&'v Value, Option<&'static str>)> {
    let Value::Object(object) = value else {
        return Vec::new();
    };
    let flatten = |v: &'v Value, ty| match v {
        Value::Array(items) => items.iter().map(|i| (i, ty)).collect(),
        Value::Null => Vec::new(),
        single => vec![(single, ty)],
    };
    if let Some(v) = object.get(name) {
        return flatten(v, None);
    }
    object
        .iter()
        .filter_map(|(key, v)| {
            let suffix = key.strip_prefix(name)?;
            if !suffix.starts_with(|c: char| c.is_ascii_uppercase()) {
                return None;
            }
            let ty = fhir_format::choice_type(suffix)?;
            Some(flatten(v, Some(ty)))
        })
        .flatten()
        .collect()
}

/// The boolean of a collection: empty is unknown, a lone boolean is itself, anything else
/// is true.
fn truth(items: &[Item]) -> Option<bool> {
    match items {
        [] => None,
        [item] => Some(item.value.as_bool().unwrap_or(true)),
        _ => Some(true),
    }
}

fn boolean<'a>(b: Option<bool>) -> Vec<Item<'a>> {
    b.map(|b| Item::owned(Value::Bool(b))).into_iter().collect()
}

struct Scope<'a> {
    root: &'a Value,
}

impl<'a> Scope<'a> {
    fn eval(&self, expr: &Expr, focus: &[Item<'a>]) -> Vec<Item<'a>> {
        match expr {
            Expr::This => focus.to_vec(),
            Expr::Literal(v) => vec![Item::owned(v.clone())],
            Expr::Name(name) if reference::is_type(name) => focus
                .iter()
                .filter(|item| {
                    item.value
                        .get("resourceType")
                        .and_then(Value::as_str)
                        .is_some_and(|rt| is_a(rt, name))
                })
                .cloned()
                .collect(),
            Expr::Name(name) => self.members(focus, name),
            Expr::Member(base, name) => self.members(&self.eval(base, focus), name),
            Expr::Index(base, index) => self
                .eval(base, focus)
                .into_iter()
                .nth(*index)
                .into_iter()
                .collect(),
            Expr::As(base, ty) => self
                .eval(base, focus)
                .into_iter()
                .filter(|i| type_matches(i, ty))
                .collect(),
            Expr::Is(base, ty) => match self.eval(base, focus).as_slice() {
                [item] => boolean(Some(type_matches(item, ty))),
                _ => Vec::new(),
            },
            Expr::Union(left, right) => {
                let mut items = self.eval(left, focus);
                for item in self.eval(right, focus) {
                    if !items.iter().any(|i| i.value == item.value) {
                        items.push(item);
                    }
                }
                items
            }
            Expr::Equals(left, right, negated) => {
                let (left, right) = (self.eval(left, focus), self.eval(right, focus));
                if left.is_empty() || right.is_empty() {
                    return Vec::new();
                }
                let equal = left.len() == right.len()
                    && left.iter().zip(&right).all(|(l, r)| l.value == r.value);
                boolean(Some(equal != *negated))
            }
            Expr::And(left, right) => {
                let (left, right) = (
                    truth(&self.eval(left, focus)),
                    truth(&self.eval(right, focus)),
                );
                boolean(match (left, right) {
                    (Some(false), _) | (_, Some(false)) => Some(false),
                    (Some(true), Some(true)) => Some(true),
                    _ => None,
                })
            }
            Expr::Or(left, right) => {
                let (left, right) = (
                    truth(&self.eval(left, focus)),
                    truth(&self.eval(right, focus)),
                );
                boolean(match (left, right) {
                    (Some(true), _) | (_, Some(true)) => Some(true),
                    (Some(false), Some(false)) => Some(false),
                    _ => None,
                })
            }
            Expr::Call(base, function) => self.call(self.eval(base, focus), function),
        }
    }

    fn members(&self, focus: &[Item<'a>], name: &str) -> Vec<Item<'a>> {
        let mut out = Vec::new();
        for item in focus {
            match &item.value {
                Cow::Borrowed(value) => out.extend(
                    children(value, name)
                        .into_iter()
                        .map(|(v, ty)| Item::borrowed(v, ty)),
                ),
                Cow::Owned(value) => {
                    out.extend(children(value, name).into_iter().map(|(v, ty)| Item {
                        value: Cow::Owned(v.clone()),
                        type_name: ty.map(Cow::Borrowed),
                    }))
                }
            }
        }
        out
    }

    fn call(&self, items: Vec<Item<'a>>, function: &Function) -> Vec<Item<'a>> {
        let holds = |item: &Item<'a>, criteria: &Expr| {
            truth(&self.eval(criteria, std::slice::from_ref(item))) == Some(true)
        };
        match function {
            Function::Where(criteria) => items.into_iter().filter(|i| holds(i, criteria)).collect(),
            Function::Exists(None) => boolean(Some(!items.is_empty())),
            Function::Exists(Some(criteria)) => {
                boolean(Some(items.iter().any(|i| holds(i, criteria))))
            }
            Function::Empty => boolean(Some(items.is_empty())),
            Function::Not => boolean(truth(&items).map(|b| !b)),
            Function::First => items.into_iter().take(1).collect(),
            Function::OfType(ty) | Function::As(ty) => {
                items.into_iter().filter(|i| type_matches(i, ty)).collect()
            }
            Function::Is(ty) => match items.as_slice() {
                [item] => boolean(Some(type_matches(item, ty))),
                _ => Vec::new(),
            },
            Function::Extension(url) => self
                .members(&items, "extension")
                .into_iter()
                .filter(|e| e.value.get("url").and_then(Value::as_str) == Some(url.as_str()))
                .collect(),
            Function::Resolve => items.iter().filter_map(|item| self.resolve(item)).collect(),
        }
    }

    /// What a reference points to, as far as the resource itself tells: a contained resource,
    /// or an empty item that carries the target type. Unknown targets resolve to nothing.
    fn resolve(&self, item: &Item<'a>) -> Option<Item<'a>> {
        let Cow::Borrowed(value) = item.value else {
            return None;
        };
        let text = match value {
            Value::String(s) => Some(s.as_str()),
            _ => value.get("reference").and_then(Value::as_str),
        };
        if let Some(id) = text.and_then(|t| t.strip_prefix('#')) {
            return self
                .root
                .get("contained")
                .and_then(Value::as_array)?
                .iter()
                .find(|c| c.get("id").and_then(Value::as_str) == Some(id))
                .map(|c| Item::borrowed(c, None));
        }
        let target_type = text
            .and_then(|t| reference::parse(t).resource_type)
            .or_else(|| value.get("type").and_then(Value::as_str))?;
        Some(Item {
            value: Cow::Owned(Value::Null),
            type_name: Some(Cow::Borrowed(target_type)),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn eval(expression: &str, resource: &Value) -> Vec<Value> {
        let expr = compile(expression).unwrap();
        evaluate(&expr, resource)
            .into_iter()
            .map(|i| i.value.into_owned())
            .collect()
    }

    #[test]
    fn every_registry_expression_compiles() {
        let failures: Vec<String> = registry::all()
            .iter()
            .filter(|p| p.is_indexed())
            .filter_map(|p| match compiled(p.expression) {
                Some(Ok(_)) => None,
                Some(Err(e)) => Some(format!("{} {}: {e}", p.resource_type, p.code)),
                None => Some(format!("{} {}: not cached", p.resource_type, p.code)),
            })
            .collect();
        assert!(failures.is_empty(), "{failures:#?}");
    }

    #[test]
    fn compile_errors() {
        for bad in [
            "Patient.name.matches('x')",
            "Patient.",
            "Patient.name[x]",
            "(Patient.name",
            "Patient.name as",
            "Patient.name + 1",
            "'open",
            "Patient.extension(1)",
        ] {
            assert!(compile(bad).is_err(), "{bad}");
        }
        let e = compile("Patient.name.matches('x')").unwrap_err();
        assert_eq!(e.offset, 13);
        assert!(e.to_string().contains("unsupported function `matches()`"));
    }

    #[test]
    fn paths_flatten_arrays_and_skip_primitive_extensions() {
        let patient = json!({
            "resourceType": "Patient",
            "birthDate": "1941-05-17",
            "_birthDate": {"extension": [{"url": "x"}]},
            "name": [{"given": ["A", "B"]}, {"given": ["C"]}]
        });
        assert_eq!(
            eval("Patient.name.given", &patient),
            [json!("A"), json!("B"), json!("C")]
        );
        assert_eq!(eval("Patient.birthDate", &patient), [json!("1941-05-17")]);
        assert!(eval("Observation.status", &patient).is_empty());
        assert_eq!(eval("Resource.birthDate", &patient), [json!("1941-05-17")]);
        assert_eq!(eval("Patient.name[1].given", &patient), [json!("C")]);
        assert_eq!(eval("Patient.name.given.first()", &patient), [json!("A")]);
    }

    #[test]
    fn choice_elements_and_type_filters() {
        let observation = json!({
            "resourceType": "Observation",
            "valueQuantity": {"value": 72.50, "unit": "kg"},
            "effectiveDateTime": "2020-03",
            "valueSet": "not a choice",
            "component": [
                {"valueCodeableConcept": {"text": "a"}},
                {"valueString": "b"}
            ]
        });
        let quantity = [json!({"value": 72.50, "unit": "kg"})];
        assert_eq!(eval("Observation.value", &observation), quantity);
        assert_eq!(
            eval("(Observation.value as Quantity)", &observation),
            quantity
        );
        assert_eq!(
            eval("Observation.value.as(Quantity)", &observation),
            quantity
        );
        assert_eq!(
            eval("Observation.value.ofType(Quantity)", &observation),
            quantity
        );
        assert!(eval("Observation.value as CodeableConcept", &observation).is_empty());
        assert_eq!(
            eval("Observation.value is Quantity", &observation),
            [json!(true)]
        );
        assert_eq!(
            eval("Observation.value.is(FHIR.string)", &observation),
            [json!(false)]
        );
        assert_eq!(
            eval("(Observation.effective as dateTime)", &observation),
            [json!("2020-03")]
        );
        assert_eq!(
            eval(
                "(Observation.component.value as CodeableConcept).text",
                &observation
            ),
            [json!("a")]
        );
        assert_eq!(
            eval("Observation.component.value as string", &observation),
            [json!("b")]
        );
    }

    #[test]
    fn where_resolve_is() {
        let encounter = json!({
            "resourceType": "Encounter",
            "contained": [{"resourceType": "Patient", "id": "p1"}],
            "participant": [
                {"individual": {"reference": "Practitioner/1"}},
                {"individual": {"reference": "https://x/fhir/Patient/2"}},
                {"individual": {"type": "Patient", "identifier": {"value": "3"}}},
                {"individual": {"reference": "#p1"}},
                {"individual": {"reference": "urn:uuid:5", "type": "RelatedPerson"}},
                {"individual": {"display": "unknown"}}
            ]
        });
        let patients = eval(
            "Encounter.participant.individual.where(resolve() is Patient)",
            &encounter,
        );
        assert_eq!(
            patients,
            [
                json!({"reference": "https://x/fhir/Patient/2"}),
                json!({"type": "Patient", "identifier": {"value": "3"}}),
                json!({"reference": "#p1"}),
            ]
        );
        let related = eval(
            "Encounter.participant.individual.where(resolve() is RelatedPerson)",
            &encounter,
        );
        assert_eq!(
            related,
            [json!({"reference": "urn:uuid:5", "type": "RelatedPerson"})]
        );
    }

    #[test]
    fn equality_union_and_logic() {
        let patient = json!({
            "resourceType": "Patient",
            "telecom": [
                {"system": "phone", "value": "06"},
                {"system": "email", "value": "a@b.nl"}
            ],
            "name": [{"family": "X"}],
            "alias": "X"
        });
        assert_eq!(
            eval("Patient.telecom.where(system='email').value", &patient),
            [json!("a@b.nl")]
        );
        assert_eq!(
            eval("Patient.name.family | Patient.alias", &patient),
            [json!("X")]
        );
        assert_eq!(eval("Patient.telecom.exists()", &patient), [json!(true)]);
        assert_eq!(
            eval("Patient.telecom.exists(system = 'fax')", &patient),
            [json!(false)]
        );
        assert_eq!(eval("Patient.gender.empty()", &patient), [json!(true)]);
        assert_eq!(
            eval("Patient.gender.empty().not()", &patient),
            [json!(false)]
        );
        assert_eq!(
            eval(
                "Patient.telecom.where($this.system != 'phone').value",
                &patient
            ),
            [json!("a@b.nl")]
        );
        assert_eq!(
            eval("Patient.gender = 'male' or true", &patient),
            [json!(true)]
        );
        assert!(eval("Patient.gender = 'male' and true", &patient).is_empty());

        let deceased = "Patient.deceased.exists() and Patient.deceased != false";
        let alive = json!({"resourceType": "Patient"});
        assert_eq!(eval(deceased, &alive), [json!(false)]);
        let said_alive = json!({"resourceType": "Patient", "deceasedBoolean": false});
        assert_eq!(eval(deceased, &said_alive), [json!(false)]);
        let died = json!({"resourceType": "Patient", "deceasedDateTime": "2020"});
        assert_eq!(eval(deceased, &died), [json!(true)]);
    }

    #[test]
    fn extensions() {
        let goal = json!({
            "resourceType": "Goal",
            "extension": [
                {"url": "http://x/a", "valueString": "one"},
                {"url": "http://x/b", "valueCode": "two"}
            ]
        });
        assert_eq!(
            eval("Goal.extension('http://x/b').value", &goal),
            [json!("two")]
        );
        assert_eq!(
            eval(
                "Goal.extension.where(url='http://x/a').value as string",
                &goal
            ),
            [json!("one")]
        );
    }
}
