//! The one integration-test binary: every test module is declared here.

mod common;

mod agent;
mod artifact;
mod artifact_server;
mod bench;
mod bigfile;
mod canonical;
mod check;
mod client;
mod competition;
mod edge;
mod exits;
mod fake_coordinator;
mod fnmatch;
mod hook;
mod hostile;
mod keys;
mod lost_answers;
mod man;
mod review;
mod sidecar;
mod signing;
mod state;
mod verify;
mod walkthrough;
mod workflow;
