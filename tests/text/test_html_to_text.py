"""html_to_text on small hand-written mails and on the Brussels Airlines booking page."""

from __future__ import annotations

from pathlib import Path

import pytest

from mailsift.text import LlmText, html_to_text

PREHEADER_MAIL = """
<html><body>
<div style="display:none;font-size:1px;max-height:0;overflow:hidden;mso-hide:all">
  Your order #A-1042 has shipped&zwnj;&nbsp;&zwnj;&nbsp;&#847;&zwnj;&nbsp;&zwnj;&nbsp;
</div>
<h1>Hello Sam</h1>
<p>Your parcel is on its way.</p>
<div style="display: none !important">mobile-only menu</div>
</body></html>
"""

LINE_ITEMS_MAIL = """
<table role="presentation" width="600"><tr><td>
  <table role="presentation"><tr><td>
    <h2>Order summary</h2>
    <table>
      <tr><th>Item</th><th>Qty</th><th>Price</th></tr>
      <tr><td>Blue mug</td><td>2</td><td>12.50</td></tr>
      <tr><td><a href="https://shop.example/p/tea">Green tea</a></td><td>1</td><td>4.99</td></tr>
      <tr><td>Shipping</td><td></td><td>3.00</td></tr>
    </table>
  </td></tr></table>
</td></tr></table>
"""


def lines_of(result: LlmText) -> list[str]:
    return result.text.split("\n")


def test_preheader_returned_separately() -> None:
    result = html_to_text(PREHEADER_MAIL)

    assert result.preheader == "Your order #A-1042 has shipped"
    assert "shipped" not in result.text
    assert "mobile-only menu" not in result.text
    assert result.removed_hidden_elements == 2
    assert lines_of(result) == ["Hello Sam", "", "Your parcel is on its way."]


@pytest.mark.parametrize(
    "style",
    [
        "visibility:hidden",
        "max-height:0px;overflow:hidden",
        "display:none;mso-hide:all",
        "font-size:0",
        "font-size:1px;line-height:1px",
        "opacity:0",
    ],
)
def test_hidden_styles_remove_text(style: str) -> None:
    result = html_to_text(f'<p>Visible</p><span style="{style}">secret words</span>')

    assert result.text == "Visible"
    assert result.removed_hidden_elements == 1


def test_bulletproof_button_text_stays() -> None:
    # `mso-hide:all` hides the HTML link only in Outlook, which renders the VML copy
    # from the conditional comment instead. Every other client shows the link.
    html = (
        '<div><!--[if mso]><v:roundrect href="https://shop.example/t/1"><center>Track package'
        "</center></v:roundrect><![endif]-->"
        '<a href="https://shop.example/t/1" style="display:inline-block;mso-hide:all">'
        "Track package</a></div>"
        '<div style="max-height:0">Shown, because nothing clips the overflow</div>'
    )

    result = html_to_text(html)

    assert result.text == "Track package\nShown, because nothing clips the overflow"
    assert result.removed_hidden_elements == 0


def test_hidden_attribute_removes_text() -> None:
    result = html_to_text("<p>Visible</p><div hidden>secret words</div>")

    assert result.text == "Visible"
    assert result.removed_hidden_elements == 1


def test_zero_font_wrapper_keeps_content() -> None:
    # Responsive templates zero the font size of column wrappers and restore it inside.
    html = (
        '<div style="font-size:0px;text-align:left">'
        '<div style="font-size:14px">Invoice INV-77 is due on 3 March</div></div>'
    )

    result = html_to_text(html)

    assert result.text == "Invoice INV-77 is due on 3 March"
    assert result.removed_hidden_elements == 0


@pytest.mark.parametrize(
    "pixel",
    [
        '<img src="https://mail.example/track/open.php?u=1" alt="">',
        '<img src="https://t.example/o/136/b16ba30df6.gif" width="1" height="1" alt="">',
        '<img src="https://t.example/img.gif" width="0" height="0">',
        '<img src="https://t.example/img.gif" style="height:1px !important;width:1px">',
        '<img src="https://t.example/img.gif" style="display:none" alt="tracker">',
        '<img src="https://u.example/wf/open?upn=abc">',
        '<img src="https://t.example/o.gif?id=9">',
    ],
)
def test_tracking_pixel_is_removed(pixel: str) -> None:
    html = f'<p>Thanks for your order</p>{pixel}<img src="logo.png" alt="Acme Store" width="120">'

    result = html_to_text(html)

    assert result.removed_tracking_pixels == 1
    assert lines_of(result) == ["Thanks for your order", "", "Acme Store"]


def test_pixel_named_image_with_alt_kept() -> None:
    result = html_to_text('<img src="https://cdn.example/pixel-art-logo.png" alt="Pixel Café">')

    assert result.text == "Pixel Café"
    assert result.removed_tracking_pixels == 0


def test_mso_conditional_comments_dropped() -> None:
    html = (
        "<body><!--[if mso]><table><tr><td>Outlook only block</td></tr></table><![endif]-->"
        "<!--[if !mso]><!--><p>Shown everywhere else</p><!--<![endif]-->"
        "<!--[if gte mso 9]><xml><o:OfficeDocumentSettings/></xml><![endif]-->"
        "<p>Order confirmed</p></body>"
    )

    result = html_to_text(html)

    assert lines_of(result) == ["Shown everywhere else", "", "Order confirmed"]
    assert "Outlook" not in result.text
    assert "endif" not in result.text


def test_head_style_scripts_dropped() -> None:
    html = (
        "<html><head><title>Receipt</title><style>p {color: red}</style></head><body>"
        '<script type="application/ld+json">{"@type": "Order"}</script>'
        "<noscript>enable scripts</noscript><template><p>template text</p></template>"
        "<p>Total: 9.99 EUR</p></body></html>"
    )

    assert html_to_text(html).text == "Total: 9.99 EUR"


def test_line_item_rows_on_one_line() -> None:
    result = html_to_text(LINE_ITEMS_MAIL)

    assert lines_of(result) == [
        "Order summary",
        "",
        "Item | Qty | Price",
        "Blue mug | 2 | 12.50",
        "Green tea | 1 | 4.99",
        "Shipping | | 3.00",
    ]


def test_nested_layout_tables_flattened() -> None:
    html = (
        "<table><tr><td><table><tr><td>"
        "<table><tr><td>Welcome back</td></tr><tr><td>Your code is 481516</td></tr></table>"
        "</td></tr></table></td></tr>"
        "<tr><td><table><tr><td>Footer text</td></tr></table></td></tr></table>"
    )

    result = html_to_text(html)

    assert lines_of(result) == ["Welcome back", "Your code is 481516", "Footer text"]


def test_headings_and_lists_get_own_lines() -> None:
    html = (
        "<div>Intro <b>text</b><h2>Next steps</h2>Then"
        "<ol><li>Pack the item</li><li><p>Print the label</p></li></ol>"
        "<ul><li>Questions? <a href='https://help.example'>Contact us</a></li></ul></div>"
    )

    result = html_to_text(html)

    assert lines_of(result) == [
        "Intro text",
        "",
        "Next steps",
        "",
        "Then",
        "1. Pack the item",
        "",
        "2. Print the label",
        "",
        "- Questions? Contact us",
    ]


def test_zero_width_characters_removed() -> None:
    html = "<p>Order 12\u200c34\u200c56 for sam\u200b@example.com\u00ad</p><p>a&zwnj;b&#xFEFF;c</p>"

    result = html_to_text(html)

    assert lines_of(result) == ["Order 123456 for sam@example.com", "", "abc"]


def test_whitespace_collapsed() -> None:
    html = (
        "<p>Total:&nbsp;&nbsp;12.50&nbsp;EUR   </p>\n\n\n<div>\n\n</div><br><br><br><p> Paid </p>"
    )

    result = html_to_text(html)

    assert result.text == "Total: 12.50 EUR\n\nPaid"


def test_bare_ampersands_survive() -> None:
    result = html_to_text("<p>AT&T and Check&Go &amp; more</p>")

    assert result.text == "AT&T and Check&Go & more"


def test_pre_keeps_line_breaks() -> None:
    result = html_to_text("<pre>Line one\nLine two\n\nLine four</pre>")

    assert lines_of(result) == ["Line one", "Line two", "Line four"]


def test_empty_and_text_only_inputs() -> None:
    assert html_to_text("").text == ""
    assert html_to_text("plain words, no tags").text == "plain words, no tags"


def test_deep_nesting_renders_flat() -> None:
    html = "<div>" * 5000 + "deep text" + "</div>" * 5000

    result = html_to_text(html)

    assert result.text == "deep text"


def test_brussels_legs_on_one_line(kitinerary: Path) -> None:
    html = (kitinerary / "brusselsairlines__brusselsairlines_1.html").read_text(encoding="utf-8")

    lines = lines_of(html_to_text(html))

    outbound = [line for line in lines if "SN 2588" in line]
    inbound = [line for line in lines if "SN 2591" in line]
    assert len(outbound) == 1
    assert len(inbound) == 1
    assert outbound[0].startswith("Berlin, Tegel Airport, DE / Fri, 03 Feb 2017, 18:25 | ")
    assert "| Brussels Airport, BE / Fri, 03 Feb 2017, 19:45 |" in outbound[0]
    assert inbound[0].startswith("Brussels Airport, BE / Sun, 05 Feb 2017, 20:40 | ")
    assert "| Berlin, Tegel Airport, DE / Sun, 05 Feb 2017, 22:00 |" in inbound[0]
    assert "Booking reference: | XXX007" in lines
    assert "Ticket number | 082-1234567890" in lines
    assert "Brussels Airlines Logo" in lines[0]
