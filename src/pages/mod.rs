//! Branded HTML pages users see (Vietnamese first, English below).
