#![no_main]
//! See smtp_proto::fuzz::reply for what this checks.
libfuzzer_sys::fuzz_target!(|data: &[u8]| smtp_proto::fuzz::reply(data));
