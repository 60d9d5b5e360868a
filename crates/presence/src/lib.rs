//! SUBSCRIBE/NOTIFY/PUBLISH framework with event packages (sans-IO).
