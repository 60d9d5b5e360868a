//! The operator API over HTTP (buddy list, push, SMS out).
