"""The proposal as a PDF, drawn with reportlab's platypus from the same `Proposal` as the page.

Reportlab's standard Helvetica covers the Windows-1252 set (umlauts, ß, €, typographic quotes),
which is all an English or German offer needs, so no font files are shipped.
"""
from io import BytesIO
from xml.sax.saxutils import escape

from django.contrib.staticfiles import finders
from django.utils import timezone, translation
from django.utils.formats import date_format
from django.utils.translation import gettext as _
from reportlab.lib import colors
from reportlab.lib.enums import TA_RIGHT
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle, getSampleStyleSheet
from reportlab.lib.units import mm
from reportlab.platypus import Image, KeepTogether, Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

from . import formatting as fmt
from .documents import LineView, Proposal
from .totals import Totals

MARGIN = 18 * mm
INK = colors.HexColor("#212529")
MUTED = colors.HexColor("#6c757d")
RULE = colors.HexColor("#dee2e6")
ACCENT = colors.HexColor("#0d6efd")
# The frame keeps 6 pt padding on each side; tables fill exactly what is left, so their edges
# line up with the paragraphs above them.
FRAME_WIDTH = A4[0] - 2 * MARGIN - 12
_PARTS = [66, 15, 17, 24, 15, 13, 24]
COL_WIDTHS = [FRAME_WIDTH * part / sum(_PARTS) for part in _PARTS]


def _styles():
    base = getSampleStyleSheet()
    return {
        "body": ParagraphStyle("body", parent=base["BodyText"], fontName="Helvetica", fontSize=9.5, leading=13.5, textColor=INK),
        "small": ParagraphStyle("small", parent=base["BodyText"], fontName="Helvetica", fontSize=8, leading=10.5, textColor=MUTED),
        "cell": ParagraphStyle("cell", parent=base["BodyText"], fontName="Helvetica", fontSize=8.5, leading=11, textColor=INK),
        "title": ParagraphStyle("title", parent=base["Title"], fontName="Helvetica-Bold", fontSize=19, leading=23,
                                alignment=0, spaceAfter=2 * mm, textColor=INK),
        "h2": ParagraphStyle("h2", parent=base["Heading2"], fontName="Helvetica-Bold", fontSize=12, leading=15,
                             spaceBefore=5 * mm, spaceAfter=2 * mm, textColor=INK),
        "company": ParagraphStyle("company", parent=base["BodyText"], fontName="Helvetica-Bold", fontSize=11,
                                  leading=14, alignment=TA_RIGHT, textColor=INK),
    }


# Reportlab re-measures a whole paragraph each time it splits it at a page end, so one paragraph
# of many pages takes time that grows with the square of its length. Long text is drawn as a run
# of short paragraphs instead, cut where the text has line breaks (invisible: no space between
# them), and a line longer than LINE_CHUNK characters is cut at a space.
BLOCK_LINES = 30
BLOCK_CHARS = 2_000
LINE_CHUNK = 2_000


def _para(text: str, style) -> Paragraph:
    return Paragraph(escape(text or "").replace("\n", "<br/>"), style)


def _text_lines(text: str):
    for line in (text or "").split("\n"):
        while len(line) > LINE_CHUNK:
            cut = line.rfind(" ", 0, LINE_CHUNK) + 1 or LINE_CHUNK
            yield line[:cut]
            line = line[cut:]
        yield line


def _paras(text: str, style) -> list[Paragraph]:
    """`text` as paragraphs of at most BLOCK_LINES lines, which flow over pages (also in a table cell)."""
    following = ParagraphStyle(f"{style.name}-cont", parent=style, spaceBefore=0)
    blocks, block, size = [], [], 0
    for line in _text_lines(text):
        block.append(line)
        size += len(line)
        if len(block) >= BLOCK_LINES or size >= BLOCK_CHARS:
            blocks.append(block)
            block, size = [], 0
    if block or not blocks:
        blocks.append(block)
    return [
        Paragraph("<br/>".join(escape(line) for line in lines) or "", style if i == 0 else following)
        for i, lines in enumerate(blocks)
    ]


def _logo(path: str):
    found = finders.find(path) if path else None
    if not found:
        return ""
    image = Image(found)
    ratio = image.imageWidth / float(image.imageHeight or 1)
    image.drawHeight = 14 * mm
    image.drawWidth = 14 * mm * ratio
    image.hAlign = "LEFT"
    return image


def _lines_table(lines: list[LineView], currency: str, styles) -> Table:
    header = [_("Description"), _("Qty"), _("Unit"), _("Unit price"), _("Discount"), _("Tax"), _("Amount")]
    rows = [header]
    for view in lines:
        line = view.line
        rows.append([
            _paras(line.description, styles["cell"]),
            fmt.quantity(line.quantity),
            line.get_unit_display(),
            fmt.number(line.unit_price),
            fmt.percent(line.discount_percent) if view.has_discount else "–",
            fmt.percent(line.tax_rate),
            fmt.number(view.net),
        ])
    # splitInRow: a description taller than a page continues on the next page.
    table = Table(rows, colWidths=COL_WIDTHS, repeatRows=1, splitInRow=1)
    table.setStyle(TableStyle([
        ("FONT", (0, 0), (-1, 0), "Helvetica-Bold", 8),
        ("TEXTCOLOR", (0, 0), (-1, 0), MUTED),
        ("FONT", (1, 1), (-1, -1), "Helvetica", 8.5),
        ("ALIGN", (1, 0), (1, -1), "RIGHT"),
        ("ALIGN", (3, 0), (-1, -1), "RIGHT"),
        ("VALIGN", (0, 0), (-1, -1), "TOP"),
        ("LINEBELOW", (0, 0), (-1, 0), 0.8, INK),
        ("LINEBELOW", (0, 1), (-1, -1), 0.3, RULE),
        ("TOPPADDING", (0, 0), (-1, -1), 3),
        ("BOTTOMPADDING", (0, 0), (-1, -1), 3),
        ("LEFTPADDING", (0, 0), (0, -1), 0),
        ("RIGHTPADDING", (-1, 0), (-1, -1), 0),
    ]))
    return table


def _totals_table(totals: Totals, currency: str, styles, label: str = "") -> Table:
    rows = [[_("Net total"), fmt.money(totals.net, currency)]]
    for group in totals.tax_groups:
        rows.append([
            _("Tax %(rate)s on %(net)s") % {"rate": fmt.percent(group.rate), "net": fmt.number(group.net)},
            fmt.money(group.tax, currency),
        ])
    rows.append([label or _("Total"), fmt.money(totals.gross, currency)])
    table = Table(rows, colWidths=[60 * mm, 34 * mm], hAlign="RIGHT")
    table.setStyle(TableStyle([
        ("FONT", (0, 0), (-1, -1), "Helvetica", 9),
        ("TEXTCOLOR", (0, 1), (0, -2), MUTED),
        ("ALIGN", (1, 0), (1, -1), "RIGHT"),
        ("FONT", (0, -1), (-1, -1), "Helvetica-Bold", 10.5),
        ("LINEABOVE", (0, -1), (-1, -1), 0.8, INK),
        ("TOPPADDING", (0, 0), (-1, -1), 2),
        ("BOTTOMPADDING", (0, 0), (-1, -1), 2),
        ("RIGHTPADDING", (-1, 0), (-1, -1), 0),
    ]))
    return table


def proposal_pdf(proposal: Proposal) -> bytes:
    version = proposal.version
    with translation.override(version.language):
        return _build(proposal)


def _build(proposal: Proposal) -> bytes:
    version = proposal.version
    styles = _styles()
    buffer = BytesIO()
    title = _("Offer %(number)s") % {"number": str(version)}

    def footer(canvas, doc):
        canvas.saveState()
        canvas.setFont("Helvetica", 7.5)
        canvas.setFillColor(MUTED)
        canvas.drawString(MARGIN, 10 * mm, f"{proposal.company_name} · {title}")
        canvas.drawRightString(A4[0] - MARGIN, 10 * mm, _("Page %(page)s") % {"page": doc.page})
        canvas.restoreState()

    doc = SimpleDocTemplate(
        buffer, pagesize=A4, leftMargin=MARGIN, rightMargin=MARGIN, topMargin=MARGIN, bottomMargin=20 * mm,
        title=f"{title} – {proposal.title}", author=proposal.company_name, subject=proposal.title,
    )
    story = []
    head = Table([[_logo(proposal.company_logo), _para(proposal.company_name, styles["company"])]],
                 colWidths=[FRAME_WIDTH / 2, FRAME_WIDTH / 2])
    head.setStyle(TableStyle([("VALIGN", (0, 0), (-1, -1), "MIDDLE"), ("LEFTPADDING", (0, 0), (-1, -1), 0),
                              ("RIGHTPADDING", (0, 0), (-1, -1), 0), ("LINEBELOW", (0, 0), (-1, 0), 0.8, ACCENT),
                              ("BOTTOMPADDING", (0, 0), (-1, -1), 4 * mm)]))
    story += [head, Spacer(1, 7 * mm), _para(proposal.title, styles["title"])]

    issued = version.sent_at or timezone.now()
    facts = [
        (_("Offer"), str(version)),
        (_("For"), proposal.customer + (f", {proposal.contact}" if proposal.contact else "")),
        (_("Date"), date_format(timezone.localtime(issued).date(), "DATE_FORMAT")),
    ]
    if version.valid_until:
        facts.append((_("Valid until"), date_format(version.valid_until, "DATE_FORMAT")))
    facts_table = Table([[_para(k, styles["small"]), _para(v, styles["body"])] for k, v in facts],
                        colWidths=[28 * mm, FRAME_WIDTH - 28 * mm], hAlign="LEFT")
    facts_table.setStyle(TableStyle([("LEFTPADDING", (0, 0), (-1, -1), 0), ("TOPPADDING", (0, 0), (-1, -1), 1),
                                     ("BOTTOMPADDING", (0, 0), (-1, -1), 1), ("VALIGN", (0, 0), (-1, -1), "BASELINE")]))
    story.append(facts_table)

    if version.situation:
        story += [_para(_("Your situation"), styles["h2"]), *_paras(version.situation, styles["body"])]
    if version.benefit:
        story += [_para(_("What you gain"), styles["h2"]), *_paras(version.benefit, styles["body"])]

    currency = version.currency
    if proposal.packages:
        if proposal.common_lines:
            story += [_para(_("Included in every package"), styles["h2"]),
                      _lines_table(proposal.common_lines, currency, styles)]
        for view in proposal.packages:
            heading = view.package.name
            if view.package.is_recommended:
                heading += f"  ({_('recommended')})"
            block = [_para(heading, styles["h2"])]
            if view.package.description:
                block += _paras(view.package.description, styles["body"])
                block.append(Spacer(1, 2 * mm))
            if view.lines:
                block.append(_lines_table(view.lines, currency, styles))
            block += [Spacer(1, 2 * mm), _totals_table(view.totals, currency, styles,
                                                       _("Total %(package)s") % {"package": view.package.name})]
            story.append(KeepTogether(block))
    else:
        story += [_para(_("Items"), styles["h2"]), _lines_table(proposal.common_lines, currency, styles),
                  Spacer(1, 3 * mm), _totals_table(proposal.totals, currency, styles)]
    story.append(Spacer(1, 2 * mm))
    story.append(_para(_("All amounts in %(currency)s.") % {"currency": currency}, styles["small"]))

    if version.terms:
        story += [_para(_("Terms"), styles["h2"]), *_paras(version.terms, styles["body"])]

    response = proposal.acceptance
    if response is not None:
        when = date_format(timezone.localtime(response.at), "DATETIME_FORMAT")
        text = _("On %(when)s, %(name)s accepted this offer online.") % {"name": response.name, "when": when}
        if response.package_id:
            text += " " + _("Chosen package: %(package)s.") % {"package": response.package.name}
        story += [Spacer(1, 6 * mm), _para(text, styles["body"]),
                  _para(_("Document SHA-256: %(hash)s") % {"hash": response.document_hash}, styles["small"])]

    doc.build(story, onFirstPage=footer, onLaterPages=footer)
    return buffer.getvalue()
