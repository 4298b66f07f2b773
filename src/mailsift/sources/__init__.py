"""Mail sources: folders of .eml files, mbox files and Maildirs, read as raw bytes.

Sources are read-only: messages are never written back, because round-tripping through the
stdlib's generator rewrites headers and breaks signatures.
"""

from mailsift.sources.detect import SourceFormat, detect_format, open_source
from mailsift.sources.model import RawMessage

__all__ = ["RawMessage", "SourceFormat", "detect_format", "open_source"]
