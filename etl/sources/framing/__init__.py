"""Framing readers shared by the formats that need them: each turns pieces of whole lines into
an Arrow table of the format's raw fields plus `input_line`, and the lines it could not frame."""
