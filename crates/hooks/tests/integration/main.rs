//! Integration tests of the hooks client against a real HTTP server (axum on 127.0.0.1:0)
//! that checks payloads and auth and answers from a script.

mod calls;
mod failures;
mod fake_api;
