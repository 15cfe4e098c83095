//! swirl's black-box tests, one module per topic, in one test binary.

mod calls;
mod conformance;
mod console;
mod docs;
mod engine;
mod engine_crash;
mod examples_functions;
mod examples_run;
mod functions;
mod functions_cli;
mod ingress;
mod interop;
mod languages;
mod new_app;
mod server;
mod soak;
mod spec_examples;
mod workflows;
mod workflows_cli;
