//! The canonical formatter (written next).
