"""The CATAIR record layer: layouts (data), typed records, and the codec that joins them."""
