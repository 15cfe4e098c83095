//! A small evaluator for arithmetic expressions: decimal numbers, `+ - * /`,
//! unary signs and parentheses, with the usual precedence and left
//! associativity (`8-3-2` is 3, `2+3*4` is 14).
//!
//! It is a recursive-descent parser that computes while it parses: one value
//! is all the caller wants, so no syntax tree is built. The grammar:
//!
//! ```text
//! expression = term (("+" | "-") term)*
//! term       = factor (("*" | "x" | "×" | "/") factor)*
//! factor     = ("+" | "-") factor | number | "(" expression ")"
//! number     = digits ["." digits] | "." digits
//! ```
//!
//! `x` and `×` multiply because people write them (the specification's own
//! example input is `10x3`). Spaces are allowed anywhere between tokens.

use std::fmt;

/// Deeper nesting than this is refused with an error instead of recursing on:
/// a guest that overflows its stack traps, and the caller would only learn
/// `SYS.Fail`, not what was wrong with the expression.
const MAX_DEPTH: usize = 64;

/// Why an expression has no value. Positions count characters from 1.
#[derive(Debug, Clone, PartialEq)]
pub enum EvalError {
    Syntax { position: usize, message: String },
    DivisionByZero { position: usize },
    TooDeep,
    Overflow,
}

impl EvalError {
    /// The failure code a workflow's `onError` or `retry` can match on.
    pub fn code(&self) -> &'static str {
        match self {
            EvalError::Syntax { .. } | EvalError::TooDeep => "InvalidExpression",
            EvalError::DivisionByZero { .. } => "DivisionByZero",
            EvalError::Overflow => "Overflow",
        }
    }
}

impl fmt::Display for EvalError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EvalError::Syntax { position, message } => {
                write!(f, "{message} at character {position}")
            }
            EvalError::DivisionByZero { position } => {
                write!(f, "division by zero at character {position}")
            }
            EvalError::TooDeep => write!(f, "nested deeper than {MAX_DEPTH} levels"),
            EvalError::Overflow => write!(f, "the result is too large for a number"),
        }
    }
}

/// Evaluates `text`, e.g. `"(1 + 2) * 4"` → 12.
pub fn evaluate(text: &str) -> Result<f64, EvalError> {
    let mut parser = Parser {
        chars: text.chars().collect(),
        pos: 0,
        depth: 0,
    };
    parser.skip_spaces();
    if parser.peek().is_none() {
        return Err(parser.syntax("the expression is empty"));
    }
    let value = parser.expression()?;
    parser.skip_spaces();
    if let Some(c) = parser.peek() {
        return Err(parser.syntax(&format!("unexpected '{c}'")));
    }
    if value.is_finite() {
        Ok(value)
    } else {
        Err(EvalError::Overflow)
    }
}

/// The JSON form of a result: integral values as integers (`10`, not
/// `10.0`), others rounded to 15 significant digits, the precision a double
/// carries, so that `0.1+0.2` reads `0.3` rather than `0.30000000000000004`.
pub fn to_json_number(value: f64) -> serde_json::Value {
    // Below 2^53 every integer is exact in a double, so the cast loses nothing.
    const EXACT_INTEGERS: f64 = 9_007_199_254_740_992.0;
    if value.fract() == 0.0 && value.abs() < EXACT_INTEGERS {
        return serde_json::Value::from(value as i64);
    }
    let rounded: f64 = format!("{value:.14e}").parse().unwrap_or(value);
    serde_json::Number::from_f64(rounded)
        .map(serde_json::Value::Number)
        .unwrap_or(serde_json::Value::Null)
}

struct Parser {
    chars: Vec<char>,
    pos: usize,
    depth: usize,
}

impl Parser {
    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }

    fn skip_spaces(&mut self) {
        while self.peek().is_some_and(char::is_whitespace) {
            self.pos += 1;
        }
    }

    fn syntax(&self, message: &str) -> EvalError {
        EvalError::Syntax {
            position: self.pos + 1,
            message: message.to_string(),
        }
    }

    fn expression(&mut self) -> Result<f64, EvalError> {
        let mut value = self.term()?;
        loop {
            self.skip_spaces();
            match self.peek() {
                Some('+') => {
                    self.pos += 1;
                    value += self.term()?;
                }
                Some('-') => {
                    self.pos += 1;
                    value -= self.term()?;
                }
                _ => return Ok(value),
            }
        }
    }

    fn term(&mut self) -> Result<f64, EvalError> {
        let mut value = self.factor()?;
        loop {
            self.skip_spaces();
            match self.peek() {
                Some('*' | 'x' | 'X' | '×') => {
                    self.pos += 1;
                    value *= self.factor()?;
                }
                Some('/') => {
                    let operator_position = self.pos + 1;
                    self.pos += 1;
                    let divisor = self.factor()?;
                    if divisor == 0.0 {
                        return Err(EvalError::DivisionByZero {
                            position: operator_position,
                        });
                    }
                    value /= divisor;
                }
                _ => return Ok(value),
            }
        }
    }

    fn factor(&mut self) -> Result<f64, EvalError> {
        if self.depth >= MAX_DEPTH {
            return Err(EvalError::TooDeep);
        }
        self.depth += 1;
        let value = self.factor_inner();
        self.depth -= 1;
        value
    }

    fn factor_inner(&mut self) -> Result<f64, EvalError> {
        self.skip_spaces();
        match self.peek() {
            Some('+') => {
                self.pos += 1;
                self.factor()
            }
            Some('-') => {
                self.pos += 1;
                Ok(-self.factor()?)
            }
            Some('(') => {
                self.pos += 1;
                let value = self.expression()?;
                self.skip_spaces();
                if self.peek() != Some(')') {
                    return Err(self.syntax("expected ')'"));
                }
                self.pos += 1;
                Ok(value)
            }
            Some(c) if c.is_ascii_digit() || c == '.' => self.number(),
            Some(c) => Err(self.syntax(&format!("expected a number or '(', found '{c}'"))),
            None => Err(self.syntax("expected a number or '(' after the operator")),
        }
    }

    fn number(&mut self) -> Result<f64, EvalError> {
        let start = self.pos;
        while self.peek().is_some_and(|c| c.is_ascii_digit()) {
            self.pos += 1;
        }
        if self.peek() == Some('.') {
            self.pos += 1;
            while self.peek().is_some_and(|c| c.is_ascii_digit()) {
                self.pos += 1;
            }
        }
        let text: String = self.chars[start..self.pos].iter().collect();
        text.parse().map_err(|_| EvalError::Syntax {
            position: start + 1,
            message: format!("'{text}' is not a number"),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn value(text: &str) -> f64 {
        evaluate(text).unwrap_or_else(|e| panic!("{text}: {e}"))
    }

    #[test]
    fn solves_the_specification_examples() {
        let results: Vec<f64> = ["2+2", "4-1", "10x3", "20/2"].map(value).into();
        assert_eq!(results, [4.0, 3.0, 30.0, 10.0]);
    }

    #[test]
    fn multiplication_and_division_bind_tighter_and_operators_associate_left() {
        assert_eq!(value("2+3*4"), 14.0);
        assert_eq!(value("8-3-2"), 3.0);
        assert_eq!(value("100/10/5"), 2.0);
        assert_eq!(value("2 × 3 - 1"), 5.0);
    }

    #[test]
    fn parentheses_and_unary_signs() {
        assert_eq!(value("(1 + 2) * 4"), 12.0);
        assert_eq!(value("-(3 - 5) * -2"), -4.0);
        assert_eq!(value("--1"), 1.0);
        assert_eq!(value(" ( ( 7 ) ) "), 7.0);
        assert_eq!(value(".5 + 1.25"), 1.75);
    }

    #[test]
    fn errors_name_the_position() {
        assert_eq!(
            evaluate("2 + * 3"),
            Err(EvalError::Syntax {
                position: 5,
                message: "expected a number or '(', found '*'".into()
            })
        );
        assert_eq!(
            evaluate("(1 + 2"),
            Err(EvalError::Syntax {
                position: 7,
                message: "expected ')'".into()
            })
        );
        assert_eq!(
            evaluate("1 2").unwrap_err().to_string(),
            "unexpected '2' at character 3"
        );
        assert_eq!(evaluate("   ").unwrap_err().code(), "InvalidExpression");
        assert_eq!(evaluate("1..2").unwrap_err().code(), "InvalidExpression");
    }

    #[test]
    fn division_by_zero_is_its_own_error() {
        let error = evaluate("1 / (2 - 2)").unwrap_err();
        assert_eq!(error, EvalError::DivisionByZero { position: 3 });
        assert_eq!(error.code(), "DivisionByZero");
    }

    #[test]
    fn deep_nesting_and_overflow_are_errors_not_crashes() {
        let deep = format!("{}1{}", "(".repeat(1000), ")".repeat(1000));
        assert_eq!(evaluate(&deep), Err(EvalError::TooDeep));
        assert_eq!(evaluate(&"-".repeat(1000)), Err(EvalError::TooDeep));
        let huge = format!("1{}", "0".repeat(400));
        assert_eq!(
            evaluate(&format!("{huge}*{huge}")),
            Err(EvalError::Overflow)
        );
    }

    #[test]
    fn json_numbers_are_integers_when_integral_and_rounded_otherwise() {
        assert_eq!(to_json_number(10.0), serde_json::json!(10));
        assert_eq!(to_json_number(-0.0), serde_json::json!(0));
        assert_eq!(to_json_number(value("0.1+0.2")), serde_json::json!(0.3));
        assert_eq!(to_json_number(value("1/4")), serde_json::json!(0.25));
        assert_eq!(
            to_json_number(value("2/3")),
            serde_json::json!(0.666666666666667)
        );
    }
}
