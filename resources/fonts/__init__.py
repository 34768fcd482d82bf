"""The CJK font shipped with the workstation (WenQuanYi Micro Hei, TrueType outlines) and its licence."""
