//! swirl's black-box tests, one module per topic, in one test binary.

mod functions;
mod functions_cli;
mod workflows;
mod workflows_cli;
