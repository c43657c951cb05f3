//! `govgate check`: validate a configuration and everything it references.
