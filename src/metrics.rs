//! Prometheus metrics for operations.
