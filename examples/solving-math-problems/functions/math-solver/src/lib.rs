//! The solving-math-problems example's function: solves one arithmetic
//! expression, which the workflow's ForEach state asks once per element of
//! its input's `expressions`.
//!
//! Input `{"expression": "10x3"}`, output the number (`30`). The evaluator is
//! in [`arithmetic`]; an expression it cannot solve fails the call with
//! `InvalidExpression`, `DivisionByZero` or `Overflow`, so a workflow can
//! route each kind of mistake differently.

mod arithmetic;

use serde::Deserialize;
use swirl_guest::{Context, Failure};

#[derive(Deserialize)]
struct Problem {
    expression: String,
}

fn solve(problem: Problem, _ctx: &Context) -> Result<serde_json::Value, Failure> {
    let value = arithmetic::evaluate(&problem.expression).map_err(|error| {
        Failure::new(
            error.code(),
            format!("cannot solve '{}': {error}", problem.expression),
        )
    })?;
    let answer = arithmetic::to_json_number(value);
    swirl_guest::log::info(&format!("{} = {answer}", problem.expression));
    Ok(answer)
}

swirl_guest::export!(solve);
