//! Intentionally empty: this package only hosts the end-to-end tests in `tests/`.
