//! `govgate demo`: the gateway on embedded defaults with two built-in demo apps.
