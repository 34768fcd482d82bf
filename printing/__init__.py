"""Dispensing labels (调剂标签) rendered as PDF in Chinese; never imports Qt."""
