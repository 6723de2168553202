"""Pure domain core: parse, validate, decide, edit, record. No I/O, no clock reads."""
