//! Reverse proxy: app registry, routing, header hygiene, upstream pool, identity propagation.
