#![no_main]
//! See smtp_proto::fuzz::client for what this checks.
libfuzzer_sys::fuzz_target!(|data: &[u8]| smtp_proto::fuzz::client(data));
