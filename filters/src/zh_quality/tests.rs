//! Tests of `zh_quality`.
