"""What PDF/A-2b asks of a contract beyond embedded fonts: XMP metadata naming the
conformance level and an sRGB output intent (docs/contracts-pdf.md says what is reached).

The sRGB profile is made by LittleCMS through Pillow (`ImageCms.createProfile("sRGB")`,
588 bytes) with its creation date fixed, so the same content still gives the same PDF.
LittleCMS labels it ICC 4.4; its tags (mluc, XYZ, sf32, para) are all ICC 4.2 types, and
the header says 4.2, the version PDF 1.7 (and so PDF/A-2) names.
"""

from __future__ import annotations

import functools
from typing import Any
from xml.sax.saxutils import escape

from reportlab.pdfbase import pdfdoc

OUTPUT_CONDITION = "sRGB IEC61966-2.1"
# Info's CreationDate and ModDate in reportlab's invariant mode, which the XMP must repeat.
INVARIANT_DATE = "2000-01-01T00:00:00+00:00"
_ICC_DATE = (2000, 1, 1, 0, 0, 0)


@functools.cache
def srgb_profile() -> bytes:
    """An sRGB ICC profile (LittleCMS's built-in), the same bytes every time."""
    from PIL import ImageCms

    profile = bytearray(ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes())
    profile[8:12] = bytes([4, 0x20, 0, 0])  # version 4.2.0
    profile[24:36] = b"".join(part.to_bytes(2, "big") for part in _ICC_DATE)
    return bytes(profile)


def xmp_packet(*, title: str, author: str, subject: str, keywords: str, tool: str) -> str:
    """The XMP metadata: PDF/A-2b identification plus the Info dictionary's entries, which
    PDF/A requires to agree with it."""
    date = INVARIANT_DATE
    return f"""<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>
<x:xmpmeta xmlns:x="adobe:ns:meta/">
<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">
<rdf:Description rdf:about="" xmlns:pdfaid="http://www.aiim.org/pdfa/ns/id/">
<pdfaid:part>2</pdfaid:part>
<pdfaid:conformance>B</pdfaid:conformance>
</rdf:Description>
<rdf:Description rdf:about="" xmlns:dc="http://purl.org/dc/elements/1.1/">
<dc:format>application/pdf</dc:format>
<dc:title><rdf:Alt><rdf:li xml:lang="x-default">{escape(title)}</rdf:li></rdf:Alt></dc:title>
<dc:creator><rdf:Seq><rdf:li>{escape(author)}</rdf:li></rdf:Seq></dc:creator>
<dc:description><rdf:Alt>
<rdf:li xml:lang="x-default">{escape(subject)}</rdf:li>
</rdf:Alt></dc:description>
</rdf:Description>
<rdf:Description rdf:about="" xmlns:xmp="http://ns.adobe.com/xap/1.0/">
<xmp:CreatorTool>{escape(tool)}</xmp:CreatorTool>
<xmp:CreateDate>{date}</xmp:CreateDate>
<xmp:ModifyDate>{date}</xmp:ModifyDate>
<xmp:MetadataDate>{date}</xmp:MetadataDate>
</rdf:Description>
<rdf:Description rdf:about="" xmlns:pdf="http://ns.adobe.com/pdf/1.3/">
<pdf:Producer>{escape(tool)}</pdf:Producer>
<pdf:Keywords>{escape(keywords)}</pdf:Keywords>
<pdf:Trapped>False</pdf:Trapped>
</rdf:Description>
</rdf:RDF>
</x:xmpmeta>
<?xpacket end="w"?>"""


def _metadata_stream(packet: str) -> pdfdoc.PDFStream:
    return pdfdoc.PDFStream(
        dictionary=pdfdoc.PDFDictionary(
            {"Type": pdfdoc.PDFName("Metadata"), "Subtype": pdfdoc.PDFName("XML")}
        ),
        content=packet.encode("utf-8"),
        filters=None,  # none: PDF/A keeps metadata readable without decoding
    )


def _output_intent(document: Any) -> pdfdoc.PDFDictionary:
    icc = pdfdoc.PDFStream(
        dictionary=pdfdoc.PDFDictionary({"N": 3}),
        content=srgb_profile(),
        filters=[pdfdoc.PDFZCompress],
    )
    return pdfdoc.PDFDictionary(
        {
            "Type": pdfdoc.PDFName("OutputIntent"),
            "S": pdfdoc.PDFName("GTS_PDFA1"),
            "OutputConditionIdentifier": pdfdoc.PDFString(OUTPUT_CONDITION),
            "Info": pdfdoc.PDFString(OUTPUT_CONDITION),
            "RegistryName": pdfdoc.PDFString("http://www.color.org"),
            "DestOutputProfile": document.Reference(icc, "sRGBProfile"),
        }
    )


def mark(canvas: Any, *, title: str, author: str, subject: str, keywords: str, tool: str) -> None:
    """Add the XMP metadata and the sRGB output intent to the catalog of the document
    `canvas` draws. reportlab's catalog writes only the keys it knows: OutputIntents is
    added to that list for this document alone."""
    document = canvas._doc
    catalog = document.Catalog
    if getattr(catalog, "Metadata", None) is not None:
        return
    packet = xmp_packet(title=title, author=author, subject=subject, keywords=keywords, tool=tool)
    catalog.Metadata = _metadata_stream(packet)
    catalog.OutputIntents = pdfdoc.PDFArray([_output_intent(document)])
    catalog.__NoDefault__ = [*pdfdoc.PDFCatalog.__NoDefault__, "OutputIntents"]
