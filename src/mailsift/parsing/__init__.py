"""MIME decoding: raw message bytes in, a DecodedEmail with bodies, headers and defects out."""

from mailsift.parsing.decode import decode_message
from mailsift.parsing.identity import message_identity
from mailsift.parsing.limits import ParseLimits
from mailsift.parsing.model import Attachment, DecodedEmail, Defect

__all__ = [
    "Attachment",
    "DecodedEmail",
    "Defect",
    "ParseLimits",
    "decode_message",
    "message_identity",
]
