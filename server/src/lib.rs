//! The Switchyard server library (work in progress).
