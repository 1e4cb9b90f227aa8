//! The one integration-test binary: every test module is declared here.

mod common;

mod canonical;
mod fnmatch;
mod keys;
mod check;
mod bench;
mod sidecar;
mod client;
mod fake_coordinator;
mod signing;
mod hook;
mod man;
mod workflow;
mod walkthrough;
