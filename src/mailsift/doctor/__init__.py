"""`mailsift doctor`: check each layer between mailsift and its servers, with a fix per failure.

Langfuse is checked bottom-up (configuration, DNS, TCP, TLS, authentication, server
version and write path, a canary trace read back), then the LLM server.
"""

from mailsift.doctor.model import CheckResult, DoctorReport, Layer, Status
from mailsift.doctor.report import print_report, to_json
from mailsift.doctor.runner import DoctorOptions, run_doctor

__all__ = [
    "CheckResult",
    "DoctorOptions",
    "DoctorReport",
    "Layer",
    "Status",
    "print_report",
    "run_doctor",
    "to_json",
]
