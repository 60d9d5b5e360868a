//! Calls: two legs per call, forking, ring groups, CDR events (sans-IO).
