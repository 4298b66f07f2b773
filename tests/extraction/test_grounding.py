from mailsift.extraction.grounding import check_grounding

SOURCE = (
    "Order NW\u2011482913 placed. Total: 1,234.50 EUR. Tax 5.00. "
    "Tracking 1Z 4F9W 0A03 and code 48\u200b2915."
)


def test_identifiers_found_despite_separators_and_zero_width():
    fields = {"tracking_number": "1Z4F9W0A03", "code": "482915"}

    assert check_grounding(fields, SOURCE) == []


def test_invented_identifier_is_flagged():
    flags = check_grounding({"order_id": "NW-999999"}, SOURCE)

    assert flags == [{"field": "order_id", "value": "NW-999999", "reason": "not in source text"}]


def test_amounts_match_printed_forms():
    assert check_grounding({"total": "1234.5", "tax": 5}, SOURCE) == []


def test_amount_inside_larger_number_is_flagged():
    flags = check_grounding({"line_items": [{"name": "x", "unit_price": "234.5"}]}, SOURCE)

    assert [flag["field"] for flag in flags] == ["line_items[0].unit_price"]
