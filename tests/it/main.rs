//! The one integration-test binary: every test module is declared here.

mod common;

mod bench;
mod canonical;
mod check;
mod client;
mod edge;
mod fake_coordinator;
mod fnmatch;
mod hook;
mod keys;
mod lost_answers;
mod man;
mod review;
mod sidecar;
mod signing;
mod state;
mod walkthrough;
mod workflow;
