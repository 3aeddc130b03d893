//! Example stateplug plugins.
