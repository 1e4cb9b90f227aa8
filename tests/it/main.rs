//! The one integration-test binary: every test module is declared here.

mod canonical;
mod fnmatch;
mod keys;
